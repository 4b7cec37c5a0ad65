// The shim's side of a pod's vGPU: vgpu-proxy's registration of the pod.  A
// pod asks for a vGPU with its annotations, a container with its own (a
// device plugin's Allocate answer), read once by readGpuRequest
// (src/gpu-annotations.ts says what they accept).  The shim registers the pod
// with vgpu-proxy (which then listens on a socket of the pod's own), with the
// pod's Kubernetes names (pod-names.ts), when the pod or its first GPU
// container asks, raises its quota to a container's that
// asks for more, and unregisters it when the pod is removed.  What a container
// is given is the sandbox backend's part (shim/sandbox/backend.ts,
// ContainerRequest.gpu).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { gpuRequest, type GpuRequest } from '../../src/gpu-annotations.js';
import { ControlClient, type PodNames, type PodRegistration } from '../../src/proxy-control-client.js';
import type { ShimConfig } from '../config.js';
import { invalidArgument, failedPrecondition } from '../ttrpc/status.js';

/** The vGPU a pod's or a container's annotations ask for (src/gpu-annotations.ts); one it cannot read is InvalidArgument. */
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

  /** names: the pod's Kubernetes names (pod-names.ts), sent with the registration ('' where unknown) */
  constructor(readonly podId: string, memQuota: number, readonly names: PodNames, readonly config: ShimConfig, readonly log: Logger) {
    this.#memQuota = memQuota;
  }

  /** bytes each CUDA process of the pod may use; 0: vgpu-proxy's default */
  get memQuota(): number {
    return this.#memQuota;
  }

  /** The pod's socket folder on the host, which vgpu-proxy made when it registered the pod. */
  get socketDir(): string {
    if (!this.#reg) throw failedPrecondition(`pod ${this.podId}: vGPU not registered`);
    return this.#reg.socketDir;
  }

  async register(): Promise<void> {
    const lib = path.join(this.config.vgpu.guestLibDir, 'libcuda.so.1');
    if (!fs.existsSync(lib)) throw failedPrecondition(`pod ${this.podId} asks for a vGPU but ${lib} is missing (run deploy/install.sh)`);
    const client = new ControlClient(this.config.vgpu.controlSocket);
    try {
      this.#reg = await client.registerPod(this.podId, this.memQuota, this.names);
    } catch (err) {
      throw failedPrecondition(`pod ${this.podId} asks for a vGPU: ${(err as Error).message} (is vgpu-proxy running with --control-socket?)`);
    } finally {
      client.close();
    }
    const { namespace, name, uid } = this.names;
    this.log.info(
      { pod: this.podId, mem_quota: this.memQuota, socket: this.#reg.socketPath, namespace: namespace || undefined, name: name || undefined, uid: uid || undefined },
      'vGPU registered with vgpu-proxy',
    );
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
}

export async function unregisterPod(controlSocket: string, podId: string): Promise<boolean> {
  const client = new ControlClient(controlSocket);
  try {
    return await client.unregisterPod(podId);
  } finally {
    client.close();
  }
}
