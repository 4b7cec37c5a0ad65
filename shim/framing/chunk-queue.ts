// Bytes received from a stream, kept as the chunks they came in and joined
// only when a reader needs a contiguous piece: a large frame arriving in
// small pieces is copied once, not once per piece.  Both frame readers of
// the shim (ttrpc from containerd, the agent's frames from the pod VM) use it.
export class ChunkQueue {
  readonly #chunks: Buffer[] = [];
  #have = 0;

  /** Bytes held. */
  get length(): number {
    return this.#have;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#have += chunk.length;
  }

  /** The first n bytes as one buffer (n <= length), joining as few chunks as that takes. */
  front(n: number): Buffer {
    if (n > this.#have) throw new RangeError(`ChunkQueue.front(${n}) with only ${this.#have} bytes held`);
    if (this.#chunks[0]!.length < n) {
      let k = 0;
      let sum = 0;
      while (sum < n) sum += this.#chunks[k++]!.length;
      this.#chunks.splice(0, k, Buffer.concat(this.#chunks.slice(0, k), sum));
    }
    return this.#chunks[0]!.subarray(0, n);
  }

  /** Drops the first n bytes (n <= length), which front(n) returned. */
  consume(n: number): void {
    const first = this.#chunks[0]!;
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#have -= n;
  }
}
