// A pod of the `process` backend: its containers are runc containers on the
// host, the pod's sandbox (pause) container among them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { ContainerRequest, ExecRequest, GpuRequest, Metrics, PodRequest, ProcessInfo, Sandbox, SandboxEvents } from '../backend.js';
import { notFound, wrap } from '../../ttrpc/status.js';
import { ProcessIo } from './io.js';
import type { Reaper } from './reaper.js';
import type { Runc } from './runc.js';
import { mountRootfs, unmountRootfs } from './rootfs.js';
import { cgroupPaths, cgroupV1Metrics } from './stats.js';
import { injectVgpu, vgpuProcess } from './vgpu.js';

interface Exec {
  id: string;
  io: ProcessIo;
  specFile: string;
  pid: number;
}

interface Container {
  id: string;
  bundle: string;
  pid: number;
  io: ProcessIo;
  rootfsMounted: boolean;
  memCgroup: string;
  /** no PID namespace of its own (the pod's or the host's): its init's end does not end its other processes */
  sharedPid: boolean;
  /** given the pod's vGPU: its execs get the vGPU environment too */
  gpu: boolean;
  execs: Map<string, Exec>;
}

interface LinuxSpec {
  namespaces?: { type: string; path?: string }[];
  cgroupsPath?: string;
}

/** The bundle's OCI spec, its linux section; {} when it cannot be read. */
function linuxSpecOf(bundle: string): LinuxSpec {
  try {
    return (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { linux?: LinuxSpec }).linux ?? {};
  } catch {
    return {};
  }
}

/** Whether the container joins a PID namespace (the pod's, the host's) rather than getting its own. */
export function sharesPidNamespace(linux: LinuxSpec): boolean {
  return !(linux.namespaces ?? []).some((n) => n.type === 'pid' && !n.path);
}

const MEMCG = '/sys/fs/cgroup/memory';

export class ProcessSandbox implements Sandbox {
  readonly #containers = new Map<string, Container>();
  readonly #oomTimer: NodeJS.Timeout;
  readonly #oomCounts = new Map<string, number>();

  constructor(
    readonly pod: PodRequest,
    readonly runc: Runc,
    readonly reaper: Reaper,
    readonly events: SandboxEvents,
    readonly log: Logger,
    /** the host's libvgpu folder, mounted into containers given the pod's vGPU */
    readonly vgpuLibDir: string,
  ) {
    this.#oomTimer = setInterval(() => this.#checkOom(), 1000);
    this.#oomTimer.unref();
  }

  get id(): string {
    return this.pod.id;
  }

  /** Any container may have the pod's vGPU, at any quota: vgpu-proxy registers the pod or raises its quota for it. */
  admitGpu(_containerId: string, _want: GpuRequest): void {}

  #get(id: string): Container {
    const c = this.#containers.get(id);
    if (!c) throw notFound(`container ${id} is not in pod ${this.pod.id}`);
    return c;
  }

  async createContainer(req: ContainerRequest): Promise<number> {
    if (req.gpu) injectVgpu(req.bundle, this.vgpuLibDir, req.gpu.socketDir);
    const io = new ProcessIo(req.stdio);
    const linux = linuxSpecOf(req.bundle);
    const c: Container = { id: req.id, bundle: req.bundle, pid: 0, io, rootfsMounted: false, memCgroup: '', sharedPid: sharesPidNamespace(linux), gpu: !!req.gpu, execs: new Map() };
    const pidFile = path.join(req.bundle, 'init.pid');
    try {
      c.rootfsMounted = await mountRootfs(req.bundle, req.rootfs);
      io.open(path.join(this.runc.root, `c-${req.id.slice(0, 12)}-${process.pid}.sock`));
      const args = ['create', '--bundle', req.bundle, '--pid-file', pidFile];
      if (req.stdio.terminal) args.push('--console-socket', io.consoleSocket);
      const done = this.runc.run([...args, req.id], { stdio: io.runcStdio() });
      await io.afterCreate(done);
      await done;
      c.pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    } catch (err) {
      io.close();
      await this.runc.run(['delete', '--force', req.id]).catch(() => undefined);
      if (c.rootfsMounted) await unmountRootfs(req.bundle).catch(() => undefined);
      throw wrap(err, `create container ${req.id}`);
    }
    this.#containers.set(req.id, c);
    c.memCgroup = memoryCgroupOf(linux, c.pid);
    // A new cgroup counts from 0; a container whose init was killed while runc created it still reports its OOM.
    this.#oomCounts.set(req.id, 0);
    this.reaper.watch(c.pid, (status) => void this.#exited(c, '', c.pid, status, io));
    return c.pid;
  }

  async #exited(c: Container, execId: string, pid: number, status: number, io: ProcessIo): Promise<void> {
    const at = new Date();
    if (execId === '') {
      this.#checkOomOf(c);
      // As runc's own shim does: where the container has no PID namespace of its own, what its init
      // started outlives it (reparented to the pod's pause); kill it, so the container is really
      // stopped and its output closes (containerd 1.7+ waits for that before it deletes the task).
      if (c.sharedPid) await this.runc.run(['kill', '--all', c.id, 'KILL']).catch(() => undefined);
    }
    await io.drain();
    this.events.exit({ containerId: c.id, execId, pid, status, at });
  }

  async startContainer(id: string): Promise<void> {
    await this.runc.run(['start', id]).catch((err) => {
      throw wrap(err, `start container ${id}`);
    });
  }

  async createExec(req: ExecRequest): Promise<void> {
    const c = this.#get(req.containerId);
    if (c.execs.has(req.execId)) throw new Error(`exec ${req.execId} already exists in container ${c.id}`);
    const specFile = path.join(c.bundle, `exec-${req.execId}.json`);
    fs.writeFileSync(specFile, JSON.stringify(c.gpu ? vgpuProcess(req.process as { env?: string[] }) : req.process));
    const io = new ProcessIo(req.stdio);
    c.execs.set(req.execId, { id: req.execId, io, specFile, pid: 0 });
  }

  async startExec(containerId: string, execId: string): Promise<number> {
    const c = this.#get(containerId);
    const e = c.execs.get(execId);
    if (!e) throw notFound(`exec ${execId} is not in container ${containerId}`);
    const pidFile = path.join(c.bundle, `exec-${execId}.pid`);
    try {
      e.io.open(path.join(this.runc.root, `e-${execId.slice(0, 12)}-${process.pid}.sock`));
      const args = ['exec', '--detach', '--pid-file', pidFile, '--process', e.specFile];
      if (e.io.stdio.terminal) args.push('--console-socket', e.io.consoleSocket);
      const done = this.runc.run([...args, containerId], { stdio: e.io.runcStdio() });
      await e.io.afterCreate(done);
      await done;
      e.pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    } catch (err) {
      e.io.close();
      throw wrap(err, `exec ${execId} in container ${containerId}`);
    } finally {
      fs.rmSync(pidFile, { force: true });
    }
    this.reaper.watch(e.pid, (status) => void this.#exited(c, execId, e.pid, status, e.io));
    return e.pid;
  }

  async kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.#get(containerId);
    if (execId) {
      const e = c.execs.get(execId);
      if (!e || !e.pid) throw notFound(`exec ${execId} of container ${containerId} is not running`);
      process.kill(e.pid, signal);
      return;
    }
    const args = ['kill'];
    if (all) args.push('--all');
    await this.runc.run([...args, containerId, String(signal)]).catch((err) => {
      // It ended before its exit was reaped: to containerd that is "already finished", as with runc's own shim.
      if (/container not running|does not exist/.test((err as Error).message)) throw notFound(`kill container ${containerId}: process already finished`);
      throw wrap(err, `kill container ${containerId}`);
    });
  }

  async resizePty(containerId: string, execId: string, cols: number, rows: number): Promise<void> {
    const c = this.#get(containerId);
    const io = execId ? c.execs.get(execId)?.io : c.io;
    if (!io) throw notFound(`exec ${execId} is not in container ${containerId}`);
    io.resize(cols, rows);
  }

  async closeStdin(containerId: string, execId: string): Promise<void> {
    const c = this.#get(containerId);
    const io = execId ? c.execs.get(execId)?.io : c.io;
    if (!io) throw notFound(`exec ${execId} is not in container ${containerId}`);
    io.closeStdin();
  }

  async pids(containerId: string): Promise<ProcessInfo[]> {
    this.#get(containerId);
    const out = await this.runc.run(['ps', '--format', 'json', containerId]);
    const pids = (JSON.parse(out || '[]') as number[] | null) ?? [];
    return pids.map((pid) => ({ pid }));
  }

  async stats(containerId: string): Promise<Metrics> {
    const c = this.#get(containerId);
    return cgroupV1Metrics(c.pid);
  }

  async update(containerId: string, resources: object): Promise<void> {
    this.#get(containerId);
    await this.runc.run(['update', '--resources', '-', containerId], { input: JSON.stringify(resources) }).catch((err) => {
      throw wrap(err, `update container ${containerId}`);
    });
  }

  async pause(containerId: string): Promise<void> {
    await this.runc.run(['pause', containerId]);
  }

  async resume(containerId: string): Promise<void> {
    await this.runc.run(['resume', containerId]);
  }

  async deleteExec(containerId: string, execId: string): Promise<void> {
    const c = this.#get(containerId);
    const e = c.execs.get(execId);
    if (!e) return;
    e.io.close();
    fs.rmSync(e.specFile, { force: true });
    c.execs.delete(execId);
  }

  async deleteContainer(id: string): Promise<void> {
    const c = this.#get(id);
    for (const e of c.execs.values()) await this.deleteExec(id, e.id);
    this.reaper.unwatch(c.pid);
    await this.runc.run(['delete', '--force', id]).catch((err) => {
      if (!/does not exist|not exist/.test((err as Error).message)) throw wrap(err, `delete container ${id}`);
    });
    c.io.close();
    if (c.rootfsMounted) await unmountRootfs(c.bundle);
    fs.rmSync(path.join(c.bundle, 'init.pid'), { force: true });
    this.#containers.delete(id);
    this.#oomCounts.delete(id);
  }

  async destroy(): Promise<void> {
    clearInterval(this.#oomTimer);
    for (const id of [...this.#containers.keys()]) await this.deleteContainer(id).catch((err) => this.log.warn({ container: id, err: (err as Error).message }, 'pod removal: container cleanup failed'));
  }

  #oomKills(c: Container): number {
    if (!c.memCgroup) return 0;
    try {
      const text = fs.readFileSync(`${MEMCG}${c.memCgroup}/memory.oom_control`, 'utf8');
      return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  #checkOomOf(c: Container): void {
    const n = this.#oomKills(c);
    if (n > (this.#oomCounts.get(c.id) ?? 0)) {
      this.log.info({ container: c.id, memcg: c.memCgroup, oom_kills: n }, 'OOM kill in the container');
      this.#oomCounts.set(c.id, n);
      this.events.oom(c.id);
    }
  }

  #checkOom(): void {
    for (const c of this.#containers.values()) this.#checkOomOf(c);
  }
}

/**
 * The container's memory cgroup: from the spec's cgroupsPath (cgroupfs form,
 * where runc puts it: known even if the init is already gone), else from
 * /proc/PID/cgroup; '' when neither says.
 */
function memoryCgroupOf(linux: LinuxSpec, pid: number): string {
  const p = linux.cgroupsPath ?? '';
  if (p.startsWith('/')) return p;
  if (p) {
    try {
      // runc (cgroupfs) puts a relative path (e.g. "parent.slice:cri-containerd:ID") under its own cgroup, which is ours
      return path.posix.join(cgroupPaths(process.pid).get('memory') ?? '/', p);
    } catch {
      /* fall back */
    }
  }
  try {
    return cgroupPaths(pid).get('memory') ?? '';
  } catch {
    return '';
  }
}
