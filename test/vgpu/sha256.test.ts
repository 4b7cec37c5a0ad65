// libvgpu names module images by SHA-256: both its ways of computing it (the
// system libcrypto, and its own portable code) agree with Node's.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';

const TOOL = repoPath('build', 'vgpu-tests', 'sha256_check');
const inputs = [Buffer.alloc(0), Buffer.from('abc'), Buffer.alloc(55, 1), Buffer.alloc(56, 2), Buffer.alloc(64, 3), randomBytes(1_000_003)];

for (const portable of [false, true]) {
  t.test(portable ? 'portable code' : 'libcrypto when present', async (t) => {
    for (const input of inputs) {
      const env = { ...process.env, ...(portable ? { VGPU_SHA256_PORTABLE: '1' } : {}) };
      const r = spawnSync(TOOL, [], { input, env, encoding: 'utf8' });
      t.equal(r.stdout.trim(), createHash('sha256').update(input).digest('hex'), `${input.length} bytes`);
    }
  });
}
