// libvgpu exports exactly the real driver's 682 functions, and cuGetProcAddress
// answers as driver 580 does (the checks live in vgpu/tests/test_procaddr.c).
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';

t.test('exports and cuGetProcAddress', async (t) => {
  const r = spawnSync(repoPath('build', 'vgpu-tests', 'test_procaddr'), [repoPath('build', 'lib', 'libvgpu.so'), repoPath('vgpu', 'gen', 'libcuda-580.159.04-exports.txt')], { encoding: 'utf8' });
  t.equal(r.status, 0, 'exits 0', { output: r.stdout + r.stderr });
  const m = /^(PASS|FAIL): (\d+) checks, (\d+) failed/m.exec(r.stdout);
  t.ok(m, 'prints its summary', { output: r.stdout });
  t.equal(m?.[3], '0', 'no check failed', { output: r.stdout });
  t.ok(Number(m?.[2]) >= 40, 'the whole table was checked');
});
