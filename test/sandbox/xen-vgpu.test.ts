// The xen backend's vGPU wiring (shim/sandbox/xen/): a pod that asks for a vGPU
// gets its VM marked for vgpu-proxy in xenstore with its quota, and the grant
// frames its channel needs; a container may share the pod's vGPU, never ask
// for one the pod VM was not made with.  xl and the xenstore tools are stand-ins
// that record their calls; the pod VM never boots (no agent answers).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { PodRequest, SandboxEvents } from '../../shim/sandbox/backend.js';
import { XenBackend } from '../../shim/sandbox/xen/backend.js';
import type { XenConfig } from '../../shim/sandbox/xen/config.js';
import type { AgentClient } from '../../shim/sandbox/xen/agent-client.js';
import type { Domain } from '../../shim/sandbox/xen/domain.js';
import { XenSandbox } from '../../shim/sandbox/xen/sandbox.js';
import { Code, StatusError } from '../../shim/ttrpc/status.js';

const log = pino({ level: 'silent' });
const events: SandboxEvents = { exit: () => undefined, oom: () => undefined };
const G = 2 ** 30;

function pod(gpu: PodRequest['gpu']): PodRequest {
  return { id: 'p1', namespace: 'k8s.io', annotations: {}, gpu };
}

/** A stand-in for xl and the xenstore tools: each call appended to DIR/calls; `xl create -p CFG` keeps CFG as DIR/created.cfg; `xl domid` answers 7. */
function fakeTools(t: { teardown(fn: () => void): void }): { dir: string; calls: () => string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xen-vgpu-'));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const script = [
    '#!/bin/sh',
    `echo "$(basename "$0") $*" >> ${dir}/calls`,
    `[ "$(basename "$0")" = xl ] && [ "$1" = create ] && cp "$3" ${dir}/created.cfg`,
    '[ "$(basename "$0")" = xl ] && [ "$1" = domid ] && echo 7',
    'exit 0',
    '',
  ].join('\n');
  for (const tool of ['xl', 'xenstore-write', 'xenstore-chmod']) fs.writeFileSync(path.join(bin, tool), script, { mode: 0o755 });
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  t.teardown(() => {
    process.env.PATH = oldPath;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, calls: () => fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') };
}

function xenConfig(dir: string): XenConfig {
  return {
    kernel: '/k', ramdisk: '/r', baseMemoryMiB: 160, defaultMemoryMiB: 256, defaultVcpus: 1, diskDir: path.join(dir, 'disks'),
    writableMiB: 64, bootTimeoutMs: 300, extra: 'quiet', xl: path.join(dir, 'bin', 'xl'), blockScript: '/b',
  };
}

t.test('a vGPU pod: its VM is marked for vgpu-proxy with the quota, with room for the channel\'s grants', async (t) => {
  const { dir, calls } = fakeTools(t);
  const backend = new XenBackend({ stateDir: path.join(dir, 'state'), config: xenConfig(dir) }, log);
  await t.rejects(backend.createSandbox(pod({ memQuota: 4 * G }), events), /boot pod vm xen-cri-p1/, 'no agent answers here');
  t.ok(calls().includes(`xenstore-write /local/domain/7/xen-cri/vgpu-memory ${4 * G}`), 'the mark, in bytes');
  t.ok(calls().includes('xenstore-chmod -r /local/domain/7/xen-cri n0 r7'), 'the guest may read it, not write it');
  t.match(fs.readFileSync(path.join(dir, 'created.cfg'), 'utf8'), /max_grant_frames = 256/);
});

t.test('a vGPU pod without a quota: the mark says 0 (vgpu-proxy\'s default)', async (t) => {
  const { dir, calls } = fakeTools(t);
  const backend = new XenBackend({ stateDir: path.join(dir, 'state'), config: xenConfig(dir) }, log);
  await t.rejects(backend.createSandbox(pod({ memQuota: 0 }), events));
  t.ok(calls().includes('xenstore-write /local/domain/7/xen-cri/vgpu-memory 0'));
});

t.test('a pod without a vGPU: no mark, the usual grant frames', async (t) => {
  const { dir, calls } = fakeTools(t);
  const backend = new XenBackend({ stateDir: path.join(dir, 'state'), config: xenConfig(dir) }, log);
  // The annotations are the shim's to read: the backend goes by the parsed request alone.
  await t.rejects(backend.createSandbox({ ...pod(null), annotations: { 'xen-cri.io/vgpu': 'true' } }, events));
  t.notOk(calls().some((c) => c.startsWith('xenstore-')), 'no xenstore mark');
  t.match(fs.readFileSync(path.join(dir, 'created.cfg'), 'utf8'), /max_grant_frames = 32/);
});

t.test('a container asks for a vGPU: only within what the pod VM was made with', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xen-vgpu-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sandbox = (gpu: PodRequest['gpu']) =>
    new XenSandbox(pod(gpu), { spec: { name: 'xen-cri-p1' } } as Domain, {} as AgentClient, xenConfig(dir), events, log, dir);
  const refused = (fn: () => void, message: string) => {
    const err = t.throws(fn) as unknown;
    t.ok(err instanceof StatusError && err.code === Code.FailedPrecondition, 'FailedPrecondition');
    t.equal((err as Error).message, message);
  };
  refused(() => sandbox(null).admitGpu('c1', { memQuota: 0 }),
    'container c1 asks for a vGPU but its pod p1 did not: with the xen backend the pod itself needs the annotation xen-cri.io/vgpu');
  refused(() => sandbox({ memQuota: 2 * G }).admitGpu('c1', { memQuota: 4 * G }),
    `container c1 asks for ${4 * G} bytes of vGPU memory, more than its pod p1 (${2 * G}): with the xen backend the pod VM's quota is set when it is created`);
  refused(() => sandbox({ memQuota: 0 }).admitGpu('c1', { memQuota: G }),
    `container c1 asks for ${G} bytes of vGPU memory, more than its pod p1 (the default): with the xen backend the pod VM's quota is set when it is created`);
  t.doesNotThrow(() => sandbox({ memQuota: 2 * G }).admitGpu('c1', { memQuota: 2 * G }), 'the pod\'s own quota');
  t.doesNotThrow(() => sandbox({ memQuota: 2 * G }).admitGpu('c1', { memQuota: G }), 'less than the pod\'s');
  t.doesNotThrow(() => sandbox({ memQuota: 2 * G }).admitGpu('c1', { memQuota: 0 }), 'no quota of its own');
});
