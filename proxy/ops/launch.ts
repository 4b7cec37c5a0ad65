// Kernel launches and occupancy.  Parameters arrive packed (the guest laid
// them out from cuFuncGetParamInfo) and are handed to the driver through
// CU_LAUNCH_PARAM_BUFFER_POINTER; launch attributes arrive by value and the
// handles inside them are translated.  Nothing the guest sends becomes a
// pointer: configs, attribute arrays and the parameter buffer are rebuilt in
// proxy-private memory.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_SUPPORTED, CUDA_SUCCESS } from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';
import { op, OpSpec, P } from './op.js';

const MAX_ATTRS = 32;
const MAX_PARAM_BYTES = 32764;
/* Layout in s.launchMem. */
const CONFIG = 0; // CUlaunchConfig, 56 bytes
const EXTRA = 64; // void *extra[5]
const PARAM_SIZE = 112; // size_t
const ATTRS = 128; // CUlaunchAttribute[MAX_ATTRS], 72 bytes each
const PARAMS = ATTRS + MAX_ATTRS * 72; // the parameter buffer
const ATTR_SIZE = 72;
const CU_LAUNCH_PARAM_BUFFER_POINTER = 1;
const CU_LAUNCH_PARAM_BUFFER_SIZE = 2;

/** CUlaunchAttributeID: which a guest may send, and which carry an event handle in their first 8 bytes. */
const ATTR_PLAIN = new Set([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 14, 16]);
const ATTR_EVENT = new Set([7, 12]); // PROGRAMMATIC_EVENT, LAUNCH_COMPLETION_EVENT

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

/** Builds CUlaunchConfig and its attribute array in launchMem; a CUresult. */
function buildConfig(s: Session, req: Request, l: Launch): number {
  const m = s.launchMem;
  const dv = req.dv;
  for (let i = 0; i < 7; i++) m.dv.setUint32(CONFIG + i * 4, dv.getUint32(P + W.ReqLaunch.grid + i * 4, true), true);
  m.dv.setUint32(CONFIG + 28, 0, true);
  C.writeU64(m.dv, CONFIG + 32, l.stream);
  C.writeU64(m.dv, CONFIG + 40, l.attrs ? m.addr + ATTRS : 0);
  m.dv.setUint32(CONFIG + 48, l.attrs, true);
  m.dv.setUint32(CONFIG + 52, 0, true);
  for (let i = 0; i < l.attrs; i++) {
    const src = P + W.ReqLaunch.SIZE + i * W.LaunchAttr.SIZE;
    const dst = ATTRS + i * ATTR_SIZE;
    const id = dv.getUint32(src + W.LaunchAttr.id, true);
    m.dv.setUint32(dst, id, true);
    m.dv.setUint32(dst + 4, 0, true);
    m.u8.set(req.bytes.subarray(src + W.LaunchAttr.value, src + W.LaunchAttr.value + 64), dst + 8);
    if (ATTR_EVENT.has(id)) {
      const ev = s.realHandle(dv.getUint32(src + W.LaunchAttr.value, true), 'event');
      if (ev < 0) return CUDA_ERROR_INVALID_HANDLE;
      C.writeU64(m.dv, dst + 8, ev);
    } else if (!ATTR_PLAIN.has(id)) return CUDA_ERROR_NOT_SUPPORTED;
  }
  return CUDA_SUCCESS;
}

/** Copies the packed parameters into launchMem and builds the `extra` array; its address, or 0 without parameters. */
function buildExtra(s: Session, req: Request, l: Launch): number {
  if (l.paramBytes === 0) return 0;
  const m = s.launchMem;
  m.u8.set(req.bytes.subarray(l.paramsAt, l.paramsAt + l.paramBytes), PARAMS);
  C.writeU64(m.dv, PARAM_SIZE, l.paramBytes);
  C.writeU64(m.dv, EXTRA, CU_LAUNCH_PARAM_BUFFER_POINTER);
  C.writeU64(m.dv, EXTRA + 8, m.addr + PARAMS);
  C.writeU64(m.dv, EXTRA + 16, CU_LAUNCH_PARAM_BUFFER_SIZE);
  C.writeU64(m.dv, EXTRA + 24, m.addr + PARAM_SIZE);
  C.writeU64(m.dv, EXTRA + 32, 0);
  return m.addr + EXTRA;
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
      return cuda.cuLaunchKernelEx(s.launchMem.addr + CONFIG, l.fn, 0, extra);
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
      const cfg = s.launchMem.addr + CONFIG;
      const r = o === W.Op.OCC_MAX_CLUSTERS ? cuda.cuOccupancyMaxActiveClusters(s.out.addr, l.fn, cfg) : cuda.cuOccupancyMaxPotentialClusterSize(s.out.addr, l.fn, cfg);
      if (r === CUDA_SUCCESS) C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, s.out.dv.getInt32(0, true));
      return r;
    }, { needsCtx: true })),
];
