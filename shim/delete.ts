// The shim's `delete` action: containerd runs it when a shim is gone (killed,
// crashed) to clean up one task.  It ends the task's processes, unmounts its
// root file system and, for a pod's sandbox container, releases the pod's
// vGPU registration; it prints a DeleteResponse.
import { encode, timestamp } from '../src/proto/load.js';
import { backendFor } from './sandbox/select.js';
import { readBundleState } from './bundle-state.js';
import { configFromOptions, ShimConfig } from './config.js';
import type { ShimFlags } from './flags.js';
import { unregisterPod } from './pod-vgpu/pod-gpu.js';
import { shimSocketPath, socketAlive } from './socket.js';
import * as fs from 'node:fs';
import type { Logger } from 'pino';

export async function deleteAction(flags: ShimFlags, log: Logger): Promise<void> {
  const bundle = flags.bundle || process.cwd();
  const state = readBundleState(bundle);
  let config: ShimConfig;
  try {
    config = state?.config ?? configFromOptions(null);
  } catch {
    config = { backend: 'process', runc: 'runc', stateDir: '/run/xen-cri', logLevel: 'info', vgpu: { controlSocket: '/run/vgpu/control.sock', guestLibDir: '' }, source: 'defaults' };
  }
  const backend = backendFor(config, log);
  const pid = await backend.cleanupDead(flags.namespace, flags.id, bundle);
  if (state?.vgpuPod) {
    try {
      await unregisterPod(config.vgpu.controlSocket, state.vgpuPod);
    } catch (err) {
      process.stderr.write(`pod ${state.vgpuPod}: vGPU registration not released: ${(err as Error).message}\n`);
    }
  }
  if (state) {
    const sock = shimSocketPath(flags.address, flags.namespace, state.podId);
    if (state.isSandbox && !(await socketAlive(sock))) fs.rmSync(sock, { force: true });
  }
  process.stdout.write(encode('containerd.task.v2.DeleteResponse', { pid, exitStatus: 128 + 9, exitedAt: timestamp(new Date()) }));
}
