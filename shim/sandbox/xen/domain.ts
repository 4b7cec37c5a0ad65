// One pod VM, through Xen's toolstack (xl) and xenstore: created paused,
// marked (vGPU), unpaused, disks hot-plugged and unplugged, destroyed.  The
// domain is a small state machine: transitions that make no sense are errors
// naming both states.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { XenConfig } from './config.js';

export type DomainState = 'new' | 'paused' | 'running' | 'destroyed';

export class XlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XlError';
  }
}

export function run(file: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new XlError(`${path.basename(file)} ${args.join(' ')}: ${(stderr || err.message).trim().split('\n').slice(-3).join('; ')}`));
      else resolve(stdout);
    });
  });
}

/** The domain name of a pod: stable, so `shim delete` finds it after the shim died. */
export function domainName(podId: string): string {
  return `xen-cri-${podId.slice(0, 24)}`;
}

export interface DomainSpec {
  name: string;
  memoryMiB: number;
  vcpus: number;
  /** bytes of device memory each CUDA process of the pod may use (0: vgpu-proxy's default), or null for no vGPU */
  vgpuMemory: number | null;
}

export class Domain {
  state: DomainState = 'new';
  domid = 0;
  #nextDisk = 1; // xvda is never used: xvdb, xvdc, ...

  constructor(readonly spec: DomainSpec, readonly config: XenConfig, readonly stateDir: string) {}

  #move(to: DomainState, ...from: DomainState[]): void {
    if (!from.includes(this.state)) throw new XlError(`domain ${this.spec.name}: cannot go from ${this.state} to ${to}`);
    this.state = to;
  }

  get configPath(): string {
    return path.join(this.stateDir, `${this.spec.name}.cfg`);
  }

  /** xl create -p: the domain exists, paused, its xenstore home made. */
  async create(): Promise<void> {
    this.#move('paused', 'new');
    fs.mkdirSync(this.stateDir, { recursive: true });
    const c = this.config;
    const cfg = [
      `name = "${this.spec.name}"`,
      'type = "pv"',
      `kernel = "${c.kernel}"`,
      `ramdisk = "${c.ramdisk}"`,
      `extra = "console=hvc0 ${c.extra}"`,
      `memory = ${this.spec.memoryMiB}`,
      `vcpus = ${this.spec.vcpus}`,
      // vGPU rings are granted pages: room for a few 64 MiB arenas (Xen's gnttab_max_frames must allow it).
      `max_grant_frames = ${this.spec.vgpuMemory !== null ? 256 : 32}`,
      'on_poweroff = "destroy"',
      'on_reboot = "destroy"',
      'on_crash = "destroy"',
    ].join('\n');
    fs.writeFileSync(this.configPath, `${cfg}\n`);
    try {
      await run(c.xl, ['create', '-p', this.configPath]);
      this.domid = Number((await run(c.xl, ['domid', this.spec.name])).trim());
    } catch (err) {
      this.state = 'new';
      await run(c.xl, ['destroy', this.spec.name]).catch(() => undefined);
      throw err;
    }
    if (this.spec.vgpuMemory !== null) await this.#markVgpu(this.spec.vgpuMemory);
  }

  /** Dom0's mark that vgpu-proxy serves this domain (vgpu/include/vgpu_xen.h): owner Dom0, the guest may read. */
  async #markVgpu(bytes: number): Promise<void> {
    const dir = `/local/domain/${this.domid}/xen-cri`;
    await run('xenstore-write', [`${dir}/vgpu-memory`, String(bytes)]);
    await run('xenstore-chmod', ['-r', dir, 'n0', `r${this.domid}`]);
  }

  async unpause(): Promise<void> {
    await run(this.config.xl, ['unpause', this.spec.name]);
    this.#move('running', 'paused');
  }

  /** Hot-plugs a block device backed by a file; returns its name in the guest (xvdb...). */
  async attachDisk(file: string, readOnly: boolean): Promise<{ vdev: string; loop: string }> {
    if (this.state !== 'running' && this.state !== 'paused') throw new XlError(`domain ${this.spec.name}: cannot attach a disk while ${this.state}`);
    const n = this.#nextDisk++;
    const vdev = `xvd${n < 26 ? String.fromCharCode(97 + n) : String.fromCharCode(96 + Math.floor(n / 26)) + String.fromCharCode(97 + (n % 26))}`;
    // A loop device of our own, so blkback serves it directly (no disk backend process in Dom0).
    const loop = (await run('losetup', ['--find', '--show', ...(readOnly ? ['--read-only'] : []), file])).trim();
    try {
      await run(this.config.xl, ['block-attach', this.spec.name, `format=raw,vdev=${vdev},access=${readOnly ? 'ro' : 'rw'},script=${this.config.blockScript},target=${loop}`]);
    } catch (err) {
      await run('losetup', ['-d', loop]).catch(() => undefined);
      throw err;
    }
    return { vdev, loop };
  }

  async detachDisk(disk: { vdev: string; loop: string }): Promise<void> {
    if (this.state === 'running' || this.state === 'paused') await run(this.config.xl, ['block-detach', this.spec.name, disk.vdev]).catch(() => undefined);
    await run('losetup', ['-d', disk.loop]).catch(() => undefined);
  }

  /** What Xen accounts to the domain (xl list): its memory, and the CPU time of all its vCPUs. */
  async usage(): Promise<{ memoryBytes: number; cpuNs: number }> {
    const out = await run(this.config.xl, ['list', this.spec.name]);
    // Name ID Mem(MiB) VCPUs State Time(s)
    const f = out.trim().split('\n').pop()!.trim().split(/\s+/);
    const mem = Number(f[2]);
    const secs = Number(f[5]);
    if (f[0] !== this.spec.name || !Number.isFinite(mem) || !Number.isFinite(secs)) throw new XlError(`xl list ${this.spec.name}: unexpected output: ${out.trim().split('\n').pop()}`);
    return { memoryBytes: mem * 1024 * 1024, cpuNs: Math.round(secs * 1e9) };
  }

  /** Destroys the domain: every Xen resource it held is released; idempotent. */
  async destroy(): Promise<void> {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    await destroyByName(this.config.xl, this.spec.name);
    fs.rmSync(this.configPath, { force: true });
  }
}

/** xl destroy NAME, when such a domain exists. */
export async function destroyByName(xl: string, name: string): Promise<boolean> {
  try {
    await run(xl, ['domid', name]);
  } catch {
    return false;
  }
  try {
    await run(xl, ['destroy', name]);
  } catch (err) {
    // It may have powered itself off meanwhile (its agent does when the shim's channel closes):
    // gone is what was asked for.
    if (await run(xl, ['domid', name]).then(() => true, () => false)) throw err;
  }
  return true;
}
