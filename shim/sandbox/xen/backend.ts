// The `xen` backend: each pod is a PV DomU (a pod VM) started through Xen's
// toolstack (xl) from the pod-VM kernel and initramfs (nodeimage/), with the
// guest agent (agent/) as its PID 1.  Sized from the pod's annotations plus
// a fixed overhead; destroyed, with its disks, when the pod is removed, when
// `shim delete` cleans up after a dead shim, or by the pod VM itself when
// its shim's channel goes away.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DestinationStream } from 'pino';
import { execFileSync } from 'node:child_process';
import pino, { Logger } from 'pino';
import { parseSize } from '../../../src/gpu-annotations.js';
import type { PodRequest, Sandbox, SandboxBackend, SandboxEvents } from '../backend.js';
import { AgentClient } from './agent-client.js';
import { readXenConfig, XenConfig } from './config.js';
import { destroyByName, Domain, domainName, run } from './domain.js';
import { XenPodRecord, XenSandbox } from './sandbox.js';
import { Vchan } from './vchan.js';

export const AGENT_XS_PATH = 'data/xen-cri/agent';
const ANN = {
  memory: 'xen-cri.io/memory', // MiB or a size with a suffix
  vcpus: 'xen-cri.io/vcpus',
  // containerd 1.7+: the pod's resources (kubelet's, the RuntimeClass overhead included)
  criMemory: 'io.kubernetes.cri.sandbox-memory',
  criCpuQuota: 'io.kubernetes.cri.sandbox-cpu-quota',
  criCpuPeriod: 'io.kubernetes.cri.sandbox-cpu-period',
};

export interface XenBackendOptions {
  stateDir?: string;
  config?: XenConfig;
}

/** xen-cri.io/memory: a number of MiB, or a size as the vGPU quota is written (src/gpu-annotations.ts); NaN where it is neither. */
function memoryBytes(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 2 ** 20;
  try {
    return parseSize(text, ANN.memory);
  } catch {
    return NaN;
  }
}

/** The pod VM's size: the pod's own request (annotations), else the default, plus the fixed overhead. */
export function podSize(annotations: Record<string, string>, c: XenConfig): { memoryMiB: number; vcpus: number } {
  let mib = c.defaultMemoryMiB;
  const own = annotations[ANN.memory];
  const cri = annotations[ANN.criMemory];
  if (own) {
    const b = memoryBytes(own);
    if (!(b > 0)) throw new Error(`backend xen: annotation ${ANN.memory}="${own}" is not a size`);
    mib = Math.ceil(b / 2 ** 20);
  } else if (cri && Number(cri) > 0) {
    mib = Math.ceil(Number(cri) / 2 ** 20);
  }
  let vcpus = c.defaultVcpus;
  const v = annotations[ANN.vcpus];
  if (v) {
    vcpus = Number(v);
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 128) throw new Error(`backend xen: annotation ${ANN.vcpus}="${v}" is not a vCPU count`);
  } else if (Number(annotations[ANN.criCpuQuota]) > 0 && Number(annotations[ANN.criCpuPeriod]) > 0) {
    vcpus = Math.max(1, Math.ceil(Number(annotations[ANN.criCpuQuota]) / Number(annotations[ANN.criCpuPeriod])));
  }
  return { memoryMiB: mib + c.baseMemoryMiB, vcpus };
}

/**
 * Where the shim's own log goes when no logger is handed in: containerd's
 * `log` FIFO in the shim's working folder (as shim/daemon.ts opens it),
 * else stderr.
 */
function shimLog(): DestinationStream {
  let fd = 2;
  try {
    fd = fs.openSync('log', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    /* not started by containerd */
  }
  return {
    write(s: string): void {
      try {
        fs.writeSync(fd, s);
      } catch {
        /* containerd is not reading: drop the line */
      }
    },
  };
}

export class XenBackend implements SandboxBackend {
  readonly name = 'xen';
  readonly stateDir: string;
  readonly log: Logger;
  #config: XenConfig | null;

  constructor(opts: XenBackendOptions = {}, log?: Logger) {
    this.stateDir = path.join(opts.stateDir ?? '/run/xen-cri', 'xen');
    this.#config = opts.config ?? null;
    this.log = log ?? pino({ level: 'info', base: { runtime: 'xen-cri', backend: 'xen' } }, shimLog());
  }

  get config(): XenConfig {
    this.#config ??= readXenConfig();
    return this.#config;
  }

  async probe(): Promise<void> {
    let caps = '';
    try {
      caps = fs.readFileSync('/proc/xen/capabilities', 'utf8');
    } catch {
      throw new Error('backend xen: this host is not running on Xen (no /proc/xen/capabilities); use backend "process" on hosts without Xen');
    }
    if (!caps.includes('control_d')) throw new Error('backend xen: this host is a Xen guest, not the control domain (dom0): pods cannot be started from here');
    try {
      execFileSync(this.config.xl, ['info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`backend xen: xl info failed: ${(err as Error).message.split('\n')[0]} (is xenstored running?)`);
    }
    for (const f of [this.config.kernel, this.config.ramdisk]) {
      if (!fs.existsSync(f)) throw new Error(`backend xen: the pod VM image ${f} is missing (nodeimage/build-guest.sh makes it; /etc/xen-cri/xen.json names it)`);
    }
  }

  async createSandbox(pod: PodRequest, events: SandboxEvents): Promise<Sandbox> {
    const c = this.config;
    const t0 = performance.now();
    const size = podSize(pod.annotations, c);
    // A vGPU pod's VM is marked for vgpu-proxy with its quota (xenstore) and gets the grant frames its channel needs.
    const vgpuMemory = pod.gpu ? pod.gpu.memQuota : null;
    const domain = new Domain({ name: domainName(pod.id), memoryMiB: size.memoryMiB, vcpus: size.vcpus, vgpuMemory }, c, this.stateDir);
    await domain.create();
    let sandbox: XenSandbox | null = null;
    let agent: AgentClient | null = null;
    try {
      await domain.unpause();
      const tCreated = performance.now();
      const vchan = await this.#connect(domain);
      agent = new AgentClient(vchan, {
        output: (cid, eid, fd, data) => sandbox?.onOutput(cid, eid, fd, data),
        exit: (cid, eid, _pid, status) => sandbox?.onExit(cid, eid, status),
        closed: (why) => sandbox?.onVmGone(why),
      });
      await agent.ready;
      sandbox = new XenSandbox(pod, domain, agent, c, events, this.log, this.stateDir);
      this.log.info({ pod: pod.id, domain: domain.spec.name, domid: domain.domid, memory_mib: size.memoryMiB, vcpus: size.vcpus, vgpu: !!pod.gpu,
        xl_create_ms: Math.round(tCreated - t0), agent_ms: Math.round(performance.now() - tCreated) }, 'pod VM running');
      return sandbox;
    } catch (err) {
      agent?.close();
      await domain.destroy().catch(() => undefined);
      throw new Error(`boot pod vm ${domain.spec.name}: ${(err as Error).message}`);
    }
  }

  /** Waits for the agent's vchan offer in the domain's xenstore home, then connects. */
  async #connect(domain: Domain): Promise<Vchan> {
    const end = performance.now() + this.config.bootTimeoutMs;
    const xsPath = `/local/domain/${domain.domid}/${AGENT_XS_PATH}`;
    for (;;) {
      const v = Vchan.tryConnect(domain.domid, xsPath);
      if (v) return v;
      if (performance.now() > end) {
        throw new Error(`the agent did not offer its channel at ${xsPath} within ${this.config.bootTimeoutMs} ms (see the pod VM's console: /var/log/xen/console/guest-${domain.spec.name}.log)`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async cleanupDead(_namespace: string, id: string, _bundle: string): Promise<number> {
    // The pod's record names its domain and loop devices; the domain name alone is enough to find it.
    const file = path.join(this.stateDir, `${id}.json`);
    let rec: XenPodRecord | null = null;
    try {
      rec = JSON.parse(fs.readFileSync(file, 'utf8')) as XenPodRecord;
    } catch {
      /* not a pod's sandbox, or already cleaned */
    }
    if (!rec) return 0;
    const destroyed = await destroyByName(this.config.xl, rec.domain).catch((err) => {
      this.log.warn({ domain: rec!.domain, err: (err as Error).message }, 'cleanup: xl destroy failed');
      return false;
    });
    for (const d of rec.disks) await run('losetup', ['-d', d.loop]).catch(() => undefined);
    for (const cid of rec.containers) fs.rmSync(path.join(rec.diskDir, `rw-${cid}.img`), { force: true });
    fs.rmSync(file, { force: true });
    this.log.info({ pod: id, domain: rec.domain, destroyed }, 'cleanup after a dead shim: pod VM and disks released');
    return 0;
  }
}
