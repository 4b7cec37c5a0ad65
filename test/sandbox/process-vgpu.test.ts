// The process backend's vGPU wiring (shim/sandbox/process/vgpu.ts): a container
// given the pod's vGPU gets the host's libvgpu folder and the pod's proxy
// socket mounted, and their environment, in the bundle runc creates it from;
// its execs get the environment too.  runc is a stand-in that keeps what it
// was given.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { ContainerRequest, PodRequest, SandboxEvents } from '../../shim/sandbox/backend.js';
import { Reaper } from '../../shim/sandbox/process/reaper.js';
import { Runc } from '../../shim/sandbox/process/runc.js';
import { ProcessSandbox } from '../../shim/sandbox/process/sandbox.js';
import { GUEST_SOCKET, GUEST_SOCKET_DIR, injectVgpu, vgpuProcess } from '../../shim/sandbox/process/vgpu.js';

const LIB = '/usr/local/xen-cri/vgpu/lib';
const log = pino({ level: 'silent' });
const events: SandboxEvents = { exit: () => undefined, oom: () => undefined };

function bundle(dir: string, name: string, env: string[]): string {
  const b = path.join(dir, name);
  fs.mkdirSync(b, { recursive: true });
  fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify({
    ociVersion: '1.1.0',
    process: { args: ['sleep', 'inf'], env },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
  }));
  return b;
}

t.test('the environment: the library folder first, the pod\'s socket set once', async (t) => {
  t.equal(GUEST_SOCKET, `${GUEST_SOCKET_DIR}/proxy.sock`);
  t.same(vgpuProcess({ args: ['x'], env: ['PATH=/bin', 'LD_LIBRARY_PATH=/opt/lib', 'VGPU_PROXY_SOCKET=/elsewhere'] }),
    { args: ['x'], env: ['PATH=/bin', `LD_LIBRARY_PATH=${LIB}:/opt/lib`, 'VGPU_PROXY_SOCKET=/run/vgpu/proxy.sock'] });
  t.same(vgpuProcess({}).env, [`LD_LIBRARY_PATH=${LIB}`, 'VGPU_PROXY_SOCKET=/run/vgpu/proxy.sock'], 'an image without LD_LIBRARY_PATH');
});

t.test('the bundle: the host\'s libvgpu read-only, the pod\'s socket folder, after the bundle\'s own mounts', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'process-vgpu-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const b = bundle(dir, 'c1', ['PATH=/bin']);
  injectVgpu(b, '/opt/xen-cri/lib/vgpu', '/run/vgpu/pods/p1');
  const spec = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'));
  t.same(spec.mounts, [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: LIB, type: 'bind', source: '/opt/xen-cri/lib/vgpu', options: ['rbind', 'ro', 'nosuid', 'nodev'] },
    { destination: '/run/vgpu', type: 'bind', source: '/run/vgpu/pods/p1', options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'] },
  ]);
  t.same(spec.process, { args: ['sleep', 'inf'], env: ['PATH=/bin', `LD_LIBRARY_PATH=${LIB}`, 'VGPU_PROXY_SOCKET=/run/vgpu/proxy.sock'] });
});

t.test('ProcessSandbox wires the vGPU into the containers given it, and their execs', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'process-vgpu-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // runc create: keeps the config.json it was given (BUNDLE.seen.json), names the shim's own pid as the container's.
  const fakeRunc = path.join(dir, 'runc');
  fs.writeFileSync(fakeRunc, [
    '#!/bin/sh',
    'prev=',
    'for a in "$@"; do',
    '  case "$prev" in --bundle) cp "$a/config.json" "$a.seen.json" ;; --pid-file) echo "$PPID" > "$a" ;; esac',
    '  prev=$a',
    'done',
    'exit 0',
    '',
  ].join('\n'), { mode: 0o755 });
  const reaper = new Reaper();
  const pod: PodRequest = { id: 'p1', namespace: 'k8s.io', annotations: {}, gpu: null };
  const sb = new ProcessSandbox(pod, new Runc(fakeRunc, path.join(dir, 'root'), reaper), reaper, events, log, '/opt/xen-cri/lib/vgpu');
  const req = (id: string, gpu: ContainerRequest['gpu']): ContainerRequest => ({
    id, bundle: bundle(dir, id, ['PATH=/bin']), rootfs: [], stdio: { stdin: '', stdout: '', stderr: '', terminal: false }, isSandbox: false, gpu,
  });
  t.doesNotThrow(() => sb.admitGpu('gpu', { memQuota: 2 ** 30 }), 'any container may ask: vgpu-proxy registers the pod or raises its quota');

  t.equal(await sb.createContainer(req('gpu', { socketDir: '/run/vgpu/pods/p1' })), process.pid);
  const seen = JSON.parse(fs.readFileSync(path.join(dir, 'gpu.seen.json'), 'utf8'));
  t.same(seen.mounts.map((m: { destination: string; source: string }) => [m.destination, m.source]),
    [['/proc', 'proc'], [LIB, '/opt/xen-cri/lib/vgpu'], ['/run/vgpu', '/run/vgpu/pods/p1']], 'runc created it with the vGPU mounts');
  t.same(seen.process.env, ['PATH=/bin', `LD_LIBRARY_PATH=${LIB}`, 'VGPU_PROXY_SOCKET=/run/vgpu/proxy.sock']);

  await sb.createContainer(req('plain', null));
  const plain = JSON.parse(fs.readFileSync(path.join(dir, 'plain.seen.json'), 'utf8'));
  t.same(plain.mounts, [{ destination: '/proc', type: 'proc', source: 'proc' }], 'a container not given the vGPU: its bundle as it was');
  t.same(plain.process.env, ['PATH=/bin']);

  const stdio = { stdin: '', stdout: '', stderr: '', terminal: false };
  await sb.createExec({ containerId: 'gpu', execId: 'e1', process: { args: ['nvidia-smi'], env: ['PATH=/bin'] }, stdio });
  t.same(JSON.parse(fs.readFileSync(path.join(dir, 'gpu', 'exec-e1.json'), 'utf8')).env,
    ['PATH=/bin', `LD_LIBRARY_PATH=${LIB}`, 'VGPU_PROXY_SOCKET=/run/vgpu/proxy.sock'], "an exec in it gets the vGPU's environment");
  await sb.createExec({ containerId: 'plain', execId: 'e1', process: { args: ['true'], env: ['PATH=/bin'] }, stdio });
  t.same(JSON.parse(fs.readFileSync(path.join(dir, 'plain', 'exec-e1.json'), 'utf8')).env, ['PATH=/bin']);
});
