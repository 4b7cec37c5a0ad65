// vgpu-proxy's control API (proto/vgpu_control.proto): per-pod registration
// with a quota, the pod's own socket serving guests, release on unregister.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { startProxy } from '../../devkit/proxy-process.js';
import { RING_CLIENT, requireRingClient } from '../channel/ring-client.js';
import { ControlClient } from '../../src/proxy-control-client.js';
import { spawnSync } from 'node:child_process';

t.test('control API', async (t) => {
  requireRingClient();
  const dir = mkdtempSync('/tmp/vgpu-ctl-');
  const control = path.join(dir, 'control.sock');
  const pods = path.join(dir, 'pods');
  const proxy = await startProxy({
    socket: path.join(dir, 'proxy.sock'),
    libcuda: path.join(dir, 'no-such-libcuda.so.1'),
    withoutGpu: true,
    logFile: path.join(dir, 'proxy.log'),
    extraArgs: ['--control-socket', control, '--pod-socket-dir', pods, '--guest-isolation', 'thread'],
  });
  for (let i = 0; i < 100 && !fs.existsSync(control); i++) await new Promise((r) => setTimeout(r, 50));
  const client = new ControlClient(control);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t.equal((fs.statSync(control).mode & 0o777).toString(8), '600', 'control socket is for root only');
  const reg = await client.registerPod('pod-a', 2 ** 30);
  t.equal(reg.socketPath, path.join(pods, 'pod-a', 'proxy.sock'), 'pod socket under --pod-socket-dir');
  t.ok(fs.statSync(reg.socketPath).isSocket(), 'the pod socket exists');
  t.same(await client.registerPod('pod-a', 2 ** 30), reg, 'registering again with the same quota is answered the same');
  await t.rejects(client.registerPod('pod-a', 2 ** 31), /registered with quota 1073741824, not 2147483648/, 'another quota for the same pod is refused');
  await t.rejects(client.registerPod('../escape', 0), /is not \[A-Za-z0-9\]/, 'a pod id that is not a plain name is refused');

  const r = spawnSync(RING_CLIENT, ['bulk', '4'], { env: { ...process.env, VGPU_PROXY_SOCKET: reg.socketPath, VGPU_ARENA_MIB: '2' }, encoding: 'utf8', timeout: 30000 });
  t.equal(r.status, 0, 'a guest on the pod socket is served', { output: r.stdout + r.stderr });
  t.match(r.stdout, /PASS bulk/);

  const list = await client.listPods();
  t.same(list.map((p) => [p.podId, p.memQuotaBytes]), [['pod-a', 2 ** 30]], 'ListPods shows the pod and its quota');

  t.equal(await client.setPodQuota('pod-a', 3 * 2 ** 30), 2 ** 30, 'SetPodQuota answers the previous quota');
  t.same((await client.listPods()).map((p) => p.memQuotaBytes), [3 * 2 ** 30], 'and ListPods shows the new one');
  await t.rejects(client.setPodQuota('pod-b', 2 ** 30), /pod pod-b is not registered/, 'SetPodQuota for a pod not registered is refused');
  const again = spawnSync(RING_CLIENT, ['bulk', '4'], { env: { ...process.env, VGPU_PROXY_SOCKET: reg.socketPath, VGPU_ARENA_MIB: '2' }, encoding: 'utf8', timeout: 30000 });
  t.equal(again.status, 0, 'a guest is served on the pod socket after the change', { output: again.stdout + again.stderr });

  t.equal(await client.unregisterPod('pod-a'), true, 'unregistered');
  t.notOk(fs.existsSync(reg.socketDir), 'the pod socket and its folder are gone');
  t.equal(await client.unregisterPod('pod-a'), false, 'unregistering again is harmless');
  t.same(await client.listPods(), [], 'no pod left');
  t.ok(proxy.alive(), 'the proxy still runs');
});
