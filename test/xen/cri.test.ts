// The xen backend end to end, under real Xen (QEMU, software emulation): in
// dom0, containerd with the xen-cri shim (backend xen), driven by crictl:
// the pod is a DomU while it lives and not after; a container from an image
// this repository builds runs in it, its logs reach crictl, exec --sync
// returns output and exit code, crictl stats reads its CPU and memory, stop and removal release the pod VM and its
// disks.  Prints the pod start, container start and pod removal times.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';
import { buildNode, runInDom0, whyNotQemuNode } from './qemu-node.js';

t.setTimeout(1_500_000);
const why = whyNotQemuNode() || (fs.existsSync(repoPath('dist', 'shim', 'main.js')) ? '' : 'the shim is not built (dist/shim/main.js)');

t.test('crictl against containerd + xen-cri (backend xen) in dom0', { skip: why || false }, async (t) => {
  // The images go onto the payload disk: build them first.
  const images = repoPath('build', 'test-images');
  if (!fs.existsSync(`${images}/busybox/index.json`) || !fs.existsSync(`${images}/pause/index.json`)) {
    execFileSync('bash', [repoPath('tools', 'build-test-images.sh'), images], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  buildNode();
  const run = await runInDom0('cri', readFileSync(repoPath('test', 'xen', 'dom0', 'cri.sh'), 'utf8'), { timeoutS: 1200 });
  t.comment(`boot-to-poweroff ${(run.bootMs / 1000).toFixed(1)} s`);
  for (const k of ['pod-start', 'container-create', 'container-start-only', 'container-start', 'exec-sync', 'container-stop', 'pod-remove', 'shim-killed-to-domu-gone', 'image-import']) {
    if (run.timings.has(k)) t.comment(`timing ${k}: ${run.timings.get(k)} ms`);
  }
  if (run.results.length === 0) {
    t.fail(`the job in dom0 did not run (rc ${run.rc})`, { serial: run.serialTail(40), output: run.output.slice(-4000) });
    return;
  }
  const want = ['runp', 'domu-while-pod-lives', 'start', 'logs', 'own-pid-namespace', 'exec-output', 'exec-exit-0', 'exec-exit-code', 'stats', 'container-exit-code', 'agent-survives-crash', 'stop', 'stopped-state', 'rm', 'rmp',
    'domu-gone-after-rmp', 'loops-released', 'writable-layers-removed', 'domu-gone-after-shim-killed'];
  for (const name of want) {
    const r = run.results.find((x) => x.name === name);
    t.ok(r?.ok, `${name}${r ? `: ${r.detail}` : ': no result'}`, r?.ok ? {} : { output: run.output.slice(-3000), containerd: run.file('containerd.log').split('\n').filter((l) => /error|xen/i.test(l)).slice(-15).join('\n') });
  }
  for (const r of run.results.filter((x) => !want.includes(x.name))) t.ok(r.ok, `${r.name}: ${r.detail}`);
});
