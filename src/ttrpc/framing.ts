// ttrpc's frame: a 10-byte header, then the message.
//
//   0        4        8    9    10
//   +--------+--------+----+----+-------------
//   | length | stream |type|flag| message (length bytes, protobuf)
//   +--------+--------+----+----+-------------
//   length, stream: big-endian uint32.  Clients use odd stream ids, one per
//   call.  type: 1 request, 2 response, 3 data (streams; not used here).
export const HEADER_SIZE = 10;
export const MAX_MESSAGE = 4 << 20;

export const enum FrameType {
  Request = 1,
  Response = 2,
  Data = 3,
}

export interface Frame {
  stream: number;
  type: number;
  flags: number;
  payload: Buffer;
}

export function encodeFrame(stream: number, type: FrameType, payload: Buffer, flags = 0): Buffer {
  if (payload.length > MAX_MESSAGE) throw new Error(`ttrpc: message of ${payload.length} bytes is over the ${MAX_MESSAGE}-byte limit`);
  const head = Buffer.alloc(HEADER_SIZE);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(stream >>> 0, 4);
  head.writeUInt8(type, 8);
  head.writeUInt8(flags, 9);
  return Buffer.concat([head, payload]);
}

/**
 * Splits a byte stream into frames; push() returns the whole frames received
 * so far.  Chunks are kept as they came and joined once a frame is whole, so a
 * large frame arriving in small pieces is copied once, not once per piece.
 */
export class FrameReader {
  readonly #chunks: Buffer[] = [];
  #have = 0;

  /** Bytes held for frames not yet whole (at most HEADER_SIZE + MAX_MESSAGE + one chunk). */
  get buffered(): number {
    return this.#have;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#have += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.#have >= HEADER_SIZE) {
      const length = this.#front(HEADER_SIZE).readUInt32BE(0);
      if (length > MAX_MESSAGE) throw new Error(`ttrpc: peer sent a frame of ${length} bytes, over the ${MAX_MESSAGE}-byte limit`);
      if (this.#have < HEADER_SIZE + length) break;
      const whole = this.#front(HEADER_SIZE + length);
      frames.push({
        stream: whole.readUInt32BE(4),
        type: whole.readUInt8(8),
        flags: whole.readUInt8(9),
        payload: whole.subarray(HEADER_SIZE, HEADER_SIZE + length),
      });
      this.#consume(HEADER_SIZE + length);
    }
    return frames;
  }

  /** The first chunk, made to hold at least n bytes by joining as few chunks as that takes (n <= #have). */
  #front(n: number): Buffer {
    if (this.#chunks[0]!.length < n) {
      let k = 0;
      let sum = 0;
      while (sum < n) sum += this.#chunks[k++]!.length;
      this.#chunks.splice(0, k, Buffer.concat(this.#chunks.slice(0, k), sum));
    }
    return this.#chunks[0]!;
  }

  #consume(n: number): void {
    const first = this.#chunks[0]!;
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#have -= n;
  }
}
