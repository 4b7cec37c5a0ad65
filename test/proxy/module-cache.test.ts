import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { ModuleCache } from '../../proxy/guest/module-cache.js';

const log = pino({ level: 'silent' });
const sha = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest();

t.test('images are found by the hash of their bytes, and only by it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-cache-'));
  const cache = new ModuleCache(dir, 1 << 20, log);
  const image = Buffer.from('\x7fELF a cubin, or so');
  t.equal(cache.lookup(sha(image), image.length), null, 'unknown at first');
  cache.store(image);
  t.same(cache.lookup(sha(image), image.length), image, 'found by its hash');
  t.equal(cache.lookup(sha(image), image.length + 1), null, 'a wrong size finds nothing');
  // A guest cannot put bytes under another image's name: the proxy names what it stores.
  const poison = Buffer.from('evil bytes');
  cache.store(poison);
  t.same(cache.lookup(sha(image), image.length), image, 'still the real image');
  t.same(cache.lookup(sha(poison), poison.length), poison);
  t.equal(readdirSync(dir).length, 2);
  const again = new ModuleCache(dir, 1 << 20, log);
  t.same(again.lookup(sha(image), image.length), image, 'shared with another guest server');
});

t.test('a full cache stores nothing more', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-cache-'));
  const cache = new ModuleCache(dir, 16, log);
  const big = Buffer.alloc(17, 1);
  cache.store(big);
  t.equal(cache.lookup(sha(big), big.length), null);
});
