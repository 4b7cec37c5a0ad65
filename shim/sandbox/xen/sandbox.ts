// A pod of the `xen` backend: one PV DomU running the guest agent; the pod's
// sandbox (pause) container is the VM itself, every other container runs
// inside it on block devices built from its snapshot.  Containers' streams
// reach containerd's FIFOs through the agent channel; their pids are the
// shim's (a guest pid means nothing on the host), their guest pids come from
// `pids`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { ANN_VGPU } from '../../../src/gpu-annotations.js';
import type { ContainerRequest, ExecRequest, GpuRequest, Metrics, PodRequest, ProcessInfo, Sandbox, SandboxEvents } from '../backend.js';
import { failedPrecondition, notFound, unimplemented, wrap } from '../../ttrpc/status.js';
import { AgentClient, Msg, Pairs, get } from './agent-client.js';
import type { XenConfig } from './config.js';
import { Domain } from './domain.js';
import { XenIo } from './io.js';
import { layersImage, removeWritable, snapshotLayers, writableImage } from './rootfs.js';
import { OciMount, OciProcess, processPairs, translateMounts, vgpuEnv } from './spec.js';

type ContainerState = 'created' | 'running' | 'stopped';

interface Proc {
  io: XenIo;
  spec: OciProcess | null;
  started: boolean;
  exited: boolean;
}

interface Container {
  id: string;
  isSandbox: boolean;
  /** given the pod's vGPU: its processes get the vGPU environment */
  gpu: boolean;
  state: ContainerState;
  init: Proc;
  execs: Map<string, Proc>;
  disks: { vdev: string; loop: string }[];
}

export interface XenPodRecord {
  domain: string;
  disks: { loop: string }[];
  diskDir: string;
  containers: string[];
}

export class XenSandbox implements Sandbox {
  readonly #containers = new Map<string, Container>();
  readonly #stateFile: string;
  #destroyed = false;
  /** set while the shim itself stops the VM: the agent channel's end is expected then */
  #stopping = false;

  constructor(
    readonly pod: PodRequest,
    readonly domain: Domain,
    readonly agent: AgentClient,
    readonly config: XenConfig,
    readonly events: SandboxEvents,
    readonly log: Logger,
    stateDir: string,
  ) {
    this.#stateFile = path.join(stateDir, `${pod.id}.json`);
    this.#save();
  }

  get id(): string {
    return this.pod.id;
  }

  /**
   * The pod VM's vGPU is set when the VM is created (its xenstore mark and quota, domain.ts): a
   * container may ask for it, at no more than the pod's quota, only where the pod asked itself.
   */
  admitGpu(containerId: string, want: GpuRequest): void {
    const have = this.pod.gpu;
    if (!have) throw failedPrecondition(`container ${containerId} asks for a vGPU but its pod ${this.pod.id} did not: with the xen backend the pod itself needs the annotation ${ANN_VGPU}`);
    if (want.memQuota !== 0 && (have.memQuota === 0 || want.memQuota > have.memQuota)) {
      throw failedPrecondition(`container ${containerId} asks for ${want.memQuota} bytes of vGPU memory, more than its pod ${this.pod.id} (${have.memQuota || 'the default'}): with the xen backend the pod VM's quota is set when it is created`);
    }
  }

  /** What `shim delete` needs after this shim died: the domain and the loop devices. */
  #save(): void {
    const rec: XenPodRecord = {
      domain: this.domain.spec.name,
      disks: [...this.#containers.values()].flatMap((c) => c.disks.map((d) => ({ loop: d.loop }))),
      diskDir: this.config.diskDir,
      containers: [...this.#containers.keys()],
    };
    fs.mkdirSync(path.dirname(this.#stateFile), { recursive: true });
    fs.writeFileSync(this.#stateFile, JSON.stringify(rec));
  }

  #get(id: string): Container {
    const c = this.#containers.get(id);
    if (!c) throw notFound(`container ${id} is not in pod ${this.pod.id}`);
    return c;
  }

  /** The agent's events, routed to the containers' streams and containerd. */
  onOutput(cid: string, eid: string, fd: 1 | 2, data: Buffer): void {
    const c = this.#containers.get(cid);
    const p = c && (eid ? c.execs.get(eid) : c.init);
    p?.io.write(fd, data);
  }

  onExit(cid: string, eid: string, status: number): void {
    const c = this.#containers.get(cid);
    const p = c && (eid ? c.execs.get(eid) : c.init);
    if (!c || !p || p.exited) return;
    this.#exited(c, eid, p, status);
  }

  #exited(c: Container, eid: string, p: Proc, status: number): void {
    p.exited = true;
    if (!eid) c.state = 'stopped';
    const at = new Date();
    // Its output reached the FIFOs, /then/ they are closed (containerd waits for their end), /then/ the exit.
    void p.io.drain().then(() => {
      p.io.close();
      this.events.exit({ containerId: c.id, execId: eid, pid: process.pid, status, at });
    });
  }

  /** The pod VM is gone (destroyed, crashed, or the agent channel broke): every process in it has ended. */
  onVmGone(why: string): void {
    if (this.#destroyed || this.#stopping) return;
    this.log.warn({ pod: this.pod.id, domain: this.domain.spec.name, reason: why }, 'pod VM gone: its processes have ended');
    for (const c of this.#containers.values()) {
      for (const [eid, p] of c.execs) if (!p.exited) this.#exited(c, eid, p, 137);
      if (!c.init.exited) this.#exited(c, '', c.init, 137);
    }
  }

  #readSpec(bundle: string): { process: OciProcess; mounts: OciMount[]; hostname?: string } {
    try {
      return JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    } catch (err) {
      throw new Error(`bundle ${bundle}: cannot read config.json: ${(err as Error).message}`);
    }
  }

  async createContainer(req: ContainerRequest): Promise<number> {
    if (this.#containers.has(req.id)) throw new Error(`container ${req.id} exists in pod ${this.pod.id}`);
    const io = new XenIo(req.stdio);
    const c: Container = { id: req.id, isSandbox: req.isSandbox, gpu: !!req.gpu, state: 'created', init: { io, spec: null, started: false, exited: false }, execs: new Map(), disks: [] };
    if (req.isSandbox) {
      // The pause container is the pod VM itself: it runs from createSandbox until the pod is removed.
      this.#containers.set(req.id, c);
      this.#save();
      return process.pid;
    }
    const t0 = performance.now();
    try {
      const spec = this.#readSpec(req.bundle);
      const layers = snapshotLayers(req.rootfs);
      const ro = await layersImage(this.config.diskDir, layers.lower);
      const rw = await writableImage(this.config.diskDir, req.id, layers.upper, this.config.writableMiB);
      const tDisks = performance.now();
      c.disks.push(await this.domain.attachDisk(ro, true));
      c.disks.push(await this.domain.attachDisk(rw, false));
      this.#containers.set(req.id, c);
      this.#save();
      const tAttach = performance.now();
      const proc = { ...spec.process, env: c.gpu ? vgpuEnv(spec.process.env) : spec.process.env };
      const mounts = translateMounts(spec.mounts ?? [], c.gpu);
      for (const f of mounts.files) await this.agent.request(Msg.FILE, [['cid', req.id], ['name', f.name]], `copy ${f.name} into container ${req.id}`, f.data);
      const kv: Pairs = [
        ['cid', req.id],
        ['rootfs-ro', c.disks[0]!.vdev],
        ['rootfs-ro-type', 'ext4'],
        ['rootfs-rw', c.disks[1]!.vdev],
        ['hostname', spec.hostname ?? ''],
        ...processPairs(proc, !!req.stdio.stdin),
        ...mounts.kv,
      ];
      await this.agent.request(Msg.CREATE, kv, `create container ${req.id} in the pod VM`);
      io.pipeStdin((d) => this.agent.send(Msg.STDIN, [['cid', req.id], ['eid', ''], ...(d ? [] : [['eof', '1'] as [string, string]])], d ?? undefined));
      this.log.info({ container: req.id, disks_ms: Math.round(tDisks - t0), attach_ms: Math.round(tAttach - tDisks), create_ms: Math.round(performance.now() - tAttach) }, 'container created in the pod VM');
    } catch (err) {
      io.close();
      for (const d of c.disks) await this.domain.detachDisk(d).catch(() => undefined);
      removeWritable(this.config.diskDir, req.id);
      this.#containers.delete(req.id);
      this.#save();
      throw wrap(err, `create container ${req.id}`);
    }
    return process.pid;
  }

  async startContainer(id: string): Promise<void> {
    const c = this.#get(id);
    if (c.state !== 'created') throw new Error(`container ${id}: cannot start: it is ${c.state}`);
    if (!c.isSandbox) await this.agent.request(Msg.START, [['cid', id]], `start container ${id}`);
    c.init.started = true;
    if (!c.init.exited) c.state = 'running';
  }

  async createExec(req: ExecRequest): Promise<void> {
    const c = this.#get(req.containerId);
    if (c.isSandbox) throw unimplemented('exec in the pod sandbox (the pod VM itself) is not supported by the xen backend');
    if (c.execs.has(req.execId)) throw new Error(`exec ${req.execId} already exists in container ${c.id}`);
    c.execs.set(req.execId, { io: new XenIo(req.stdio), spec: req.process as OciProcess, started: false, exited: false });
  }

  async startExec(containerId: string, execId: string): Promise<number> {
    const c = this.#get(containerId);
    const p = c.execs.get(execId);
    if (!p || !p.spec) throw notFound(`exec ${execId} is not in container ${containerId}`);
    if (p.started) throw new Error(`exec ${execId}: cannot start: it was started`);
    const spec = { ...p.spec, env: c.gpu ? vgpuEnv(p.spec.env) : p.spec.env };
    await this.agent.request(Msg.EXEC, [['cid', containerId], ['eid', execId], ...processPairs(spec, !!p.io.stdio.stdin)], `exec ${execId} in container ${containerId}`);
    p.started = true;
    p.io.pipeStdin((d) => this.agent.send(Msg.STDIN, [['cid', containerId], ['eid', execId], ...(d ? [] : [['eof', '1'] as [string, string]])], d ?? undefined));
    return process.pid;
  }

  async kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.#get(containerId);
    if (c.isSandbox && !execId) {
      // Stopping the sandbox is stopping the pod VM: everything in it ends.
      if (c.init.exited) throw notFound(`kill container ${containerId}: process already finished`);
      await this.#shutdownVm();
      return;
    }
    const p = execId ? c.execs.get(execId) : c.init;
    if (!p || p.exited) throw notFound(`kill container ${containerId}: process already finished`);
    await this.agent.request(Msg.SIGNAL, [['cid', containerId], ['eid', execId], ['sig', String(signal)], ['all', all ? '1' : '0']], `signal ${signal} to ${containerId}${execId ? `/${execId}` : ''}`);
  }

  async #shutdownVm(): Promise<void> {
    const t0 = performance.now();
    // The VM is gone, /then/ its processes' exits are reported: containerd may remove the pod at once.
    this.#stopping = true;
    this.agent.close();
    await this.domain.destroy();
    this.log.info({ pod: this.pod.id, ms: Math.round(performance.now() - t0) }, 'pod VM destroyed');
    this.#stopping = false;
    this.onVmGone('the pod sandbox was stopped');
  }

  async resizePty(containerId: string, execId: string, cols: number, rows: number): Promise<void> {
    this.#get(containerId);
    await this.agent.request(Msg.RESIZE, [['cid', containerId], ['eid', execId], ['cols', String(cols)], ['rows', String(rows)]], `resize the terminal of ${containerId}`);
  }

  async closeStdin(containerId: string, execId: string): Promise<void> {
    const c = this.#get(containerId);
    const p = execId ? c.execs.get(execId) : c.init;
    if (!p) throw notFound(`exec ${execId} is not in container ${containerId}`);
    p.io.closeStdin();
    this.agent.send(Msg.STDIN, [['cid', containerId], ['eid', execId], ['eof', '1']]);
  }

  async pids(containerId: string): Promise<ProcessInfo[]> {
    const c = this.#get(containerId);
    if (c.isSandbox) return [{ pid: process.pid, info: `pod VM ${this.domain.spec.name} (domain ${this.domain.domid})` }];
    const f = await this.agent.request(Msg.PIDS, [['cid', containerId]], `pids of ${containerId}`);
    return (get(f, 'pids') ?? '').split(',').filter(Boolean).map((p) => ({ pid: Number(p), info: 'guest pid' }));
  }

  async stats(containerId: string): Promise<Metrics> {
    const c = this.#get(containerId);
    if (c.isSandbox) {
      // The pod sandbox is the pod VM: what Xen accounts to the domain.
      const u = await this.domain.usage();
      return { cpu: { usage: { total: u.cpuNs } }, memory: { usage: { usage: u.memoryBytes } } };
    }
    if (c.init.exited) throw notFound(`statistics of ${containerId}: the container has exited`);
    if (this.agent.closed) throw new Error(`statistics of ${containerId}: the pod VM's agent channel is closed (the pod VM is gone)`);
    // In the pod VM, the container's processes (its PID namespace): CPU time and resident memory.
    const f = await this.agent.request(Msg.STATS, [['cid', containerId]], `statistics of ${containerId}`);
    const n = (k: string) => Number(get(f, k) ?? 0) || 0;
    const rss = n('rss');
    return {
      cpu: { usage: { total: n('user_ns') + n('kernel_ns'), user: n('user_ns'), kernel: n('kernel_ns') } },
      memory: { rss, totalRss: rss, usage: { usage: rss } },
      pids: { current: n('pids') },
    };
  }

  async update(_containerId: string, _resources: object): Promise<void> {
    throw unimplemented('backend xen: changing a container\'s resources inside a pod VM is not implemented (the pod VM is sized at creation)');
  }

  async pause(_containerId: string): Promise<void> {
    throw unimplemented('backend xen: pausing containers is not implemented');
  }

  async resume(_containerId: string): Promise<void> {
    throw unimplemented('backend xen: resuming containers is not implemented');
  }

  async deleteExec(containerId: string, execId: string): Promise<void> {
    const c = this.#get(containerId);
    const p = c.execs.get(execId);
    if (!p) return;
    p.io.close();
    c.execs.delete(execId);
    if (!this.agent.closed) await this.agent.request(Msg.DELETE_EXEC, [['cid', containerId], ['eid', execId]], `delete exec ${execId}`).catch(() => undefined);
  }

  async deleteContainer(id: string): Promise<void> {
    const c = this.#get(id);
    for (const eid of [...c.execs.keys()]) await this.deleteExec(id, eid);
    if (!c.isSandbox) {
      if (!this.agent.closed) await this.agent.request(Msg.DELETE, [['cid', id]], `delete container ${id} in the pod VM`);
      for (const d of c.disks) await this.domain.detachDisk(d);
      removeWritable(this.config.diskDir, id);
    }
    c.init.io.close();
    this.#containers.delete(id);
    this.#save();
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    const t0 = performance.now();
    this.#destroyed = true;
    this.agent.close();
    await this.domain.destroy();
    for (const c of this.#containers.values()) {
      c.init.io.close();
      for (const p of c.execs.values()) p.io.close();
      for (const d of c.disks) await this.domain.detachDisk(d).catch(() => undefined);
      removeWritable(this.config.diskDir, c.id);
    }
    this.#containers.clear();
    fs.rmSync(this.#stateFile, { force: true });
    this.log.info({ pod: this.pod.id, ms: Math.round(performance.now() - t0) }, 'pod removed: its VM and disks are released');
  }
}
