// Faults: containerd restarted while pods run (they stay managed); the shim
// killed (containerd's cleanup runs the shim's `delete`, and no process,
// mount or vgpu-proxy registration is left behind); a bad bundle, an unknown
// option and the xen backend on a host without Xen give clear errors in
// containerd's log.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BUSYBOX_IMAGE, containerdBinaries, whyNotContainerd } from '../../devkit/containerd-env.js';
import { containerConfig, leftovers, podConfig, startVgpuEnv } from './cri-helpers.js';

t.setTimeout(300_000);
const why = whyNotContainerd();

function shimPid(podId: string): number {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  const line = ps.split('\n').find((l) => l.includes('daemon.js') && l.includes(`-id ${podId}`));
  return line ? Number(line.trim().split(/\s+/)[0]) : 0;
}

async function until(what: string, check: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const { name, bin } of containerdBinaries()) t.test(`faults (${name})`, { skip: why || false }, async (t) => {
  const { env, control } = await startVgpuEnv(t, {
    containerd: bin,
    extraRuntimes: {
      'xen-cri-unknown-option': { backend: 'process', stateDir: '/tmp/unused', colour: 'blue' },
      'xen-cri-xen': { backend: 'xen' },
    },
  });

  t.test('containerd restarted while a pod runs: the pod stays managed', async (t) => {
    const pod = podConfig(env.dir, 'restart');
    const pid = env.crictl(['runp', '--runtime', 'xen-cri', pod]).trim();
    const cid = env.crictl(['create', pid, containerConfig(env.dir, 'restart', BUSYBOX_IMAGE, ['sh', '-c', 'echo before; sleep 300']), pod]).trim();
    env.crictl(['start', cid]);
    const shim = shimPid(pid);
    t.ok(shim > 0, `shim ${shim} serves the pod`);
    await env.stopContainerd();
    await env.startContainerd();
    t.equal(shimPid(pid), shim, 'the same shim still runs');
    t.match(env.crictl(['ps', '--id', cid]), /Running/, 'the container is still Running');
    t.match(env.crictl(['exec', '--sync', cid, 'echo', 'after-restart']), /after-restart/, 'exec works through the restarted containerd');
    env.crictl(['stop', '--timeout', '0', cid]);
    t.equal(JSON.parse(env.crictl(['inspect', cid])).status.exitCode, 137, 'its exit (SIGKILL, 137) reaches the new containerd');
    env.crictl(['rm', cid]);
    env.crictl(['stopp', pid]);
    env.crictl(['rmp', pid]);
    t.same(await leftovers(env, pid), [], 'nothing left');
  });

  t.test('the shim killed: containerd cleans up through delete', async (t) => {
    const pod = podConfig(env.dir, 'killed', { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '512M' });
    const pid = env.crictl(['runp', '--runtime', 'xen-cri', pod]).trim();
    const cid = env.crictl(['create', pid, containerConfig(env.dir, 'killed', BUSYBOX_IMAGE, ['sleep', '3001']), pod]).trim();
    env.crictl(['start', cid]);
    t.equal((await control.listPods()).length, 1, 'the GPU pod is registered');
    const shim = shimPid(pid);
    process.kill(shim, 'SIGKILL');
    await until('the container to be seen exited', () => /Exited/.test(env.crictl(['ps', '-a', '--id', cid])));
    t.pass('containerd saw the container exit');
    await until('the container process to go', () => !execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes('sleep 3001'));
    t.pass('no container process is left');
    let regs = await control.listPods();
    for (let i = 0; i < 50 && regs.length; i++) {
      await new Promise((r) => setTimeout(r, 200));
      regs = await control.listPods();
    }
    t.same(regs, [], "delete released the pod's vgpu-proxy registration");
    t.match(env.containerdLog(), /cleaning up dead shim/, "containerd ran the shim's cleanup");
    env.crictl(['rm', cid]);
    env.crictl(['stopp', pid]);
    // containerd 2.x can answer the first removal after a shim death with "ttrpc: closed" while it
    // still tears the dead connection down; kubelet retries RemovePodSandbox, and so do we.
    let removed = env.crictlResult(['rmp', pid]);
    for (let i = 0; i < 10 && removed.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      removed = env.crictlResult(['rmp', pid]);
    }
    t.equal(removed.code, 0, 'the pod is removed (kubelet-style retries)', { stderr: removed.stderr });
    t.same(await leftovers(env, pid), [], 'no process, mount or runc state left');
  });

  t.test('a bad bundle: a clear error in containerd log', async (t) => {
    const pod = podConfig(env.dir, 'badbundle');
    const pid = env.crictl(['runp', '--runtime', 'xen-cri', pod]).trim();
    const r = env.crictlResult(['create', pid, containerConfig(env.dir, 'bad', BUSYBOX_IMAGE, ['/no/such/program']), pod]);
    let out = r.stderr;
    if (r.code === 0) out = env.crictlResult(['start', r.stdout.trim()]).stderr;
    t.match(out, /no\/such\/program.*no such file or directory/, 'create or start fails naming the missing program');
    t.match(env.containerdLog(), /level=error.*no\/such\/program/, 'and containerd logged it');
    env.crictlResult(['rm', '-f', r.stdout.trim()]);
    env.crictl(['stopp', pid]);
    env.crictl(['rmp', pid]);
    t.same(await leftovers(env, pid), [], 'nothing left');
  });

  t.test('an unknown option: a clear error in containerd log', async (t) => {
    const r = env.crictlResult(['runp', '--runtime', 'xen-cri-unknown-option', podConfig(env.dir, 'unknownopt')]);
    t.not(r.code, 0, 'runp fails');
    const msg = /unknown option \\?"colour\\?"/;
    t.match(r.stderr, msg, 'crictl shows the unknown option');
    t.match(env.containerdLog(), /level=error.*unknown option \\"colour\\"/, "containerd's log names it");
  });

  t.test('backend xen on a host without Xen: a clear error', { skip: fs.existsSync('/proc/xen/capabilities') ? 'this host runs on Xen' : false }, async (t) => {
    const r = env.crictlResult(['runp', '--runtime', 'xen-cri-xen', podConfig(env.dir, 'xen')]);
    t.not(r.code, 0, 'runp fails');
    t.match(r.stderr, /backend xen: this host is not running on Xen/, 'saying why');
    t.match(env.containerdLog(), /level=error.*backend xen: this host is not running on Xen/, "in containerd's log too");
  });
});

void path;
