// A pod that asks for a vGPU by annotation (xen-cri.io/vgpu, passed by
// containerd's pod_annotations) gets libvgpu as libcuda.so.1 and its own
// vgpu-proxy socket in every container, registered with its quota and its
// Kubernetes names; removing the pod releases the registration.  A pod that
// asks for none gets nothing.
import t from 'tap';
import { BUSYBOX_IMAGE, containerdBinaries, whyNotContainerd } from '../../devkit/containerd-env.js';
import { containerConfig, podConfig, startVgpuEnv } from './cri-helpers.js';

t.setTimeout(300_000);
const why = whyNotContainerd();
for (const { name, bin } of containerdBinaries()) t.test(`GPU pods (${name})`, { skip: why || false }, async (t) => {
  const { env, control } = await startVgpuEnv(t, { containerd: bin });

  const pod = podConfig(env.dir, 'gpu', { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '1G' });
  const pid = env.crictl(['runp', '--runtime', 'xen-cri', pod]).trim();
  const pods = await control.listPods();
  t.same(pods.map((p) => [p.podId, p.memQuotaBytes]), [[pid, 2 ** 30]], 'the pod is registered with vgpu-proxy with its 1 GiB quota');
  t.same(pods.map((p) => [p.namespace, p.name, p.uid]), [['default', 'gpu', 'uid-gpu']], "and with its Kubernetes names, from containerd's annotations on the sandbox");

  const cid = env.crictl(['create', pid, containerConfig(env.dir, 'cuda', BUSYBOX_IMAGE, ['sleep', '300']), pod]).trim();
  env.crictl(['start', cid]);
  const look = env.crictlResult(['exec', '--sync', cid, 'sh', '-c', 'readlink /usr/local/xen-cri/vgpu/lib/libcuda.so.1; echo LD=$LD_LIBRARY_PATH; echo SOCK=$VGPU_PROXY_SOCKET; test -S /run/vgpu/proxy.sock && echo socket-ok; touch /usr/local/xen-cri/vgpu/lib/x 2>&1 || echo lib-read-only']);
  t.equal(look.code, 0, 'exec in the GPU container', { stderr: look.stderr });
  t.match(look.stdout, /^libvgpu\.so$/m, 'libcuda.so.1 is libvgpu.so');
  t.match(look.stdout, /^LD=\/usr\/local\/xen-cri\/vgpu\/lib/m, 'LD_LIBRARY_PATH starts with the vGPU library folder');
  t.match(look.stdout, /^SOCK=\/run\/vgpu\/proxy\.sock$/m, 'VGPU_PROXY_SOCKET set');
  t.match(look.stdout, /^socket-ok$/m, "the pod's proxy socket is in the container");
  t.match(look.stdout, /lib-read-only/, 'the library folder is read-only');

  const plainPod = podConfig(env.dir, 'plain');
  const plain = env.crictl(['runp', '--runtime', 'xen-cri', plainPod]).trim();
  const pcid = env.crictl(['create', plain, containerConfig(env.dir, 'plain', BUSYBOX_IMAGE, ['sleep', '300']), plainPod]).trim();
  env.crictl(['start', pcid]);
  const none = env.crictlResult(['exec', '--sync', pcid, 'sh', '-c', 'ls /usr/local/xen-cri 2>&1; echo SOCK=$VGPU_PROXY_SOCKET']);
  t.match(none.stdout, /No such file/, 'a pod without the annotation gets no vGPU library');
  t.match(none.stdout, /^SOCK=$/m, 'nor a proxy socket');
  t.equal((await control.listPods()).length, 1, 'and no registration');

  const badPod = podConfig(env.dir, 'bad', { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': 'lots' });
  const bad = env.crictlResult(['runp', '--runtime', 'xen-cri', badPod]);
  t.not(bad.code, 0, 'a pod with an unreadable quota is refused');
  t.match(bad.stderr + bad.stdout, /xen-cri\.io\/vgpu-memory: cannot read \\?"lots\\?" as a size/, 'with a clear error', { out: bad.stderr + bad.stdout });

  for (const p of [pid, plain]) {
    env.crictl(['stopp', p]);
    env.crictl(['rmp', p]);
  }
  t.same(await control.listPods(), [], 'removing the pod released its registration');
});
