// What a container given the pod's vGPU finds, whichever the backend:
// libvgpu as libcuda.so.1 in GUEST_LIB_DIR, that folder first on
// LD_LIBRARY_PATH, and the variables that name its transport.  Each backend
// adds its own part (shim/sandbox/process/vgpu.ts: the host's library folder
// and the pod's proxy socket; shim/sandbox/xen/spec.ts: the pod VM's library
// and Xen devices).

/** Where a container finds libvgpu (as libcuda.so.1). */
export const GUEST_LIB_DIR = '/usr/local/xen-cri/vgpu/lib';

/**
 * A process's environment with the vGPU: GUEST_LIB_DIR first on
 * LD_LIBRARY_PATH (added where the image has none), every variable named in
 * `drop` or `set` removed, then those of `set` appended.
 */
export function withVgpuEnv(env: readonly string[] | undefined, set: readonly (readonly [string, string])[], drop: readonly string[] = []): string[] {
  const removed = [...drop, ...set.map(([k]) => k)].map((k) => `${k}=`);
  const out = (env ?? []).filter((e) => !removed.some((p) => e.startsWith(p)));
  const ld = out.findIndex((e) => e.startsWith('LD_LIBRARY_PATH='));
  if (ld >= 0) out[ld] = `LD_LIBRARY_PATH=${GUEST_LIB_DIR}:${out[ld]!.slice('LD_LIBRARY_PATH='.length)}`;
  else out.push(`LD_LIBRARY_PATH=${GUEST_LIB_DIR}`);
  for (const [k, v] of set) out.push(`${k}=${v}`);
  return out;
}
