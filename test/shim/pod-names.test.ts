// The pod's Kubernetes names go with the shim's RegisterPod (issue 15): read
// from the sandbox's annotations (containerd's io.kubernetes.cri.sandbox-*,
// else io.kubernetes.pod.*), sent on both ways a pod gets registered (the pod
// asks itself; a container brings a device plugin's allocation), and an unfit
// one dropped with a warning while the pod still starts.  Against a real
// vgpu-proxy's control API (no GPU), driving the shim's Task service with a
// stand-in sandbox backend.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { startProxy } from '../../devkit/proxy-process.js';
import { ControlClient } from '../../src/proxy-control-client.js';
import { TaskService } from '../../shim/task-service.js';
import { Publisher } from '../../shim/events.js';
import { podNames } from '../../shim/pod-vgpu/pod-names.js';
import type { ShimConfig } from '../../shim/config.js';
import type { Sandbox, SandboxBackend } from '../../shim/sandbox/backend.js';

/** A logger whose lines land in `lines`. */
function capturingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const CRI = (ns: string, name: string, uid: string) => ({
  'io.kubernetes.cri.sandbox-namespace': ns,
  'io.kubernetes.cri.sandbox-name': name,
  'io.kubernetes.cri.sandbox-uid': uid,
});

t.test('names from the annotations', async (t) => {
  const { log, lines } = capturingLog();
  t.same(podNames(CRI('ml', 'resnet-0', '7f1c'), 'p', log), { namespace: 'ml', name: 'resnet-0', uid: '7f1c' }, "containerd's annotations");
  t.same(
    podNames({ 'io.kubernetes.pod.namespace': 'ml', 'io.kubernetes.pod.name': 'bert', 'io.kubernetes.pod.uid': 'u2', 'io.kubernetes.cri.sandbox-name': 'wins' }, 'p', log),
    { namespace: 'ml', name: 'wins', uid: 'u2' },
    "kubelet's label names where containerd's are absent; containerd's win",
  );
  t.same(podNames({}, 'p', log), { namespace: '', name: '', uid: '' }, 'absent: empty');
  t.same(podNames({ 'io.kubernetes.cri.sandbox-name': '', 'io.kubernetes.pod.name': 'b' }, 'p', log).name, 'b', 'an empty one counts as absent');
  t.same(lines, [], 'nothing to warn about');

  const edge = 'n'.repeat(253);
  t.equal(podNames({ 'io.kubernetes.cri.sandbox-name': edge }, 'p', log).name, edge, '253 bytes are taken');
  const bad = podNames({ 'io.kubernetes.cri.sandbox-namespace': 'bad\nns', 'io.kubernetes.cri.sandbox-name': 'n'.repeat(254), 'io.kubernetes.cri.sandbox-uid': 'ü' }, 'pod-b', log);
  t.same(bad, { namespace: '', name: '', uid: '' }, 'unprintable, too long, not ASCII: dropped');
  t.same(
    lines.map((l) => [l.level, l.pod, l.annotation, l.why]),
    [
      [40, 'pod-b', 'io.kubernetes.cri.sandbox-namespace', 'not printable ASCII'],
      [40, 'pod-b', 'io.kubernetes.cri.sandbox-name', '254 bytes, more than 253'],
      [40, 'pod-b', 'io.kubernetes.cri.sandbox-uid', 'not printable ASCII'],
    ],
    'one warning each, naming the pod and the annotation',
  );
  t.equal(podNames({ 'io.kubernetes.cri.sandbox-uid': 42 }, 'p', log).uid, '', 'a value that is not a string (a hand-written config.json) is dropped too');
});

/** A sandbox backend that runs nothing: enough for the Task service's registrations. */
function standInBackend(): SandboxBackend {
  let pid = 1000;
  const sandbox = (id: string): Sandbox => ({
    id,
    admitGpu: () => undefined,
    createContainer: async () => ++pid,
    startContainer: async () => undefined,
    createExec: async () => undefined,
    startExec: async () => ++pid,
    kill: async () => undefined,
    resizePty: async () => undefined,
    closeStdin: async () => undefined,
    pids: async () => [],
    stats: async () => ({}),
    update: async () => undefined,
    pause: async () => undefined,
    resume: async () => undefined,
    deleteContainer: async () => undefined,
    deleteExec: async () => undefined,
    destroy: async () => undefined,
  });
  return { name: 'stand-in', probe: async () => undefined, createSandbox: async (pod) => sandbox(pod.id), cleanupDead: async () => 0 };
}

t.test('RegisterPod carries the names, on both ways a pod is registered', async (t) => {
  const dir = fs.mkdtempSync('/tmp/vgpu-names-');
  const control = path.join(dir, 'control.sock');
  const proxy = await startProxy({
    socket: path.join(dir, 'proxy.sock'),
    libcuda: path.join(dir, 'no-such-libcuda.so.1'),
    withoutGpu: true,
    logFile: path.join(dir, 'proxy.log'),
    extraArgs: ['--control-socket', control, '--pod-socket-dir', path.join(dir, 'pods'), '--guest-isolation', 'thread'],
  });
  for (let i = 0; i < 100 && !fs.existsSync(control); i++) await new Promise((r) => setTimeout(r, 50));
  const client = new ControlClient(control);
  t.teardown(async () => {
    client.close();
    await proxy.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const guestLibDir = path.join(dir, 'guest-lib');
  fs.mkdirSync(guestLibDir);
  fs.writeFileSync(path.join(guestLibDir, 'libcuda.so.1'), '');
  const config: ShimConfig = { backend: 'process', runc: 'runc', stateDir: path.join(dir, 'state'), logLevel: 'info', vgpu: { controlSocket: control, guestLibDir }, source: 'test' };

  const pod = (annotations: Record<string, string>) => {
    const { log, lines } = capturingLog();
    const svc = new TaskService('k8s.io', config, standInBackend(), new Publisher('', 'k8s.io', log), log, () => undefined);
    let n = 0;
    const create = async (id: string, type: 'sandbox' | 'container', podId: string, more: Record<string, string> = {}) => {
      const bundle = path.join(dir, 'bundles', `${id}-${++n}`);
      fs.mkdirSync(bundle, { recursive: true });
      const spec = { annotations: { ...annotations, ...more, 'io.kubernetes.cri.container-type': type, 'io.kubernetes.cri.sandbox-id': podId } };
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
      return svc.create({ id, bundle, stdin: '', stdout: '', stderr: '', terminal: false, rootfs: [] });
    };
    return { svc, lines, create };
  };
  const registered = async (podId: string) => (await client.listPods()).find((p) => p.podId === podId);
  const VGPU = { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '1G' };

  // The pod asks for a vGPU itself: registered as its sandbox is created.
  const a = pod({ ...CRI('ml', 'resnet-0', '0b5e-11'), ...VGPU });
  await a.create('pod-a', 'sandbox', 'pod-a');
  t.match(await registered('pod-a'), { memQuotaBytes: 2 ** 30, namespace: 'ml', name: 'resnet-0', uid: '0b5e-11' }, "a GPU pod is registered with its sandbox's names");

  // A container brings a device plugin's allocation: registered then, with the sandbox's names.
  const b = pod(CRI('serving', 'bert-7', '0b5e-22'));
  await b.create('pod-b', 'sandbox', 'pod-b');
  t.equal(await registered('pod-b'), undefined, 'a pod without vGPU annotations is not registered at its sandbox');
  await b.create('ctr-b', 'container', 'pod-b', { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '512Mi' });
  t.match(await registered('pod-b'), { memQuotaBytes: 2 ** 29, namespace: 'serving', name: 'bert-7', uid: '0b5e-22' }, "an allocated container registers the pod with the sandbox's names");

  // Names absent: registered as before, with empty ones.
  const c = pod(VGPU);
  await c.create('pod-c', 'sandbox', 'pod-c');
  t.match(await registered('pod-c'), { namespace: '', name: '', uid: '' }, 'absent names stay empty');
  t.same(c.lines.filter((l) => (l.level as number) >= 40), [], 'and nothing is warned');

  // An unfit name is dropped (the proxy would refuse the registration), the others kept, the pod started.
  const d = pod({ ...CRI('ml', 'bad\tname', 'u'.repeat(300)), ...VGPU });
  await d.create('pod-d', 'sandbox', 'pod-d');
  t.match(await registered('pod-d'), { memQuotaBytes: 2 ** 30, namespace: 'ml', name: '', uid: '' }, 'an unfit name is dropped and the pod registered');
  t.same(
    d.lines.filter((l) => l.level === 40).map((l) => l.annotation),
    ['io.kubernetes.cri.sandbox-name', 'io.kubernetes.cri.sandbox-uid'],
    'with a warning for each',
  );
  t.match(d.lines.find((l) => l.msg === 'vGPU registered with vgpu-proxy'), { pod: 'pod-d', namespace: 'ml' }, "the shim's log names the pod too");

  for (const [s, id] of [[a, 'pod-a'], [b, 'ctr-b'], [b, 'pod-b'], [c, 'pod-c'], [d, 'pod-d']] as const) await s.svc.delete({ id, execId: '' });
  t.same(await client.listPods(), [], 'removing the pods released their registrations');
});
