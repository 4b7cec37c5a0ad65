// Module and library images arrive in pieces (each piece through the arena)
// and are assembled here, in proxy-private memory, before the driver sees
// them: the guest cannot change an image while the driver reads it.
import * as C from '../native/libc.js';

export class Staging {
  #mem: C.NativeMemory | null = null;
  #len = 0;
  /** The staged image came from the module cache (it need not be stored again). */
  fromCache = false;

  constructor(readonly maxBytes: number) {}

  get length(): number {
    return this.#len;
  }

  /** Native address of the staged bytes (valid until the next append or reset). */
  get addr(): number {
    return this.#mem ? this.#mem.addr : 0;
  }

  reset(): void {
    this.#len = 0;
    this.fromCache = false;
  }

  /** Stages a whole image from the module cache. */
  replace(image: Uint8Array): boolean {
    this.reset();
    if (!this.append(image)) return false;
    this.fromCache = true;
    return true;
  }

  /** The staged bytes (valid until the next change). */
  view(): Uint8Array {
    return this.#mem ? this.#mem.u8.subarray(0, this.#len) : new Uint8Array(0);
  }

  /** Appends bytes; false when the image would exceed maxBytes. */
  append(bytes: Uint8Array): boolean {
    const need = this.#len + bytes.length;
    if (need > this.maxBytes) return false;
    if (!this.#mem || need > this.#mem.size) {
      let size = Math.max(1 << 20, this.#mem ? this.#mem.size * 2 : 0);
      while (size < need) size *= 2;
      const grown = C.allocScratch(Math.min(size, Math.max(need, this.maxBytes)));
      if (this.#mem) {
        grown.u8.set(this.#mem.u8.subarray(0, this.#len));
        C.munmap(this.#mem.addr, this.#mem.size);
      }
      this.#mem = grown;
    }
    this.#mem.u8.set(bytes, this.#len);
    this.#len = need;
    return true;
  }

  /** The staged bytes followed by a NUL (PTX images are C strings); false when over the limit. */
  terminate(): boolean {
    if (!this.append(new Uint8Array(1))) return false;
    this.#len--;
    return true;
  }

  release(): void {
    if (this.#mem) C.munmap(this.#mem.addr, this.#mem.size);
    this.#mem = null;
    this.#len = 0;
  }
}
