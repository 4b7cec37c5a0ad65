// A pod's vGPU.  A pod asks for one with annotations (which containerd's
// CRI passes to the runtime when its runtime config lists them in
// pod_annotations):
//
//   xen-cri.io/vgpu:         "true"  — the pod's containers get a vGPU
//   xen-cri.io/vgpu-memory:  "4G"    — device memory each CUDA process of the pod may use
//
// A container may ask too, with the same annotations on the container (a
// device plugin's Allocate answer: kubelet puts those on the CRI container
// config, which containerd passes when container_annotations lists them): the
// pod is registered then, or its quota raised to the container's.
//
// The shim registers the pod with vgpu-proxy (which then listens on a socket
// of the pod's own) and gives each container, in its OCI spec:
//   - GUEST_LIB_DIR (libcuda.so.1 -> libvgpu.so) bind-mounted read-only, first on LD_LIBRARY_PATH;
//   - the pod's socket folder bind-mounted at /run/vgpu, and VGPU_PROXY_SOCKET.
// Removing the pod unregisters it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { gpuRequest, type GpuRequest } from '../../src/vgpu-annotations.js';
import { ControlClient, PodRegistration } from '../../src/proxy-control-client.js';
import type { ShimConfig } from '../config.js';
import { invalidArgument, failedPrecondition } from '../ttrpc/status.js';

export const GUEST_LIB_DIR = '/usr/local/xen-cri/vgpu/lib';
export const GUEST_SOCKET_DIR = '/run/vgpu';
export const GUEST_SOCKET = `${GUEST_SOCKET_DIR}/proxy.sock`;

/** The vGPU a pod's or a container's annotations ask for (src/vgpu-annotations.ts); one it cannot read is InvalidArgument. */
export function readGpuRequest(annotations: Record<string, string>): GpuRequest | null {
  try {
    return gpuRequest(annotations);
  } catch (err) {
    throw invalidArgument((err as Error).message);
  }
}

export class PodGpu {
  #reg: PodRegistration | null = null;
  #memQuota: number;

  constructor(readonly podId: string, memQuota: number, readonly config: ShimConfig, readonly log: Logger) {
    this.#memQuota = memQuota;
  }

  /** bytes each CUDA process of the pod may use; 0: vgpu-proxy's default */
  get memQuota(): number {
    return this.#memQuota;
  }

  static fromAnnotations(podId: string, annotations: Record<string, string>, config: ShimConfig, log: Logger): PodGpu | null {
    const req = readGpuRequest(annotations);
    return req ? new PodGpu(podId, req.memQuota, config, log) : null;
  }

  async register(): Promise<void> {
    const lib = path.join(this.config.vgpu.guestLibDir, 'libcuda.so.1');
    if (!fs.existsSync(lib)) throw failedPrecondition(`pod ${this.podId} asks for a vGPU but ${lib} is missing (run deploy/install.sh)`);
    const client = new ControlClient(this.config.vgpu.controlSocket);
    try {
      this.#reg = await client.registerPod(this.podId, this.memQuota);
    } catch (err) {
      throw failedPrecondition(`pod ${this.podId} asks for a vGPU: ${(err as Error).message} (is vgpu-proxy running with --control-socket?)`);
    } finally {
      client.close();
    }
    this.log.info({ pod: this.podId, mem_quota: this.memQuota, socket: this.#reg.socketPath }, 'vGPU registered with vgpu-proxy');
  }

  /**
   * A container of the pod brings its own quota (a device plugin's allocation):
   * the pod's registration is raised to it when it is more, or replaces the
   * proxy's default (0).  Never lowered: the quota is per CUDA process of the
   * pod, and another container may have been allocated more.  Returns whether
   * it changed.
   */
  async raiseQuota(memQuota: number): Promise<boolean> {
    if (!this.#reg) throw failedPrecondition(`pod ${this.podId}: vGPU not registered`);
    if (memQuota === 0 || (this.#memQuota !== 0 && memQuota <= this.#memQuota)) return false;
    const client = new ControlClient(this.config.vgpu.controlSocket);
    try {
      await client.setPodQuota(this.podId, memQuota);
    } catch (err) {
      throw failedPrecondition(`pod ${this.podId}: raise the vGPU quota to ${memQuota}: ${(err as Error).message}`);
    } finally {
      client.close();
    }
    this.log.info({ pod: this.podId, mem_quota: memQuota, previous: this.#memQuota }, "vGPU quota raised to a container's");
    this.#memQuota = memQuota;
    return true;
  }

  async unregister(): Promise<void> {
    await unregisterPod(this.config.vgpu.controlSocket, this.podId);
    this.log.info({ pod: this.podId }, 'vGPU registration released');
    this.#reg = null;
  }

  /** Adds the vGPU library, the pod's proxy socket and their environment to BUNDLE/config.json. */
  injectIntoBundle(bundle: string): void {
    if (!this.#reg) throw failedPrecondition(`pod ${this.podId}: vGPU not registered`);
    const file = path.join(bundle, 'config.json');
    const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
    spec.mounts = [
      ...(spec.mounts ?? []),
      { destination: GUEST_LIB_DIR, type: 'bind', source: this.config.vgpu.guestLibDir, options: ['rbind', 'ro', 'nosuid', 'nodev'] },
      { destination: GUEST_SOCKET_DIR, type: 'bind', source: this.#reg.socketDir, options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'] },
    ];
    spec.process = PodGpu.injectIntoProcess(spec.process ?? {});
    fs.writeFileSync(file, JSON.stringify(spec));
  }

  /** The vGPU environment for one OCI process (a container's, or an exec's: CRI builds those from its own copy of the spec). */
  static injectIntoProcess(proc: { env?: string[] }): { env: string[] } {
    const env: string[] = (proc.env ?? []).filter((e: string) => !e.startsWith('VGPU_PROXY_SOCKET='));
    const ld = env.findIndex((e) => e.startsWith('LD_LIBRARY_PATH='));
    if (ld >= 0) env[ld] = `LD_LIBRARY_PATH=${GUEST_LIB_DIR}:${env[ld]!.slice('LD_LIBRARY_PATH='.length)}`;
    else env.push(`LD_LIBRARY_PATH=${GUEST_LIB_DIR}`);
    env.push(`VGPU_PROXY_SOCKET=${GUEST_SOCKET}`);
    return { ...proc, env };
  }
}

export async function unregisterPod(controlSocket: string, podId: string): Promise<boolean> {
  const client = new ControlClient(controlSocket);
  try {
    return await client.unregisterPod(podId);
  } finally {
    client.close();
  }
}
