// vgpu-device-plugin against a kubelet-compatible Registration server (the
// real v1beta1 .proto): it registers its resource and endpoint, ListAndWatch
// reports one unit per --unit of the memory left after --reserve (Unhealthy
// until vgpu-proxy's control API answers), Allocate answers the annotations
// the shim reads, a restarted kubelet (kubelet.sock recreated, the folder
// emptied) gets it registered again, and SIGTERM stops it cleanly.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startProxy } from '../../devkit/proxy-process.js';
import { gpuRequest } from '../../src/gpu-annotations.js';
import { FakeKubelet, PluginProcess, until } from './kubelet-side.js';

t.test('device plugin and a kubelet', async (t) => {
  const dir = fs.mkdtempSync('/tmp/vgpu-dp-');
  const plugins = path.join(dir, 'device-plugins');
  fs.mkdirSync(plugins);
  const control = path.join(dir, 'control.sock');
  const kubelet = new FakeKubelet(plugins);
  await kubelet.start();
  // 4 GiB, 1 GiB kept back, 256 MiB units: 12 devices
  const plugin = new PluginProcess(['--gpu-memory', '4Gi', '--reserve', '1Gi', '--unit', '256Mi', '--socket-dir', plugins, '--control-socket', control, '--interval-ms', '100', '--log-level', 'debug'], path.join(dir, 'plugin.log'));
  let proxy: Awaited<ReturnType<typeof startProxy>> | null = null;
  const clients: { close(): void }[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await plugin.stop();
    await proxy?.stop();
    await kubelet.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const reg = await until('Register', () => kubelet.registers[0], 15_000).catch((err) => {
    throw new Error(`${err.message}; plugin log:\n${plugin.logText()}`);
  });
  t.same(reg, { version: 'v1beta1', endpoint: 'xen-cri-vgpu.sock', resource_name: 'xen-cri.io/vgpu-memory', options: { pre_start_required: false, get_preferred_allocation_available: true } }, 'Register names the API version, the endpoint and the resource');
  t.ok(fs.statSync(path.join(plugins, reg.endpoint)).isSocket(), 'the endpoint is a socket in the kubelet folder');

  const k = kubelet.pluginClient(reg.endpoint);
  clients.push(k);
  t.same(await k.call('GetDevicePluginOptions', {}), { pre_start_required: false, get_preferred_allocation_available: true }, 'GetDevicePluginOptions');
  k.watch();
  const first = await until('ListAndWatch', () => k.lists[0]);
  t.equal(first.devices.length, 12, '(4 GiB - 1 GiB) / 256 MiB = 12 devices');
  t.same(first.devices.map((d: any) => d.ID).slice(0, 3), ['gpu0-mem-0', 'gpu0-mem-1', 'gpu0-mem-2'], 'one device id per unit');
  t.ok(first.devices.every((d: any) => d.health === 'Unhealthy'), 'Unhealthy while vgpu-proxy does not answer');

  proxy = await startProxy({ socket: path.join(dir, 'proxy.sock'), libcuda: path.join(dir, 'no-libcuda.so.1'), withoutGpu: true, logFile: path.join(dir, 'proxy.log'), extraArgs: ['--control-socket', control, '--pod-socket-dir', path.join(dir, 'pods'), '--guest-isolation', 'thread'] });
  const healthy = await until('a Healthy list', () => k.lists.find((l) => l.devices.every((d: any) => d.health === 'Healthy')));
  t.equal(healthy.devices.length, 12, 'ListAndWatch sends the list again, Healthy, once vgpu-proxy answers');

  const alloc = await k.call('Allocate', { container_requests: [{ devices_ids: ['gpu0-mem-3', 'gpu0-mem-7', 'gpu0-mem-11'] }, { devices_ids: ['gpu0-mem-0'] }] });
  t.same(alloc.container_responses.map((r: any) => r.annotations), [
    { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '768Mi' },
    { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '256Mi' },
  ], 'Allocate: for N units, the vGPU annotations with N x 256Mi, per container');
  t.same(gpuRequest(alloc.container_responses[0].annotations), { memQuota: 768 * 2 ** 20 }, "which the shim's parser reads as 768 MiB");
  await t.rejects(k.call('Allocate', { container_requests: [{ devices_ids: ['gpu0-mem-12'] }] }), { code: grpc.status.INVALID_ARGUMENT }, 'a unit the plugin does not have is refused');
  await t.rejects(k.call('Allocate', { container_requests: [{ devices_ids: ['gpu0-mem-1', 'gpu0-mem-1'] }] }), { code: grpc.status.INVALID_ARGUMENT }, 'and a unit named twice');

  const pref = await k.call('GetPreferredAllocation', { container_requests: [{ available_deviceIDs: ['gpu0-mem-9', 'gpu0-mem-10', 'gpu0-mem-2', 'gpu0-mem-5'], must_include_deviceIDs: ['gpu0-mem-10'], allocation_size: 3 }] });
  t.same(pref.container_responses[0].deviceIDs, ['gpu0-mem-10', 'gpu0-mem-2', 'gpu0-mem-5'], 'GetPreferredAllocation: the must-include units, then the lowest');
  t.same(await k.call('PreStartContainer', { devices_ids: ['gpu0-mem-0'] }), {}, 'PreStartContainer answers');

  // kubelet.sock recreated alone: registered again, on the same socket.
  const ino = fs.statSync(path.join(plugins, reg.endpoint)).ino;
  await kubelet.stop();
  await kubelet.start();
  await until('Register on the new kubelet.sock', () => kubelet.registers[1], 15_000);
  t.equal(fs.statSync(path.join(plugins, reg.endpoint)).ino, ino, 'kubelet.sock recreated: registered again, its socket kept');

  // A kubelet that restarts empties the folder (the plugin's socket too) and listens anew.
  const before = kubelet.registers.length;
  await kubelet.restart();
  const again = await until('Register after the kubelet restarted', () => kubelet.registers[before], 15_000);
  t.equal(again.resource_name, 'xen-cri.io/vgpu-memory', 'the plugin registered again with the new kubelet.sock');
  await until('the ended stream', () => k.ended);
  t.ok(k.ended, "the old kubelet's ListAndWatch stream was ended");
  const k2 = kubelet.pluginClient(again.endpoint);
  clients.push(k2);
  k2.watch();
  t.equal((await until('ListAndWatch after the restart', () => k2.lists[0])).devices.length, 12, 'and serves its endpoint again');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(kubelet.registers.length, before + 1, 'once per kubelet.sock');

  t.equal(await plugin.stop(), 0, 'SIGTERM: the plugin exits 0');
  t.notOk(fs.existsSync(path.join(plugins, again.endpoint)), 'its socket is removed');
  await until('the stream to end', () => k2.ended);
  t.ok(k2.ended, 'and its ListAndWatch stream ended');
  const lines = plugin.logText().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  t.ok(lines.every((l) => l.service === 'vgpu-device-plugin' && typeof l.level === 'number'), 'logs are pino JSON lines');
  t.ok(lines.some((l) => l.msg === 'registered with the kubelet'), 'registration logged');
});
