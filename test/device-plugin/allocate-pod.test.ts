// End to end: the device plugin's Allocate answer, put on a container config
// as kubelet puts it, starts a GPU container through crictl in a pod that
// asked for nothing itself; the pod's quota, as vgpu-proxy sees it, is what
// was allocated.  A second container allocated more raises it; a container
// without an allocation gets no vGPU; a pod's own larger quota is kept.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUSYBOX_IMAGE, containerdBinaries, whyNotContainerd } from '../../devkit/containerd-env.js';
import { containerConfig, podConfig, startVgpuEnv } from '../shim/cri-helpers.js';
import { FakeKubelet, PluginProcess, until } from './kubelet-side.js';

const MIB = 2 ** 20;

t.setTimeout(300_000);
const why = whyNotContainerd();
for (const { name, bin } of containerdBinaries()) t.test(`device plugin allocation starts a GPU container (${name})`, { skip: why || false }, async (t) => {
  const { env, control } = await startVgpuEnv(t, { containerd: bin });
  const plugins = path.join(env.dir, 'device-plugins');
  fs.mkdirSync(plugins);
  const kubelet = new FakeKubelet(plugins);
  await kubelet.start();
  const plugin = new PluginProcess(['--gpu-memory', '8Gi', '--unit', '256Mi', '--socket-dir', plugins, '--control-socket', env.controlSocket, '--interval-ms', '100'], path.join(env.dir, 'plugin.log'));
  t.teardown(async () => {
    await plugin.stop();
    await kubelet.stop();
  });
  const reg = await until('Register', () => kubelet.registers[0], 15_000);
  const k = kubelet.pluginClient(reg.endpoint);
  t.teardown(() => k.close());
  k.watch();
  const list = await until('a Healthy list', () => k.lists.find((l) => l.devices.every((d: any) => d.health === 'Healthy')));
  t.equal(list.devices.length, 32, '8 GiB in 256 MiB units');

  const allocate = async (ids: string[]): Promise<Record<string, string>> => (await k.call('Allocate', { container_requests: [{ devices_ids: ids }] })).container_responses[0].annotations;
  const three = await allocate(list.devices.slice(0, 3).map((d: any) => d.ID));
  t.same(three, { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '768Mi' }, 'Allocate for 3 units');

  const pod = podConfig(env.dir, 'dp');
  const pid = env.crictl(['runp', '--runtime', 'xen-cri', pod]).trim();
  t.same(await control.listPods(), [], 'a pod without vGPU annotations is not registered at RunPodSandbox');

  // CRI's CreateContainer only records the container: the shim sees it (Task Create) at StartContainer.
  const cid = env.crictl(['create', pid, containerConfig(env.dir, 'cuda', BUSYBOX_IMAGE, ['sleep', '300'], three), pod]).trim();
  env.crictl(['start', cid]);
  t.same((await control.listPods()).map((p) => [p.podId, p.memQuotaBytes]), [[pid, 768 * MIB]], "the container's allocation registered the pod with vgpu-proxy: 3 x 256 MiB");
  t.same((await control.listPods()).map((p) => [p.namespace, p.name, p.uid]), [['default', 'dp', 'uid-dp']], "with the pod's Kubernetes names");
  const look = env.crictlResult(['exec', '--sync', cid, 'sh', '-c', 'readlink /usr/local/xen-cri/vgpu/lib/libcuda.so.1; echo SOCK=$VGPU_PROXY_SOCKET; test -S /run/vgpu/proxy.sock && echo socket-ok']);
  t.equal(look.code, 0, 'exec in the allocated container', { stderr: look.stderr });
  t.match(look.stdout, /^libvgpu\.so$/m, 'it has libvgpu as libcuda.so.1');
  t.match(look.stdout, /^SOCK=\/run\/vgpu\/proxy\.sock$/m, 'and the pod socket in VGPU_PROXY_SOCKET');
  t.match(look.stdout, /^socket-ok$/m, "and the pod's proxy socket");

  const four = await allocate(list.devices.slice(3, 7).map((d: any) => d.ID));
  const c2 = env.crictl(['create', pid, containerConfig(env.dir, 'cuda2', BUSYBOX_IMAGE, ['sleep', '300'], four), pod]).trim();
  env.crictl(['start', c2]);
  t.same((await control.listPods()).map((p) => p.memQuotaBytes), [1024 * MIB], 'a second container allocated 4 units raised the quota to 1 GiB');
  const plainCid = env.crictl(['create', pid, containerConfig(env.dir, 'sidecar', BUSYBOX_IMAGE, ['sleep', '300']), pod]).trim();
  env.crictl(['start', plainCid]);
  const none = env.crictlResult(['exec', '--sync', plainCid, 'sh', '-c', 'ls /usr/local/xen-cri 2>&1; echo SOCK=$VGPU_PROXY_SOCKET']);
  t.match(none.stdout, /No such file/, 'a container of that pod without an allocation gets no vGPU');
  t.match(none.stdout, /^SOCK=$/m, 'nor a proxy socket');
  const one = await allocate([list.devices[7].ID]);
  env.crictl(['start', env.crictl(['create', pid, containerConfig(env.dir, 'cuda3', BUSYBOX_IMAGE, ['sleep', '300'], one), pod]).trim()]);
  t.same((await control.listPods()).map((p) => p.memQuotaBytes), [1024 * MIB], 'a smaller allocation does not lower it');
  env.crictl(['rm', '-f', c2]);

  // A pod that asked for 2G itself keeps it when a container of it was allocated less.
  const gpuPod = podConfig(env.dir, 'own', { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '2G' });
  const own = env.crictl(['runp', '--runtime', 'xen-cri', gpuPod]).trim();
  env.crictl(['start', env.crictl(['create', own, containerConfig(env.dir, 'own-cuda', BUSYBOX_IMAGE, ['sleep', '300'], three), gpuPod]).trim()]);
  t.same((await control.listPods()).find((p) => p.podId === own)?.memQuotaBytes, 2 * 2 ** 30, "the pod's own 2 GiB stays");

  for (const p of [pid, own]) {
    env.crictl(['stopp', p]);
    env.crictl(['rmp', p]);
  }
  t.same(await control.listPods(), [], 'removing the pods released their registrations');
});
