// The IDM channel's xen transport under real Xen (QEMU, software emulation):
// pod VMs running libvgpu's channel code (ring_client, static) against
// vgpu-proxy --xen in dom0, over granted pages and event channels.  The
// same proxy serves a shm guest (ring_client in dom0) meanwhile: one serve
// loop, two transports.  No GPU under QEMU: the diagnostic ops only.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';
import { buildNode, runInDom0, whyNotQemuNode } from './qemu-node.js';

const why = whyNotQemuNode();
t.setTimeout(1_500_000);

t.test('xen transport between pod VMs and vgpu-proxy in dom0', { skip: why || false }, async (t) => {
  const tb = performance.now();
  buildNode();
  const buildMs = performance.now() - tb;
  const run = await runInDom0('idm', readFileSync(repoPath('test', 'xen', 'dom0', 'idm.sh'), 'utf8'), { timeoutS: 1200 });
  t.comment(`build ${(buildMs / 1000).toFixed(1)} s, boot-to-poweroff ${(run.bootMs / 1000).toFixed(1)} s`);
  for (const [k, v] of run.timings) t.comment(`timing ${k}: ${v} ms`);
  if (run.rc !== 0 && run.results.length === 0) {
    t.fail(`the job in dom0 did not run (rc ${run.rc})`, { serial: run.serialTail(40), output: run.output.slice(-4000) });
    return;
  }
  const want = ['shm-guest', 'rendezvous-perms', 'destroyed-mid-call-cleanup', 'destroyed-no-zombie', 'bystander', 'unmarked-refused'];
  for (const name of want) {
    const r = run.results.find((x) => x.name === name);
    t.ok(r?.ok, `${name}${r ? `: ${r.detail}` : ': no result'}`, { output: r?.ok ? undefined : run.output.slice(-3000) });
  }
  for (const r of run.results.filter((x) => !want.includes(x.name))) t.ok(r.ok, `${r.name}: ${r.detail}`);
  // What the guest's ring_client printed, case by case.
  const guest = [...run.output.matchAll(/^GUEST (PASS|FAIL) (.*)$/gm)].map((m) => ({ ok: m[1] === 'PASS', line: m[2]! }));
  const expect = [
    /^order: 200 rounds/,
    /^wrap: 3000 requests/,
    /^bulk: 24 MiB through a 4 MiB arena .* every byte checked/,
    /^threads: 4 threads x 100/,
    ...['arena-out-of-range', 'arena-too-long', 'unknown-op', 'short-payload', 'stall-too-long', 'foreign-handle'].map((c) => new RegExp(`^hostile ${c}: answered \\d+, channel still serves`)),
    ...['bad-length', 'length-past-tail', 'tail-beyond-ring', 'garbage', 'unread-answers'].map((c) => new RegExp(`^hostile ${c}:`)),
    // Each lie refused with its own code (a guest server that crashed instead would say handover_failed).
    ...Object.entries({ 'foreign-ref': 'bad_grant', 'reserved-ref': 'bad_grant', 'duplicate-ref': 'bad_grant', 'readonly-ref': 'bad_grant',
      'short-region': 'bad_layout', 'huge-region': 'bad_offer', 'bad-dir-ref': 'bad_grant', 'bad-port': 'bad_event_channel' })
      .map(([c, code]) => new RegExp(`^xen-lie ${c}: vgpu-proxy refused the channel: refused ${code}: `)),
    /^order: 50 rounds/,
  ];
  for (const re of expect) {
    const hit = guest.find((g) => re.test(g.line));
    t.ok(hit?.ok, `guest: ${hit ? hit.line : `${re.source} (not printed)`}`);
  }
  t.notOk(guest.some((g) => !g.ok), 'no guest case failed', { failed: guest.filter((g) => !g.ok).map((g) => g.line) });
  // The proxy: every xen guest went through the same serve loop as the shm one, and each ended released.
  const log = run.file('proxy.log');
  t.match(log, /"transport":"shm"[^\n]*"msg":"guest connected"/, 'the shm guest was served');
  t.match(log, /"transport":"xen"[^\n]*"msg":"guest connected"/, 'xen guests were served');
  t.notMatch(log, /guest server process died/, 'no guest server crashed');
});
