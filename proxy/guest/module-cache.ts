// Module images shared by every guest, stored by the SHA-256 the proxy
// computes itself from the bytes: a guest can name an image (and learn that
// it is known), but never put bytes under a name they do not hash to.
// One file per image; written to a temporary name and renamed, so guest
// servers in other processes never read half an image.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

const NAME = /^[0-9a-f]{64}$/;

export class ModuleCache {
  #bytes = 0;

  constructor(readonly dir: string, readonly maxBytes: number, readonly log: Logger) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir)) if (NAME.test(f)) this.#bytes += statSync(join(dir, f)).size;
  }

  /** The image with this hash and size, or null. */
  lookup(sha256: Uint8Array, size: number): Buffer | null {
    const name = Buffer.from(sha256).toString('hex');
    try {
      const bytes = readFileSync(join(this.dir, name));
      return bytes.length === size ? bytes : null;
    } catch {
      return null;
    }
  }

  /** Stores an image under its own hash (no-op when known or when the cache is full). */
  store(image: Uint8Array): void {
    const name = createHash('sha256').update(image).digest('hex');
    const path = join(this.dir, name);
    try {
      statSync(path);
      return;
    } catch {
      // not cached yet
    }
    if (this.#bytes + image.length > this.maxBytes) {
      this.log.debug({ bytes: image.length, cached: this.#bytes, max: this.maxBytes }, 'module cache full: image not cached');
      return;
    }
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, image, { mode: 0o600 });
      renameSync(tmp, path);
      this.#bytes += image.length;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, dir: this.dir }, 'module cache write failed: images will be sent again');
    }
  }
}
