// The one interface every sandbox backend implements (Kata's `Hypervisor`
// trait plays this part there).  A pod is a Sandbox; the shim asks it to run
// containers and processes; the backend decides what a pod is: a set of
// runc containers on the host (`process`), or a Xen DomU (`xen`).
//
// The shim above keeps each process's state machine and containerd's
// events; a backend only does the work and reports exits.
//
// A pod's vGPU: the shim reads what the pod and each container ask for
// (src/gpu-annotations.ts, once) and registers the pod with vgpu-proxy
// (shim/pod-vgpu/pod-gpu.ts); the backend wires it into what it runs: the
// process backend mounts the pod's proxy socket and the host's libvgpu
// (process/vgpu.ts), the xen backend marks the pod VM in xenstore for
// vgpu-proxy and gives its containers the VM's libvgpu and Xen devices
// (xen/domain.ts, xen/spec.ts).
import type { GpuRequest } from '../../src/gpu-annotations.js';

export type { GpuRequest };

/** Where a process's standard streams go: paths to FIFOs or files containerd opened, or ''. */
export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface Mount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** What the pod asked for, from the sandbox container's OCI annotations. */
export interface PodRequest {
  /** the sandbox (pause) container's id: the pod's id */
  id: string;
  namespace: string;
  annotations: Record<string, string>;
  /** the vGPU the pod asks for itself (its annotations); null: none, though a container may still ask for one (Sandbox.admitGpu) */
  gpu: GpuRequest | null;
}

/** The pod's vGPU as a container gets it: registered with vgpu-proxy. */
export interface ContainerGpu {
  /** the pod's socket folder on the host, made by vgpu-proxy at the registration (the shm transport's) */
  socketDir: string;
}

export interface ContainerRequest {
  id: string;
  bundle: string;
  rootfs: Mount[];
  stdio: Stdio;
  /** true for the pod's sandbox (pause) container */
  isSandbox: boolean;
  /** the pod's vGPU, for a container that gets it (its execs get it too); null: none */
  gpu: ContainerGpu | null;
}

export interface ExecRequest {
  containerId: string;
  execId: string;
  /** the OCI runtime-spec Process, as JSON */
  process: object;
  stdio: Stdio;
}

export interface ProcessInfo {
  pid: number;
  info?: string;
}

/** cgroup v1 metrics in containerd's io.containerd.cgroups.v1.Metrics shape (plain object). */
export type Metrics = Record<string, unknown>;

export interface ExitReport {
  containerId: string;
  /** '' for a container's init process */
  execId: string;
  pid: number;
  status: number;
  at: Date;
}

export interface SandboxEvents {
  exit(e: ExitReport): void;
  oom(containerId: string): void;
}

/** A running pod. */
export interface Sandbox {
  readonly id: string;
  /**
   * A container of the pod asks for a vGPU itself (its own annotations), before the shim registers
   * the pod with vgpu-proxy or raises its quota for it: throws FailedPrecondition where this
   * backend cannot give it (the xen backend sets a pod VM's vGPU when it creates the VM).
   */
  admitGpu(containerId: string, want: GpuRequest): void;
  /** Creates a container (not yet started); returns its init pid. */
  createContainer(req: ContainerRequest): Promise<number>;
  startContainer(id: string): Promise<void>;
  /** Adds a process to a running container (not yet started). */
  createExec(req: ExecRequest): Promise<void>;
  /** Starts an exec; returns its pid. */
  startExec(containerId: string, execId: string): Promise<number>;
  /** Signals a container's init (execId '') or one exec; all: every process of the container. */
  kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void>;
  resizePty(containerId: string, execId: string, cols: number, rows: number): Promise<void>;
  closeStdin(containerId: string, execId: string): Promise<void>;
  pids(containerId: string): Promise<ProcessInfo[]>;
  stats(containerId: string): Promise<Metrics>;
  /** resources: the OCI LinuxResources, as JSON */
  update(containerId: string, resources: object): Promise<void>;
  pause(containerId: string): Promise<void>;
  resume(containerId: string): Promise<void>;
  /** Removes a stopped container's remains (runtime state, rootfs mount). */
  deleteContainer(id: string): Promise<void>;
  /** Forgets an exec that has ended. */
  deleteExec(containerId: string, execId: string): Promise<void>;
  /** Ends the pod: whatever it still holds on the host is released. */
  destroy(): Promise<void>;
}

/** One kind of sandbox (a folder per backend under shim/sandbox/). */
export interface SandboxBackend {
  readonly name: string;
  /** Throws a clear error when this host cannot run this backend. */
  probe(): Promise<void>;
  createSandbox(pod: PodRequest, events: SandboxEvents): Promise<Sandbox>;
  /**
   * Cleans up after a shim that died (the shim's `delete` action): ends the
   * container's processes and releases what it held, from what the bundle
   * and the backend's own state say.  Returns the pid it had, or 0.
   */
  cleanupDead(namespace: string, id: string, bundle: string): Promise<number>;
}
