// libvgpu's parallel copy (vgpu/src/copy/pcopy.c) copies exactly what memcpy does,
// with no helpers, with a few and with more than the copy has slices, from
// several threads at once and in a forked child; and it starts the helpers asked for.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';

const TOOL = repoPath('build', 'vgpu-tests', 'pcopy_check');

for (const threads of [1, 2, 4, 16]) {
  t.test(`VGPU_COPY_THREADS=${threads}`, async (t) => {
    const env = { ...process.env, VGPU_COPY_THREADS: String(threads), VGPU_LOG: 'info' };
    const r = spawnSync(TOOL, [], { env, encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 0, `exit status (stderr: ${r.stderr.trim().slice(-400)})`);
    t.match(r.stdout, /^pcopy: \d+ copies ok$/m);
    const started = [...r.stderr.matchAll(/event=copy_helpers started=(\d+)/g)].map((m) => Number(m[1]));
    if (threads === 1) t.same(started, [], 'no helpers');
    // Once in the parent, once in the forked child.
    else t.same(started, [threads - 1, threads - 1], `${threads - 1} helpers started in the parent and in the child`);
  });
}
