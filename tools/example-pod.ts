// The example GPU pod of tools/node-up.sh: a private containerd with the
// xen-cri runtime (process backend), vgpu-proxy with its control API, and
// one pod that asks for a vGPU by annotation, driven through crictl.
// Leaves nothing running.  Usage: node dist/tools/example-pod.js [LIBCUDA]
import { BUSYBOX_IMAGE, ContainerdEnv, whyNotContainerd } from '../devkit/containerd-env.js';
import { containerConfig, podConfig } from '../test/shim/cri-helpers.js';

const say = (s: string): void => void process.stdout.write(`${s}\n`);
const why = whyNotContainerd();
if (why) {
  say(`containerd with xen-cri: not run here: ${why}`);
  process.exit(0);
}
const env = new ContainerdEnv({ vgpu: true, libcuda: process.argv[2] || undefined });
try {
  await env.start();
  say(`containerd ${env.sock} with runtime handler xen-cri (backend process), vgpu-proxy control API ${env.controlSocket}`);
  env.crictl(['pull', BUSYBOX_IMAGE]);
  const pod = podConfig(env.dir, 'cuda-example', { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '2G' });
  const pid = env.crictl(['runp', '--runtime', 'xen-cri', pod]).trim();
  say(`crictl runp --runtime xen-cri: pod ${pid.slice(0, 12)} (annotations xen-cri.io/vgpu=true, vgpu-memory=2G)`);
  const cid = env.crictl(['create', pid, containerConfig(env.dir, 'app', BUSYBOX_IMAGE, ['sleep', '60']), pod]).trim();
  env.crictl(['start', cid]);
  const out = env.crictl(['exec', '--sync', cid, 'sh', '-c', 'ls -l /usr/local/xen-cri/vgpu/lib; echo LD_LIBRARY_PATH=$LD_LIBRARY_PATH; echo VGPU_PROXY_SOCKET=$VGPU_PROXY_SOCKET; ls -l /run/vgpu']);
  say('inside the pod\'s container:');
  say(out.replace(/^/gm, '  ').trimEnd());
  env.crictl(['stop', '--timeout', '0', cid]);
  env.crictl(['rm', cid]);
  env.crictl(['stopp', pid]);
  env.crictl(['rmp', pid]);
  say('pod removed; its vgpu-proxy registration released');
} catch (err) {
  say(`example pod failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await env.stop();
}
