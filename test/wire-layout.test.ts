// The TypeScript wire layout is what the C compiler makes of vgpu_wire.h.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { repoPath } from '../devkit/repo-root.js';

t.test('proxy/wire/layout.ts matches vgpu/include/vgpu_wire.h', async (t) => {
  const r = spawnSync('python3', [repoPath('tools', 'gen-wire-layout.py'), '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, 'exits 0', { output: r.stderr });
  t.match(r.stdout, /wire layout up to date/);
});

t.test('proxy/wire/cuda-abi.ts matches the CUDA 13.0 cuda.h', async (t) => {
  const r = spawnSync('python3', [repoPath('tools', 'gen-cuda-abi.py'), '--check'], { encoding: 'utf8' });
  t.equal(r.status, 0, 'exits 0', { output: r.stderr });
  t.match(r.stdout, /cuda abi up to date/);
});
