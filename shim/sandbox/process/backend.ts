// The `process` backend: for hosts without Xen.  A pod's containers run
// under the distribution's runc, with container isolation only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { PodRequest, Sandbox, SandboxBackend, SandboxEvents } from '../backend.js';
import { Reaper } from './reaper.js';
import { Runc } from './runc.js';
import { ProcessSandbox } from './sandbox.js';
import { unmountRootfs } from './rootfs.js';

export interface ProcessBackendOptions {
  runc: string;
  stateDir: string;
  /** the host's libvgpu folder (the shim config's vgpu.guestLibDir), mounted into containers given the pod's vGPU */
  vgpuLibDir: string;
}

export class ProcessBackend implements SandboxBackend {
  readonly name = 'process';
  readonly reaper = new Reaper();

  constructor(readonly opts: ProcessBackendOptions, readonly log: Logger) {}

  runcFor(namespace: string): Runc {
    return new Runc(this.opts.runc, path.join(this.opts.stateDir, 'runc', namespace), this.reaper);
  }

  async probe(): Promise<void> {
    try {
      execFileSync(this.opts.runc, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`backend process: runc (${this.opts.runc}) cannot run: ${(err as Error).message.split('\n')[0]} (install the distribution's runc package)`);
    }
  }

  async createSandbox(pod: PodRequest, events: SandboxEvents): Promise<Sandbox> {
    this.reaper.start();
    return new ProcessSandbox(pod, this.runcFor(pod.namespace), this.reaper, events, this.log, this.opts.vgpuLibDir);
  }

  async cleanupDead(namespace: string, id: string, bundle: string): Promise<number> {
    const runc = this.runcFor(namespace);
    let pid = 0;
    try {
      pid = Number(fs.readFileSync(path.join(bundle, 'init.pid'), 'utf8').trim()) || 0;
    } catch {
      /* never created */
    }
    await runc.run(['delete', '--force', id]).catch((err) => {
      if (!/does not exist/.test((err as Error).message)) throw err;
    });
    await unmountRootfs(bundle);
    for (const f of fs.existsSync(bundle) ? fs.readdirSync(bundle) : []) {
      if (f === 'init.pid' || /^exec-.*\.(json|pid)$/.test(f)) fs.rmSync(path.join(bundle, f), { force: true });
    }
    return pid;
  }
}
