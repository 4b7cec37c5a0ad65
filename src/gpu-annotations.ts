// The annotations that ask for a pod's vGPU, and their one reader: the shim
// reads them (shim/task-service.ts, for the pod and for each container), the
// device plugin writes them into its Allocate answer (device-plugin/devices.ts)
// and reads its size flags with the same size parser.
//
// A pod asks with its own annotations (containerd's CRI passes them to the
// runtime when its runtime config lists them in pod_annotations); a container
// may ask with the same annotations on its config (the device plugin's answer:
// kubelet puts it on the CRI container config, containerd passes it when
// container_annotations lists it).
//
//   xen-cri.io/vgpu          "true" or "1": a vGPU.  Absent, "", "false" or "0":
//                            none.  Anything else is refused.
//   xen-cri.io/vgpu-memory   device memory each CUDA process of the pod may use,
//                            a size (below).  Only next to xen-cri.io/vgpu;
//                            absent or "0": vgpu-proxy's default.
//
// A size: a number of bytes, whole or with a fraction ("4096", "1.5"), or one
// followed by a unit K, M, G or T in either case, each 1024 times the one
// before, which "i" and "B" may follow ("512M", "512Mi", "4G", "4GiB", "4gb");
// blanks around the text and between number and unit are allowed.  The result
// is rounded down to a whole byte.  Refused: no number ("lots", "", "G"), a
// sign ("-1G", "+1G"), another unit ("4P", "4 GB/s"), exponents ("1e9").
//
// Errors are plain Errors naming the annotation; the shim turns them into
// InvalidArgument (shim/pod-vgpu/pod-gpu.ts).

export const ANN_VGPU = 'xen-cri.io/vgpu';
export const ANN_VGPU_MEMORY = 'xen-cri.io/vgpu-memory';

/** What a pod or a container asks for. */
export interface GpuRequest {
  /** bytes each CUDA process of the pod may use; 0: vgpu-proxy's default */
  memQuota: number;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i;
const SCALE = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 } as const;

/** A size in bytes (the forms above); `what` names the value in the error. */
export function parseSize(text: string, what: string = ANN_VGPU_MEMORY): number {
  const m = SIZE.exec(text.trim());
  if (!m) throw new Error(`${what}: cannot read "${text}" as a size (examples: 512M, 4G)`);
  return Math.floor(Number(m[1]) * SCALE[m[2]!.toUpperCase() as keyof typeof SCALE]);
}

/** A whole number of MiB as parseSize reads it ("768Mi"): what the device plugin's Allocate answers. */
export function formatMiB(mib: number): string {
  if (!Number.isSafeInteger(mib) || mib < 0) throw new RangeError(`${mib} is not a whole number of MiB`);
  return `${mib}Mi`;
}

/** The vGPU a pod's (or a container's) annotations ask for: null when they ask for none. */
export function gpuRequest(annotations: Record<string, string>): GpuRequest | null {
  const want = annotations[ANN_VGPU];
  const mem = annotations[ANN_VGPU_MEMORY];
  if (want === undefined || want === '' || want === 'false' || want === '0') {
    if (mem !== undefined) throw new Error(`${ANN_VGPU_MEMORY} is set but ${ANN_VGPU} is not "true"`);
    return null;
  }
  if (want !== 'true' && want !== '1') throw new Error(`${ANN_VGPU}: "${want}" is neither "true" nor "false"`);
  return { memQuota: mem === undefined ? 0 : parseSize(mem) };
}
