// The pod's vGPU in a container of the `process` backend: libvgpu reaches
// vgpu-proxy over the shm transport, through the socket vgpu-proxy made for
// the pod when the shim registered it.  Each such container gets, in its OCI
// spec (BUNDLE/config.json, before runc creates it):
//   - the host's libvgpu folder bind-mounted read-only at GUEST_LIB_DIR, first on LD_LIBRARY_PATH;
//   - the pod's socket folder bind-mounted at GUEST_SOCKET_DIR, and VGPU_PROXY_SOCKET naming the socket.
// Its execs get the same environment (CRI builds an exec's process from its own copy of the spec).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GUEST_LIB_DIR, withVgpuEnv } from '../../pod-vgpu/container-env.js';

export const GUEST_SOCKET_DIR = '/run/vgpu';
export const GUEST_SOCKET = `${GUEST_SOCKET_DIR}/proxy.sock`;

/** The vGPU environment for one OCI process: the library folder first, the pod's socket set once. */
export function vgpuProcess<P extends { env?: string[] }>(proc: P): P & { env: string[] } {
  return { ...proc, env: withVgpuEnv(proc.env, [['VGPU_PROXY_SOCKET', GUEST_SOCKET]]) };
}

/**
 * Adds the vGPU to BUNDLE/config.json: hostLibDir (the shim config's vgpu.guestLibDir) and
 * socketDir (the pod's, from vgpu-proxy's registration) as mounts, and the environment.
 */
export function injectVgpu(bundle: string, hostLibDir: string, socketDir: string): void {
  const file = path.join(bundle, 'config.json');
  const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  spec.mounts = [
    ...(spec.mounts ?? []),
    { destination: GUEST_LIB_DIR, type: 'bind', source: hostLibDir, options: ['rbind', 'ro', 'nosuid', 'nodev'] },
    { destination: GUEST_SOCKET_DIR, type: 'bind', source: socketDir, options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'] },
  ];
  spec.process = vgpuProcess(spec.process ?? {});
  fs.writeFileSync(file, JSON.stringify(spec));
}
