// containerd's Task service (containerd.task.v2.Task) for one pod: every
// container of the pod is served by this one shim.  This layer keeps each
// process's state machine, Wait, and the events; the sandbox backend does
// the work.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Sandbox, SandboxBackend, Stdio } from './sandbox/backend.js';
import { anyOf, encode, timestamp } from '../src/proto/load.js';
import { Code, StatusError, alreadyExists, invalidArgument, notFound, unimplemented, wrap } from './ttrpc/status.js';
import type { Service } from './ttrpc/server.js';
import type { ShimConfig } from './config.js';
import type { Publisher } from './events.js';
import { ProcessState } from './state.js';
import { readBundleState, writeBundleState } from './bundle-state.js';
import { PodGpu, readGpuRequest } from './pod-vgpu/pod-gpu.js';
import { NO_POD_NAMES, podNames } from './pod-vgpu/pod-names.js';
import type { PodNames } from '../src/proxy-control-client.js';

const STATUS = { created: 1, running: 2, stopped: 3, paused: 4, deleted: 3 } as const;
export const SHIM_VERSION = 'xen-cri 0.1.0';

interface Proc {
  id: string; // exec id, or '' for a container's init
  state: ProcessState;
  pid: number;
  stdio: Stdio;
  exitStatus: number;
  exitedAt: Date | null;
  exited: Promise<void>;
  markExited: () => void;
}

interface Task {
  id: string;
  bundle: string;
  isSandbox: boolean;
  init: Proc;
  execs: Map<string, Proc>;
}

function newProc(id: string, what: string, stdio: Stdio): Proc {
  let markExited!: () => void;
  const exited = new Promise<void>((r) => (markExited = r));
  return { id, state: new ProcessState(what), pid: 0, stdio, exitStatus: 0, exitedAt: null, exited, markExited };
}

const ANN_SANDBOX_ID = ['io.kubernetes.cri.sandbox-id', 'io.kubernetes.cri-o.SandboxID'];
const ANN_TYPE = 'io.kubernetes.cri.container-type';

export interface OciSpec {
  annotations?: Record<string, string>;
  process?: { env?: string[]; terminal?: boolean };
  mounts?: { destination: string; type: string; source: string; options?: string[] }[];
  [k: string]: unknown;
}

export function readSpec(bundle: string): OciSpec {
  try {
    return JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as OciSpec;
  } catch (err) {
    throw invalidArgument(`bundle ${bundle}: cannot read config.json: ${(err as Error).message}`);
  }
}

// containerd's identifiers.Validate.  containerd checks ids before they reach
// a shim, but the backends build paths (BUNDLE/exec-ID.json), runc ids and
// socket names from them: the shim checks again rather than trust its peer
// (found by test/fuzz/shim shim-proto: "../x" reached the backend).
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const MAX_ID = 76;

export function checkId(what: string, id: string): void {
  if (id.length > MAX_ID || !IDENTIFIER.test(id)) throw invalidArgument(`${what} ${JSON.stringify(id.slice(0, MAX_ID + 1))} is not a valid identifier`);
}

/**
 * The bundle containerd made for a task: an absolute path without `..`.  The
 * shim reads BUNDLE/config.json and writes its state there; a relative or
 * climbing path would make it read and write elsewhere (found by shim-proto,
 * Jazzer's path-traversal detector).  Checked on the string, before any
 * path function sees it.
 */
function checkBundle(bundle: string): void {
  if (!bundle.startsWith('/') || bundle.split('/').includes('..')) throw invalidArgument(`bundle ${JSON.stringify(bundle)} is not an absolute path without ".."`);
}

/** JSON inside an Any that must be an object (an OCI Process, LinuxResources); anything else is InvalidArgument. */
function jsonObject(value: Uint8Array | undefined, what: string): object {
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(value ?? []).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`${what} are not JSON: ${(err as Error).message}`);
  }
  // null, numbers, strings and arrays parse too, and broke the backends later (found by shim-proto).
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalidArgument(`${what} are not a JSON object`);
  return o;
}

export function sandboxIdOf(spec: OciSpec, fallback: string): string {
  for (const k of ANN_SANDBOX_ID) {
    const v = spec.annotations?.[k];
    if (v) return v;
  }
  return fallback;
}

export class TaskService {
  readonly #tasks = new Map<string, Task>();
  #sandbox: Sandbox | null = null;
  #sandboxing: Promise<Sandbox> | null = null;
  #gpu: PodGpu | null = null;
  /** the pod's Kubernetes names, from its sandbox's annotations: every registration of the pod sends them */
  #podNames: PodNames = NO_POD_NAMES;
  /** the pod asked for its vGPU itself (pod annotations): all its containers get it */
  #gpuPodWide = false;
  /** containers' vGPU requests, one at a time (each may register the pod or raise its quota) */
  #gpuChanges: Promise<unknown> = Promise.resolve();
  #shuttingDown = false;

  constructor(
    readonly namespace: string,
    readonly config: ShimConfig,
    readonly backend: SandboxBackend,
    readonly events: Publisher,
    readonly log: Logger,
    readonly onShutdown: () => void,
  ) {}

  get taskCount(): number {
    return this.#tasks.size;
  }

  #task(id: string): Task {
    const t = this.#tasks.get(id);
    if (!t) throw notFound(`task ${id} not found`);
    return t;
  }

  #proc(id: string, execId: string): Proc {
    const t = this.#task(id);
    if (!execId) return t.init;
    const p = t.execs.get(execId);
    if (!p) throw notFound(`exec ${execId} of task ${id} not found`);
    return p;
  }

  async #ensureSandbox(podId: string, spec: OciSpec): Promise<Sandbox> {
    if (this.#sandbox) return this.#sandbox;
    if (!this.#sandboxing) {
      this.#sandboxing = (async () => {
        await this.backend.probe();
        const annotations = spec.annotations ?? {};
        const want = readGpuRequest(annotations);
        const names = podNames(annotations, podId, this.log);
        const gpu = want ? new PodGpu(podId, want.memQuota, names, this.config, this.log) : null;
        if (gpu) await gpu.register();
        try {
          const sb = await this.backend.createSandbox({ id: podId, namespace: this.namespace, annotations, gpu: want }, {
            exit: (e) => this.#onExit(e.containerId, e.execId, e.pid, e.status, e.at),
            oom: (containerId) => this.events.publish('TaskOOM', { containerId }),
          });
          this.#gpu = gpu;
          this.#gpuPodWide = !!gpu;
          this.#podNames = names;
          this.#sandbox = sb;
          return sb;
        } catch (err) {
          await gpu?.unregister().catch(() => undefined);
          throw err;
        }
      })();
      this.#sandboxing.catch(() => (this.#sandboxing = null));
    }
    return this.#sandboxing;
  }

  /**
   * Whether container `id` gets the pod's vGPU: every container of a pod that asked for one, and a
   * container that asks itself.  Kubelet puts a device plugin's Allocate answer on the container
   * (xen-cri.io/vgpu, xen-cri.io/vgpu-memory; containerd passes them by container_annotations, next
   * to the pod's own by pod_annotations, the container's winning).  Such a request registers the
   * pod with vgpu-proxy, or raises its quota, before the container exists, so that its CUDA
   * processes connect with the quota it was allocated; the backend may refuse it first.
   */
  #containerGpu(id: string, podId: string, spec: OciSpec, sandbox: Sandbox): Promise<boolean> {
    const run = this.#gpuChanges.then(async () => {
      const want = readGpuRequest(spec.annotations ?? {});
      if (!want) return this.#gpuPodWide;
      sandbox.admitGpu(id, want);
      if (!this.#gpu) {
        const gpu = new PodGpu(podId, want.memQuota, this.#podNames, this.config, this.log);
        await gpu.register();
        this.#gpu = gpu;
        this.#keepVgpuPod(podId);
        return true;
      }
      await this.#gpu.raiseQuota(want.memQuota);
      return true;
    });
    this.#gpuChanges = run.catch(() => undefined);
    return run.catch((err) => {
      throw wrap(err, `create task ${id}: vGPU`);
    });
  }

  /** The pod was registered with vgpu-proxy after its sandbox: the sandbox's bundle says so, for `delete` after a dead shim. */
  #keepVgpuPod(podId: string): void {
    for (const t of this.#tasks.values()) {
      if (!t.isSandbox) continue;
      const state = readBundleState(t.bundle);
      if (state) writeBundleState(t.bundle, { ...state, vgpuPod: podId });
    }
  }

  #onExit(containerId: string, execId: string, pid: number, status: number, at: Date): void {
    const t = this.#tasks.get(containerId);
    const p = t && (execId ? t.execs.get(execId) : t.init);
    if (!t || !p || p.state.state === 'stopped' || p.state.state === 'deleted') return;
    p.state.move('stopped');
    p.exitStatus = status;
    p.exitedAt = at;
    this.log.info({ container: containerId, exec: execId || undefined, pid, status }, 'process exited');
    this.events.publish('TaskExit', { containerId, id: execId || containerId, pid, exitStatus: status, exitedAt: timestamp(at) });
    p.markExited();
  }

  // ---- the Task service's methods ----

  async create(req: any): Promise<object> {
    const id: string = req.id;
    checkId('task id', id);
    if (this.#shuttingDown) throw new StatusError(Code.Unavailable, 'shim is shutting down');
    if (this.#tasks.has(id)) throw alreadyExists(`task ${id} already exists`);
    if (req.checkpoint) throw unimplemented('restoring from a checkpoint is not supported by xen-cri');
    checkBundle(req.bundle);
    const spec = readSpec(req.bundle);
    const podId = sandboxIdOf(spec, id);
    const isSandbox = spec.annotations?.[ANN_TYPE] === 'sandbox' || podId === id;
    const sandbox = await this.#ensureSandbox(podId, spec).catch((err) => {
      throw wrap(err, `create task ${id}: pod ${podId}`);
    });
    // Every container of a GPU pod but the pause container gets the vGPU (a lone container outside
    // CRI is its own pod), and so does a container that asks for one itself.
    const gpu = spec.annotations?.[ANN_TYPE] !== 'sandbox' && (await this.#containerGpu(id, podId, spec, sandbox));
    const stdio: Stdio = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
    const task: Task = { id, bundle: req.bundle, isSandbox, init: newProc('', `task ${id}`, stdio), execs: new Map() };
    writeBundleState(req.bundle, {
      namespace: this.namespace,
      id,
      podId,
      isSandbox,
      config: this.config,
      vgpuPod: isSandbox && this.#gpu ? podId : '',
    });
    this.#tasks.set(id, task);
    try {
      task.init.pid = await sandbox.createContainer({
        id,
        bundle: req.bundle,
        rootfs: (req.rootfs ?? []).map((m: any) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options ?? [] })),
        stdio,
        isSandbox,
        gpu: gpu ? { socketDir: this.#gpu!.socketDir } : null,
      });
    } catch (err) {
      this.#tasks.delete(id);
      throw err;
    }
    this.log.info({ container: id, pod: podId, pid: task.init.pid, sandbox: isSandbox, gpu }, 'task created');
    this.events.publish('TaskCreate', {
      containerId: id,
      bundle: req.bundle,
      rootfs: req.rootfs ?? [],
      io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
      checkpoint: req.checkpoint ?? '',
      pid: task.init.pid,
    });
    return { pid: task.init.pid };
  }

  async start(req: any): Promise<object> {
    const t = this.#task(req.id);
    const sb = this.#sandbox!;
    if (req.execId) {
      const p = this.#proc(req.id, req.execId);
      p.state.require('start', 'created');
      t.init.state.require(`start exec ${req.execId}`, 'running');
      p.pid = await sb.startExec(req.id, req.execId);
      p.state.move('running');
      this.events.publish('TaskExecStarted', { containerId: req.id, execId: req.execId, pid: p.pid });
      return { pid: p.pid };
    }
    t.init.state.require('start', 'created');
    await sb.startContainer(req.id);
    // It may have exited already (reported by the reaper): only a created one moves to running.
    if (t.init.state.state === 'created') t.init.state.move('running');
    this.events.publish('TaskStart', { containerId: req.id, pid: t.init.pid });
    return { pid: t.init.pid };
  }

  async delete(req: any): Promise<object> {
    const t = this.#task(req.id);
    const sb = this.#sandbox!;
    if (req.execId) {
      const p = this.#proc(req.id, req.execId);
      p.state.require(`delete exec ${req.execId}`, 'created', 'stopped');
      await sb.deleteExec(req.id, req.execId);
      t.execs.delete(req.execId);
      return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: timestamp(p.exitedAt ?? new Date()) };
    }
    t.init.state.require('delete', 'created', 'stopped');
    if (t.init.state.state === 'created') {
      // never started: end it without an exit of its own
      await sb.kill(req.id, '', 9, true).catch(() => undefined);
      t.init.exitStatus = 137;
      t.init.exitedAt = new Date();
    }
    await sb.deleteContainer(req.id);
    t.init.state.move('deleted');
    t.init.markExited();
    this.#tasks.delete(req.id);
    const at = t.init.exitedAt ?? new Date();
    this.events.publish('TaskDelete', { containerId: req.id, pid: t.init.pid, exitStatus: t.init.exitStatus, exitedAt: timestamp(at), id: req.id });
    if (t.isSandbox) await this.#endPod();
    return { pid: t.init.pid, exitStatus: t.init.exitStatus, exitedAt: timestamp(at) };
  }

  /** The pod's sandbox container is gone: end every container left and release the pod's vGPU. */
  async #endPod(): Promise<void> {
    for (const [id, t] of this.#tasks) {
      this.log.warn({ container: id }, 'pod removed before its container: ending it');
      await this.#sandbox?.kill(id, '', 9, true).catch(() => undefined);
      t.init.markExited();
    }
    await this.#sandbox?.destroy();
    this.#tasks.clear();
    if (this.#gpu) {
      await this.#gpu.unregister().catch((err) => this.log.error({ err: (err as Error).message }, 'vGPU registration not released'));
      this.#gpu = null;
    }
    this.#podNames = NO_POD_NAMES;
    this.#sandbox = null;
    this.#sandboxing = null;
  }

  async state(req: any): Promise<object> {
    const t = this.#task(req.id);
    const p = this.#proc(req.id, req.execId);
    return {
      id: req.id,
      bundle: t.bundle,
      pid: p.pid,
      status: STATUS[p.state.state],
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exitStatus: p.exitStatus,
      exitedAt: p.exitedAt ? timestamp(p.exitedAt) : null,
      execId: req.execId,
    };
  }

  async kill(req: any): Promise<object> {
    const p = this.#proc(req.id, req.execId);
    if (p.state.state === 'stopped' || p.state.state === 'deleted') throw notFound(`process ${req.execId || req.id} already finished`);
    if (req.execId && p.state.state === 'created') throw notFound(`exec ${req.execId} has not started`);
    await this.#sandbox!.kill(req.id, req.execId, req.signal, req.all);
    return {};
  }

  async exec(req: any): Promise<object> {
    checkId('exec id', req.execId);
    const t = this.#task(req.id);
    if (t.execs.has(req.execId)) throw alreadyExists(`exec ${req.execId} already exists in task ${req.id}`);
    t.init.state.require(`exec ${req.execId}`, 'running');
    const spec = jsonObject(req.spec?.value, `exec ${req.execId}: the process spec's contents`);
    const stdio: Stdio = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
    const p = newProc(req.execId, `exec ${req.execId} of task ${req.id}`, stdio);
    await this.#sandbox!.createExec({ containerId: req.id, execId: req.execId, process: spec, stdio });
    t.execs.set(req.execId, p);
    this.events.publish('TaskExecAdded', { containerId: req.id, execId: req.execId });
    return {};
  }

  async resizePty(req: any): Promise<object> {
    this.#proc(req.id, req.execId);
    await this.#sandbox!.resizePty(req.id, req.execId, req.width, req.height);
    return {};
  }

  async closeIO(req: any): Promise<object> {
    this.#proc(req.id, req.execId);
    if (req.stdin) await this.#sandbox!.closeStdin(req.id, req.execId);
    return {};
  }

  async pids(req: any): Promise<object> {
    const t = this.#task(req.id);
    const list = t.init.state.state === 'stopped' ? [] : await this.#sandbox!.pids(req.id);
    return { processes: list.map((p) => ({ pid: p.pid })) };
  }

  async stats(req: any): Promise<object> {
    const t = this.#task(req.id);
    t.init.state.require('read statistics', 'created', 'running', 'paused');
    const m = await this.#sandbox!.stats(req.id);
    return { stats: anyOf('io.containerd.cgroups.v1.Metrics', encode('io.containerd.cgroups.v1.Metrics', m)) };
  }

  async update(req: any): Promise<object> {
    const t = this.#task(req.id);
    t.init.state.require('update', 'created', 'running', 'paused');
    const resources = jsonObject(req.resources?.value, `update ${req.id}: the resources`);
    await this.#sandbox!.update(req.id, resources);
    return {};
  }

  async pause(req: any): Promise<object> {
    const t = this.#task(req.id);
    t.init.state.require('pause', 'running');
    await this.#sandbox!.pause(req.id);
    t.init.state.move('paused');
    this.events.publish('TaskPaused', { containerId: req.id });
    return {};
  }

  async resume(req: any): Promise<object> {
    const t = this.#task(req.id);
    t.init.state.require('resume', 'paused');
    await this.#sandbox!.resume(req.id);
    t.init.state.move('running');
    this.events.publish('TaskResumed', { containerId: req.id });
    return {};
  }

  async wait(req: any): Promise<object> {
    const p = this.#proc(req.id, req.execId);
    await p.exited;
    return { exitStatus: p.exitStatus, exitedAt: timestamp(p.exitedAt ?? new Date()) };
  }

  async connect(req: any): Promise<object> {
    const t = this.#tasks.get(req.id);
    return { shimPid: process.pid, taskPid: t?.init.pid ?? 0, version: SHIM_VERSION };
  }

  async shutdown(_req: any): Promise<object> {
    if (this.#tasks.size > 0) return {};
    this.#shuttingDown = true;
    setImmediate(() => this.onShutdown());
    return {};
  }

  async checkpoint(_req: any): Promise<object> {
    throw unimplemented('checkpoint is not supported by xen-cri');
  }

  /** The method table for the ttrpc server. */
  service(): Service {
    const m = (name: string, handler: (req: any) => Promise<object>, req: string, rsp = 'google.protobuf.Empty') => ({
      [name]: { requestType: `containerd.task.v2.${req}`, responseType: rsp.includes('.') ? rsp : `containerd.task.v2.${rsp}`, handler },
    });
    return {
      ...m('State', (r) => this.state(r), 'StateRequest', 'StateResponse'),
      ...m('Create', (r) => this.create(r), 'CreateTaskRequest', 'CreateTaskResponse'),
      ...m('Start', (r) => this.start(r), 'StartRequest', 'StartResponse'),
      ...m('Delete', (r) => this.delete(r), 'DeleteRequest', 'DeleteResponse'),
      ...m('Pids', (r) => this.pids(r), 'PidsRequest', 'PidsResponse'),
      ...m('Pause', (r) => this.pause(r), 'PauseRequest'),
      ...m('Resume', (r) => this.resume(r), 'ResumeRequest'),
      ...m('Checkpoint', (r) => this.checkpoint(r), 'CheckpointTaskRequest'),
      ...m('Kill', (r) => this.kill(r), 'KillRequest'),
      ...m('Exec', (r) => this.exec(r), 'ExecProcessRequest'),
      ...m('ResizePty', (r) => this.resizePty(r), 'ResizePtyRequest'),
      ...m('CloseIO', (r) => this.closeIO(r), 'CloseIORequest'),
      ...m('Update', (r) => this.update(r), 'UpdateTaskRequest'),
      ...m('Wait', (r) => this.wait(r), 'WaitRequest', 'WaitResponse'),
      ...m('Stats', (r) => this.stats(r), 'StatsRequest', 'StatsResponse'),
      ...m('Connect', (r) => this.connect(r), 'ConnectRequest', 'ConnectResponse'),
      ...m('Shutdown', (r) => this.shutdown(r), 'ShutdownRequest'),
    };
  }
}
