// Contexts.  A guest never receives the device's real primary context: that
// one is shared by the whole proxy process, and a guest resetting it would
// destroy every other guest's work.  The guest's "primary context" is a
// context of its own, created on first retain and destroyed on last release.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import * as A from '../wire/cuda-abi.js';
import { CudaDriver, CUDA_ERROR_INVALID_CONTEXT, CUDA_ERROR_INVALID_DEVICE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_OUT_OF_MEMORY, CUDA_SUCCESS } from '../native/cuda.js';
import type { Session } from '../guest/session.js';
import { op, OpSpec, P, Reply } from './op.js';
import { Refusal } from '../metrics/guest-stats.js';

/** CUctx_flags a guest may ask for (scheduling, host mapping, local-memory, coredump, sync memops). */
const CTX_FLAGS_ALLOWED = 0xff;
/**
 * The device's real primary context reports CU_CTX_MAP_HOST among its flags
 * (driver 580); the context that stands in for it is created with it, so
 * cuCtxGetFlags answers the same through libvgpu.
 */
const primaryFlags = (flags: number): number => flags | A.CU_CTX_MAP_HOST;

/**
 * Largest per-thread stack a guest may ask for: 512 KiB, the most local
 * memory a GPU thread can have (CUDA's per-thread limit on every architecture
 * since compute capability 2.0); the driver's default is 1 KiB.
 */
export const STACK_MAX = 512 * 1024;

/** Threads the device holds resident at once (asked once per session); -1 when the driver does not say. */
function residentThreads(s: Session, cuda: CudaDriver): number {
  if (s.residentThreads > 0) return s.residentThreads;
  const dev = s.device!.cuDevice;
  if (cuda.cuDeviceGetAttribute(s.out.addr, A.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev) !== CUDA_SUCCESS) return -1;
  const sms = s.out.dv.getInt32(0, true);
  if (cuda.cuDeviceGetAttribute(s.out.addr, A.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, dev) !== CUDA_SUCCESS) return -1;
  const threads = sms * s.out.dv.getInt32(0, true);
  if (threads <= 0) return -1;
  s.residentThreads = threads;
  return threads;
}

function createContext(s: Session, cuda: CudaDriver, flags: number): { result: number; id: number } {
  const r = cuda.cuCtxCreate_v4(s.out.addr, 0, flags & CTX_FLAGS_ALLOWED, s.device!.cuDevice);
  if (r !== CUDA_SUCCESS) return { result: r, id: 0 };
  const ptr = C.readU64(s.out.dv, 0);
  const id = s.handles.add('ctx', ptr, 0);
  if (id < 0) {
    cuda.cuCtxDestroy_v2(ptr);
    s.ctxChanged();
    return { result: CUDA_ERROR_OUT_OF_MEMORY, id: 0 };
  }
  s.ctxChanged(id);
  return { result: CUDA_SUCCESS, id };
}

function answerCtx(out: Reply, id: number, flags: number, active: boolean): void {
  const dv = out.size(W.RspCtx.SIZE);
  dv.setUint32(W.RspCtx.id, id, true);
  dv.setUint32(W.RspCtx.flags, flags, true);
  dv.setInt32(W.RspCtx.active, active ? 1 : 0, true);
}

const deviceOk = (s: Session, device: number): boolean => device === 0 && s.device !== null;

export const contextOps: OpSpec[] = [
  op(W.Op.CTX_CREATE, W.ReqCtxCreate.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    if (!deviceOk(s, req.dv.getInt32(P + W.ReqCtxCreate.device, true))) return CUDA_ERROR_INVALID_DEVICE;
    const flags = req.dv.getUint32(P + W.ReqCtxCreate.flags, true);
    const { result, id } = createContext(s, cuda, flags);
    if (result === CUDA_SUCCESS) answerCtx(out, id, flags & CTX_FLAGS_ALLOWED, true);
    return result;
  }),

  op(W.Op.CTX_DESTROY, W.ReqHandle.SIZE, (s, req) => {
    const id = req.dv.getUint32(P + W.ReqHandle.id, true);
    if (id === s.primary.ctx) return CUDA_ERROR_INVALID_CONTEXT;
    return s.destroyContext(id);
  }),

  op(W.Op.PRIMARY_RETAIN, W.ReqDevice.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    if (!deviceOk(s, req.dv.getInt32(P + W.ReqDevice.device, true))) return CUDA_ERROR_INVALID_DEVICE;
    const p = s.primary;
    if (p.ctx === 0) {
      const { result, id } = createContext(s, cuda, primaryFlags(p.flags));
      if (result !== CUDA_SUCCESS) return result;
      p.ctx = id;
    }
    p.retains++;
    answerCtx(out, p.ctx, p.flags, true);
    return CUDA_SUCCESS;
  }),

  op(W.Op.PRIMARY_RELEASE, W.ReqDevice.SIZE, (s, req) => {
    if (!deviceOk(s, req.dv.getInt32(P + W.ReqDevice.device, true))) return CUDA_ERROR_INVALID_DEVICE;
    const p = s.primary;
    if (p.retains === 0) return CUDA_ERROR_INVALID_CONTEXT;
    if (--p.retains > 0) return CUDA_SUCCESS;
    const id = p.ctx;
    p.ctx = 0;
    return s.destroyContext(id);
  }),

  op(W.Op.PRIMARY_SET_FLAGS, W.ReqPrimaryFlags.SIZE, (s, req) => {
    if (!deviceOk(s, req.dv.getInt32(P + W.ReqPrimaryFlags.device, true))) return CUDA_ERROR_INVALID_DEVICE;
    const flags = req.dv.getUint32(P + W.ReqPrimaryFlags.flags, true) & CTX_FLAGS_ALLOWED;
    const p = s.primary;
    if (p.ctx !== 0) {
      const r = s.useCtx(p.ctx);
      if (r !== CUDA_SUCCESS) return r;
      const set = s.driver()!.cuCtxSetFlags(primaryFlags(flags));
      if (set !== CUDA_SUCCESS) return set;
    }
    p.flags = flags;
    return CUDA_SUCCESS;
  }),

  op(W.Op.PRIMARY_RESET, W.ReqDevice.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    if (!deviceOk(s, req.dv.getInt32(P + W.ReqDevice.device, true))) return CUDA_ERROR_INVALID_DEVICE;
    const p = s.primary;
    if (p.ctx !== 0) {
      const r = s.destroyContext(p.ctx);
      p.ctx = 0;
      if (r !== CUDA_SUCCESS) return r;
      if (p.retains > 0) {
        const { result, id } = createContext(s, cuda, primaryFlags(p.flags));
        if (result !== CUDA_SUCCESS) {
          p.retains = 0;
          return result;
        }
        p.ctx = id;
      }
    }
    answerCtx(out, p.ctx, p.flags, p.ctx !== 0);
    return CUDA_SUCCESS;
  }),

  op(W.Op.CTX_SYNC, 0, (s) => s.driver()!.cuCtxSynchronize(), { needsCtx: true, syncPoint: true }),

  // The malloc heap and the thread stacks are device memory the driver sets aside for the context:
  // counted against the guest's quota like its allocations (the driver's defaults are not counted),
  // given back when lowered and when the context goes (Session.destroyContext).
  op(W.Op.CTX_SET_LIMIT, W.ReqLimit.SIZE, (s, req) => {
    const cuda = s.driver()!;
    const limit = req.dv.getUint32(P + W.ReqLimit.limit, true);
    const value = C.readU64(req.dv, P + W.ReqLimit.value);
    if (!Number.isSafeInteger(value)) return CUDA_ERROR_INVALID_VALUE;
    const kind = limit === A.CU_LIMIT_MALLOC_HEAP_SIZE ? 'heap' : limit === A.CU_LIMIT_STACK_SIZE ? 'stack' : null;
    if (kind === null) return cuda.cuCtxSetLimit(limit, value);
    let bytes = value;
    if (kind === 'stack') {
      if (value > STACK_MAX) return CUDA_ERROR_INVALID_VALUE;
      // Every resident thread gets a stack of this size.
      const threads = residentThreads(s, cuda);
      if (threads < 0) return CUDA_ERROR_INVALID_VALUE;
      bytes = value * threads;
    }
    const held = s.limitBytes(req.ctx, kind);
    if (bytes > held && s.deviceBytes() - held + bytes > s.limits.memQuota) {
      s.refuse(Refusal.device_memory_quota, req.op, bytes - held);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    const r = cuda.cuCtxSetLimit(limit, value);
    if (r === CUDA_SUCCESS) s.setLimitBytes(req.ctx, kind, bytes);
    return r;
  }, { needsCtx: true }),

  op(W.Op.CTX_GET_LIMIT, W.ReqLimit.SIZE, (s, req, out) => {
    const r = s.driver()!.cuCtxGetLimit(s.out.addr, req.dv.getUint32(P + W.ReqLimit.limit, true));
    if (r === CUDA_SUCCESS) C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, C.readU64(s.out.dv, 0));
    return r;
  }, { needsCtx: true }),

  op(W.Op.CTX_INFO, 0, (s, req, out) => {
    const cuda = s.driver()!;
    const ctx = s.handles.get(req.ctx, 'ctx')!;
    const m = s.out;
    let r = cuda.cuCtxGetId(ctx.ptr, m.addr);
    if (r !== CUDA_SUCCESS) return r;
    const dv = out.size(W.RspCtxInfo.SIZE);
    dv.setBigUint64(W.RspCtxInfo.ctx_unique_id, m.dv.getBigUint64(0, true), true);
    r = cuda.cuCtxGetApiVersion(ctx.ptr, m.addr);
    if (r !== CUDA_SUCCESS) return r;
    dv.setUint32(W.RspCtxInfo.api_version, m.dv.getUint32(0, true), true);
    r = cuda.cuCtxGetStreamPriorityRange(m.addr, m.addr + 8);
    if (r !== CUDA_SUCCESS) return r;
    dv.setInt32(W.RspCtxInfo.least_priority, m.dv.getInt32(0, true), true);
    dv.setInt32(W.RspCtxInfo.greatest_priority, m.dv.getInt32(8, true), true);
    r = cuda.cuCtxGetCacheConfig(m.addr);
    if (r !== CUDA_SUCCESS) return r;
    dv.setUint32(W.RspCtxInfo.cache_config, m.dv.getUint32(0, true), true);
    r = cuda.cuCtxGetFlags(m.addr);
    if (r !== CUDA_SUCCESS) return r;
    dv.setUint32(W.RspCtxInfo.flags, m.dv.getUint32(0, true), true);
    return CUDA_SUCCESS;
  }, { needsCtx: true }),

  op(W.Op.CTX_SET_CACHE_CONFIG, W.ReqU32.SIZE, (s, req) => s.driver()!.cuCtxSetCacheConfig(req.dv.getUint32(P + W.ReqU32.value, true)), { needsCtx: true }),
];
