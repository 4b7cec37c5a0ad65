// The driver-API test programs (test/gpu/programs/) and the kernel images each needs.
import type { ImageKind } from '../../devkit/cuda-build.js';

export interface KernelImage {
  /** .cu file in test/gpu/programs/. */
  source: string;
  kind: ImageKind;
  /** File name in the build folder; the program reads it from there. */
  output: string;
}

export interface GpuProgram {
  /** Also the C file (<name>.c) and the binary's name. */
  name: string;
  kernels: KernelImage[];
}

// oob_fault runs before threads on purpose: the proxy must keep serving a
// fresh guest after another guest's kernel faulted.
export const PROGRAMS: GpuProgram[] = [
  { name: 'vector_add', kernels: [{ source: 'vector_add.cu', kind: 'fatbin', output: 'vector_add.fatbin' }] },
  {
    name: 'matmul_ptx',
    kernels: [
      { source: 'matmul.cu', kind: 'ptx', output: 'matmul.ptx' },
      { source: 'matmul.cu', kind: 'cubin', output: 'matmul.cubin' },
    ],
  },
  { name: 'copy2d', kernels: [] },
  { name: 'streams_events', kernels: [{ source: 'streams_events.cu', kind: 'fatbin', output: 'streams_events.fatbin' }] },
  { name: 'oob_fault', kernels: [{ source: 'oob_fault.cu', kind: 'cubin', output: 'oob_fault.cubin' }] },
  { name: 'threads', kernels: [{ source: 'threads.cu', kind: 'fatbin', output: 'threads.fatbin' }] },
  { name: 'vmm', kernels: [{ source: 'vmm.cu', kind: 'fatbin', output: 'vmm.fatbin' }] },
  { name: 'graph_build', kernels: [{ source: 'graph_build.cu', kind: 'fatbin', output: 'graph_build.fatbin' }] },
];
