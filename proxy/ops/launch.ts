// Kernel launches and occupancy.  Parameters arrive packed (the guest laid
// them out from cuFuncGetParamInfo) and are handed to the driver through
// CU_LAUNCH_PARAM_BUFFER_POINTER; launch attributes arrive by value and the
// handles inside them are translated.  Nothing the guest sends becomes a
// pointer: configs, attribute arrays and the parameter buffer are rebuilt in
// proxy-private memory.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import * as A from '../wire/cuda-abi.js';
import { CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_SUPPORTED, CUDA_SUCCESS } from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';
import { op, OpSpec, P } from './op.js';

const MAX_ATTRS = 32;
const MAX_PARAM_BYTES = 32764;
const CFG = A.CUlaunchConfig;
const ATTR = A.CUlaunchAttribute;
/** The launch family's layout in s.opMem (see Session.opMem). */
const LAUNCH_MEM = {
  CONFIG: 0, // CUlaunchConfig
  EXTRA: 64, // void *extra[5]: BUFFER_POINTER, params, BUFFER_SIZE, &paramSize, END
  PARAM_SIZE: 112, // size_t
  ATTRS: 128, // CUlaunchAttribute[MAX_ATTRS]
  PARAMS: 128 + MAX_ATTRS * ATTR.SIZE, // the parameter buffer, MAX_PARAM_BYTES
} as const;

/** CUlaunchAttributeID: which a guest may send, and which carry an event handle in their first 8 bytes. */
const ATTR_PLAIN = new Set([
  A.CU_LAUNCH_ATTRIBUTE_IGNORE,
  A.CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW,
  A.CU_LAUNCH_ATTRIBUTE_COOPERATIVE,
  A.CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY,
  A.CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION,
  A.CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE,
  A.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
  A.CU_LAUNCH_ATTRIBUTE_PRIORITY,
  A.CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP,
  A.CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN,
  A.CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION,
  A.CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
  A.CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING,
]);
const ATTR_EVENT = new Set([A.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT, A.CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT]);

interface Launch {
  fn: number;
  stream: number;
  attrs: number;
  paramBytes: number;
  paramsAt: number; // offset of the packed parameters in the request
}

/** Decodes and checks a vgpu_req_launch; a CUresult when refused. */
function decodeLaunch(s: Session, req: Request, withParams: boolean): Launch | number {
  const dv = req.dv;
  const id = dv.getUint32(P + W.ReqLaunch.func, true);
  const flags = dv.getUint32(P + W.ReqLaunch.launch_flags, true);
  const fn = flags & W.LAUNCH_KERNEL_HANDLE ? s.realHandle(id, 'kernel') : s.realHandle(id, 'function');
  if (fn < 0) return CUDA_ERROR_INVALID_HANDLE;
  const stream = s.stream(dv.getUint32(P + W.ReqLaunch.stream, true));
  if (stream < 0) return CUDA_ERROR_INVALID_HANDLE;
  const attrs = dv.getUint32(P + W.ReqLaunch.attr_count, true);
  const paramBytes = withParams ? dv.getUint32(P + W.ReqLaunch.param_bytes, true) : 0;
  if (attrs > MAX_ATTRS || paramBytes > MAX_PARAM_BYTES) return CUDA_ERROR_INVALID_VALUE;
  const paramsAt = P + W.ReqLaunch.SIZE + attrs * W.LaunchAttr.SIZE;
  if (paramsAt - P + paramBytes > req.payloadLen) return CUDA_ERROR_INVALID_VALUE;
  return { fn, stream, attrs, paramBytes, paramsAt };
}

/** Builds CUlaunchConfig and its attribute array in opMem; a CUresult. */
function buildConfig(s: Session, req: Request, l: Launch): number {
  const m = s.opMem;
  const dv = req.dv;
  const cfg = LAUNCH_MEM.CONFIG;
  const grid = P + W.ReqLaunch.grid;
  const block = P + W.ReqLaunch.block;
  m.u8.fill(0, cfg, cfg + CFG.SIZE);
  m.dv.setUint32(cfg + CFG.gridDimX, dv.getUint32(grid, true), true);
  m.dv.setUint32(cfg + CFG.gridDimY, dv.getUint32(grid + 4, true), true);
  m.dv.setUint32(cfg + CFG.gridDimZ, dv.getUint32(grid + 8, true), true);
  m.dv.setUint32(cfg + CFG.blockDimX, dv.getUint32(block, true), true);
  m.dv.setUint32(cfg + CFG.blockDimY, dv.getUint32(block + 4, true), true);
  m.dv.setUint32(cfg + CFG.blockDimZ, dv.getUint32(block + 8, true), true);
  m.dv.setUint32(cfg + CFG.sharedMemBytes, dv.getUint32(P + W.ReqLaunch.shared_mem, true), true);
  C.writeU64(m.dv, cfg + CFG.hStream, l.stream);
  C.writeU64(m.dv, cfg + CFG.attrs, l.attrs ? m.addr + LAUNCH_MEM.ATTRS : 0);
  m.dv.setUint32(cfg + CFG.numAttrs, l.attrs, true);
  for (let i = 0; i < l.attrs; i++) {
    const src = P + W.ReqLaunch.SIZE + i * W.LaunchAttr.SIZE;
    const dst = LAUNCH_MEM.ATTRS + i * ATTR.SIZE;
    const id = dv.getUint32(src + W.LaunchAttr.id, true);
    m.dv.setUint32(dst + ATTR.id, id, true);
    m.u8.fill(0, dst + ATTR.pad, dst + ATTR.value);
    m.u8.set(req.bytes.subarray(src + W.LaunchAttr.value, src + W.LaunchAttr.value + ATTR.SIZE - ATTR.value), dst + ATTR.value);
    if (ATTR_EVENT.has(id)) {
      const ev = s.realHandle(dv.getUint32(src + W.LaunchAttr.value, true), 'event');
      if (ev < 0) return CUDA_ERROR_INVALID_HANDLE;
      C.writeU64(m.dv, dst + ATTR.value, ev);
    } else if (!ATTR_PLAIN.has(id)) return CUDA_ERROR_NOT_SUPPORTED;
  }
  return CUDA_SUCCESS;
}

/** Copies the packed parameters into opMem and builds the `extra` array; its address, or 0 without parameters. */
function buildExtra(s: Session, req: Request, l: Launch): number {
  if (l.paramBytes === 0) return 0;
  const m = s.opMem;
  const extra = LAUNCH_MEM.EXTRA;
  m.u8.set(req.bytes.subarray(l.paramsAt, l.paramsAt + l.paramBytes), LAUNCH_MEM.PARAMS);
  C.writeU64(m.dv, LAUNCH_MEM.PARAM_SIZE, l.paramBytes);
  C.writeU64(m.dv, extra, A.CU_LAUNCH_PARAM_BUFFER_POINTER_AS_INT);
  C.writeU64(m.dv, extra + 8, m.addr + LAUNCH_MEM.PARAMS);
  C.writeU64(m.dv, extra + 16, A.CU_LAUNCH_PARAM_BUFFER_SIZE_AS_INT);
  C.writeU64(m.dv, extra + 24, m.addr + LAUNCH_MEM.PARAM_SIZE);
  C.writeU64(m.dv, extra + 32, A.CU_LAUNCH_PARAM_END_AS_INT);
  return m.addr + extra;
}

function occupancyFn(s: Session, req: Request): number {
  return s.realHandle(req.dv.getUint32(P + W.ReqOccupancy.func, true), 'function');
}

export const launchOps: OpSpec[] = [
  op(W.Op.LAUNCH, W.ReqLaunch.SIZE, (s, req) => {
    const cuda = s.driver()!;
    const l = decodeLaunch(s, req, true);
    if (typeof l === 'number') return l;
    const extra = buildExtra(s, req, l);
    const flags = req.dv.getUint32(P + W.ReqLaunch.launch_flags, true);
    if (flags & W.LAUNCH_EX) {
      const r = buildConfig(s, req, l);
      if (r !== CUDA_SUCCESS) return r;
      return cuda.cuLaunchKernelEx(s.opMem.addr + LAUNCH_MEM.CONFIG, l.fn, 0, extra);
    }
    const dv = req.dv;
    const g = P + W.ReqLaunch.grid;
    const b = P + W.ReqLaunch.block;
    return cuda.cuLaunchKernel(l.fn, dv.getUint32(g, true), dv.getUint32(g + 4, true), dv.getUint32(g + 8, true),
      dv.getUint32(b, true), dv.getUint32(b + 4, true), dv.getUint32(b + 8, true),
      dv.getUint32(P + W.ReqLaunch.shared_mem, true), l.stream, 0, extra);
  }, { needsCtx: true }),

  op(W.Op.OCC_MAX_BLOCKS, W.ReqOccupancy.SIZE, (s, req, out) => {
    const fn = occupancyFn(s, req);
    if (fn < 0) return CUDA_ERROR_INVALID_HANDLE;
    const dsmem = C.readU64(req.dv, P + W.ReqOccupancy.dynamic_smem);
    if (!Number.isSafeInteger(dsmem)) return CUDA_ERROR_INVALID_VALUE;
    const r = s.driver()!.cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(s.out.addr, fn,
      req.dv.getInt32(P + W.ReqOccupancy.block_size, true), dsmem, req.dv.getUint32(P + W.ReqOccupancy.flags, true));
    if (r === CUDA_SUCCESS) C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, s.out.dv.getInt32(0, true));
    return r;
  }, { needsCtx: true }),

  op(W.Op.OCC_DSMEM, W.ReqOccupancy.SIZE, (s, req, out) => {
    const fn = occupancyFn(s, req);
    if (fn < 0) return CUDA_ERROR_INVALID_HANDLE;
    const r = s.driver()!.cuOccupancyAvailableDynamicSMemPerBlock(s.out.addr, fn,
      req.dv.getInt32(P + W.ReqOccupancy.num_blocks, true), req.dv.getInt32(P + W.ReqOccupancy.block_size, true));
    if (r === CUDA_SUCCESS) C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, C.readU64(s.out.dv, 0));
    return r;
  }, { needsCtx: true }),

  ...[W.Op.OCC_MAX_CLUSTERS, W.Op.OCC_CLUSTER_SIZE].map((o) =>
    op(o, W.ReqLaunch.SIZE, (s, req, out) => {
      const cuda = s.driver()!;
      const l = decodeLaunch(s, req, false);
      if (typeof l === 'number') return l;
      const r0 = buildConfig(s, req, l);
      if (r0 !== CUDA_SUCCESS) return r0;
      const cfg = s.opMem.addr + LAUNCH_MEM.CONFIG;
      const r = o === W.Op.OCC_MAX_CLUSTERS ? cuda.cuOccupancyMaxActiveClusters(s.out.addr, l.fn, cfg) : cuda.cuOccupancyMaxPotentialClusterSize(s.out.addr, l.fn, cfg);
      if (r === CUDA_SUCCESS) C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, s.out.dv.getInt32(0, true));
      return r;
    }, { needsCtx: true })),
];
