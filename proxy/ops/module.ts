// Modules, libraries, functions and kernels.  Images are staged in
// proxy-private memory; JIT and library options are taken by value, and
// only those that carry no pointer are accepted (the proxy supplies the log
// buffers itself).
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import * as A from '../wire/cuda-abi.js';
import { CudaDriver, CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_INVALID_IMAGE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_SUPPORTED, CUDA_ERROR_OUT_OF_MEMORY, CUDA_SUCCESS } from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';
import { HandleKind } from '../guest/handle-table.js';
import { op, OpSpec, P, Reply } from './op.js';

const MAX_NAME = 4096;
const MAX_OPTIONS = 64;
const MAX_LOG = 65536;
const MAX_PARAMS = 8192;

/** CUjit_option values whose value is a pointer (names, addresses): refused. */
const JIT_POINTER_OPTIONS = new Set([
  A.CU_JIT_GLOBAL_SYMBOL_NAMES,
  A.CU_JIT_GLOBAL_SYMBOL_ADDRESSES,
  A.CU_JIT_REFERENCED_KERNEL_NAMES,
  A.CU_JIT_REFERENCED_VARIABLE_NAMES,
]);

/*
 * The module family's layout in s.opMem (see Session.opMem) for a load:
 *   [0, 1024)        jit option ids (uint32)        [1024, 1536) jit values (void*)
 *   [4096, end)      info log                        then error log
 * Library options reach the driver as none (see planLoad).
 * opMem is 64 KiB, so logs are capped to fit.
 */
const MODULE_MEM = {
  OPT_IDS: 0,
  OPT_VALUES: 1024,
  LOG_AREA: 4096,
} as const;

interface LoadPlan {
  jitCount: number;
  libCount: number;
  infoLog: number;
  errorLog: number;
  logCap: number;
}

/** Reads the options that follow a vgpu_req_module_load into native arrays; a CUresult on refusal. */
function planLoad(s: Session, req: Request): LoadPlan | number {
  const dv = req.dv;
  const jitCount = dv.getUint32(P + W.ReqModuleLoad.jit_count, true);
  const libCount = dv.getUint32(P + W.ReqModuleLoad.lib_count, true);
  const wantLog = dv.getUint32(P + W.ReqModuleLoad.log_bytes, true);
  if (jitCount > MAX_OPTIONS || libCount > MAX_OPTIONS) return CUDA_ERROR_INVALID_VALUE;
  if (W.ReqModuleLoad.SIZE + (jitCount + libCount) * W.JitOption.SIZE > req.payloadLen) return CUDA_ERROR_INVALID_VALUE;
  const m = s.opMem;
  const logCap = Math.min(wantLog, MAX_LOG, (m.size - MODULE_MEM.LOG_AREA) / 2);
  const infoLog = m.addr + MODULE_MEM.LOG_AREA;
  const errorLog = infoLog + logCap;
  let at = P + W.ReqModuleLoad.SIZE;
  for (let i = 0; i < jitCount; i++, at += W.JitOption.SIZE) {
    const opt = dv.getUint32(at + W.JitOption.option, true);
    if (opt >= A.CU_JIT_NUM_OPTIONS || JIT_POINTER_OPTIONS.has(opt)) return CUDA_ERROR_NOT_SUPPORTED;
    let value = C.readU64(dv, at + W.JitOption.value);
    // Log buffers are the proxy's own; their sizes are capped to them.
    if (opt === A.CU_JIT_INFO_LOG_BUFFER) value = infoLog;
    else if (opt === A.CU_JIT_ERROR_LOG_BUFFER) value = errorLog;
    else if (opt === A.CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES || opt === A.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) value = Math.min(value, logCap);
    if (!Number.isSafeInteger(value)) return CUDA_ERROR_INVALID_VALUE;
    m.dv.setUint32(MODULE_MEM.OPT_IDS + i * 4, opt, true);
    C.writeU64(m.dv, MODULE_MEM.OPT_VALUES + i * 8, value);
  }
  for (let i = 0; i < libCount; i++, at += W.JitOption.SIZE) {
    const opt = dv.getUint32(at + W.JitOption.option, true);
    if (opt === A.CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE) return CUDA_ERROR_NOT_SUPPORTED;
    // A memory-usage hint, checked and dropped: the staged image is reused for the
    // next load, so the driver must keep its own copy (its default).
    if (opt !== A.CU_LIBRARY_BINARY_IS_PRESERVED) return CUDA_ERROR_INVALID_VALUE;
  }
  m.u8.fill(0, MODULE_MEM.LOG_AREA, MODULE_MEM.LOG_AREA + 2 * logCap);
  return { jitCount, libCount, infoLog, errorLog, logCap };
}

/** The text the driver wrote into one of the load's log buffers (up to its NUL); empty without logs. */
function logText(s: Session, plan: LoadPlan, addr: number): Uint8Array {
  if (!plan.logCap) return new Uint8Array(0);
  const m = s.opMem;
  const b = m.u8.subarray(addr - m.addr, addr - m.addr + plan.logCap);
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end);
}

/** Answers a load: the new id, both logs, and the option values after the call. */
function answerLoad(s: Session, plan: LoadPlan, id: number, out: Reply): void {
  const m = s.opMem;
  const info = logText(s, plan, plan.infoLog);
  const error = logText(s, plan, plan.errorLog);
  const valuesAt = W.RspModuleLoad.SIZE;
  const logsAt = valuesAt + plan.jitCount * 8;
  const dv = out.size(logsAt + info.length + error.length);
  dv.setUint32(W.RspModuleLoad.id, id, true);
  dv.setUint32(W.RspModuleLoad.info_log_len, info.length, true);
  dv.setUint32(W.RspModuleLoad.error_log_len, error.length, true);
  for (let i = 0; i < plan.jitCount; i++) {
    const opt = m.dv.getUint32(MODULE_MEM.OPT_IDS + i * 4, true);
    // Buffers are the guest's to keep: only sizes, counts and times go back.
    const v = opt === A.CU_JIT_INFO_LOG_BUFFER || opt === A.CU_JIT_ERROR_LOG_BUFFER ? 0 : C.readU64(m.dv, MODULE_MEM.OPT_VALUES + i * 8);
    C.writeU64(dv, valuesAt + i * 8, opt === A.CU_JIT_WALL_TIME ? m.dv.getUint32(MODULE_MEM.OPT_VALUES + i * 8, true) : v);
  }
  out.u8.set(info, logsAt);
  out.u8.set(error, logsAt + info.length);
}

/** Copies a symbol name that follows a vgpu_req_symbol into native memory, NUL-terminated; its address or -1. */
function symbolName(s: Session, req: Request): number {
  const len = req.dv.getUint32(P + W.ReqSymbol.name_len, true);
  if (len === 0 || len > MAX_NAME || W.ReqSymbol.SIZE + len > req.payloadLen) return -1;
  const at = P + W.ReqSymbol.SIZE;
  const name = req.bytes.subarray(at, at + len);
  if (name.includes(0)) return -1;
  const off = 60 * 1024;
  s.out.u8.set(name, off);
  s.out.u8[off + len] = 0;
  return s.out.addr + off;
}

/** Attributes and parameter layout of a function, as vgpu_rsp_func_info + vgpu_param_info[]. */
export function answerFunction(s: Session, cuda: CudaDriver, fn: number, id: number, out: Reply): number {
  const m = s.out;
  let params = 0;
  let paramResult = CUDA_SUCCESS;
  const base = W.RspFuncInfo.SIZE;
  for (; params < MAX_PARAMS; params++) {
    const r = cuda.cuFuncGetParamInfo(fn, params, m.addr, m.addr + 8);
    if (r !== CUDA_SUCCESS) {
      if (params === 0) paramResult = r;
      break;
    }
    out.dv.setUint32(base + params * 8 + W.ParamInfo.offset, C.readU64(m.dv, 0), true);
    out.dv.setUint32(base + params * 8 + W.ParamInfo.size, C.readU64(m.dv, 8), true);
  }
  out.len = base + params * 8;
  out.u8.fill(0, 0, base);
  const dv = out.dv;
  dv.setUint32(W.RspFuncInfo.id, id, true);
  dv.setUint32(W.RspFuncInfo.param_count, params, true);
  // INVALID_VALUE past the last index is the normal end; a function without parameters ends at 0.
  dv.setUint32(W.RspFuncInfo.param_info_result, paramResult === CUDA_ERROR_INVALID_VALUE ? CUDA_SUCCESS : paramResult, true);
  for (let a = 0; a < W.FUNC_ATTR_COUNT; a++) {
    const r = cuda.cuFuncGetAttribute(m.addr, a, fn);
    dv.setInt32(W.RspFuncInfo.attrs + a * 4, r === CUDA_SUCCESS ? m.dv.getInt32(0, true) : -0x8000_0000, true);
  }
  return CUDA_SUCCESS;
}

/** A new id; parent is the module or library it came from (it goes when that is unloaded). */
function addHandle(s: Session, kind: HandleKind, ptr: number, ctx: number, parent = 0): number {
  return s.handles.add(kind, ptr, ctx, parent);
}

/** Answers a global of module or library `owner` (its range goes when that is unloaded). */
function answerGlobal(s: Session, req: Request, out: Reply, r: number, owner: number): number {
  if (r !== CUDA_SUCCESS) return r;
  const dptr = C.readU64(s.out.dv, 0);
  const bytes = C.readU64(s.out.dv, 8);
  s.ranges.add(dptr, bytes, 'global', req.ctx, owner);
  const dv = out.size(W.RspGlobal.SIZE);
  C.writeU64(dv, W.RspGlobal.dptr, dptr);
  C.writeU64(dv, W.RspGlobal.bytes, bytes);
  return CUDA_SUCCESS;
}

function checkedImage(s: Session, req: Request): boolean {
  const bytes = C.readU64(req.dv, P + W.ReqModuleLoad.image_bytes);
  return bytes === s.stage.length && bytes > 0 && s.stage.terminate();
}

function refusedOptions(s: Session, r: number): number {
  s.log.info({ result: r }, 'a module image load refused for its options: too many, a pointer-valued JIT option, or a library option other than the preserved-binary hint');
  return r;
}

/** A load the driver refused, logged with what was asked and the driver's error log (the guest sees only the code). */
function logLoadFailure(s: Session, call: string, plan: LoadPlan, r: number): void {
  if (r === CUDA_SUCCESS) return;
  const m = s.opMem;
  const options = Array.from({ length: plan.jitCount }, (_, i) => m.dv.getUint32(MODULE_MEM.OPT_IDS + i * 4, true));
  const errorLog = Buffer.from(logText(s, plan, plan.errorLog)).toString('utf8');
  s.log.info({ call, result: r, bytes: s.stage.length, jit_options: options, library_options: plan.libCount, error_log: errorLog || undefined },
    'the driver refused a module image');
}

/** After a load from bytes the guest sent, remember them for every guest. */
function remember(s: Session, r: number): void {
  if (r === CUDA_SUCCESS && s.moduleCache && !s.stage.fromCache) s.moduleCache.store(s.stage.view());
}

export const moduleOps: OpSpec[] = [
  op(W.Op.STAGE_LOOKUP, W.ReqStageLookup.SIZE, (s, req, out) => {
    const bytes = C.readU64(req.dv, P + W.ReqStageLookup.bytes);
    const hash = req.bytes.subarray(P + W.ReqStageLookup.sha256, P + W.ReqStageLookup.sha256 + 32);
    const image = s.moduleCache && bytes <= s.limits.maxImage ? s.moduleCache.lookup(hash, bytes) : null;
    const found = image !== null && s.stage.replace(image);
    if (!found) s.stage.reset();
    C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, found ? 1 : 0);
    return CUDA_SUCCESS;
  }, { needsDriver: false }),

  op(W.Op.STAGE_APPEND, W.ReqStageAppend.SIZE, (s, req) => {
    if (req.dv.getUint32(P + W.ReqStageAppend.reset, true)) s.stage.reset();
    const bytes = s.arenaBytes(req.dv, P + W.ReqStageAppend.data);
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    return s.stage.append(bytes) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
  }),

  op(W.Op.MODULE_LOAD, W.ReqModuleLoad.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    if (!checkedImage(s, req)) return CUDA_ERROR_INVALID_IMAGE;
    const plan = planLoad(s, req);
    if (typeof plan === 'number') return refusedOptions(s, plan);
    const m = s.opMem;
    const r = cuda.cuModuleLoadDataEx(s.out.addr, s.stage.addr, plan.jitCount, m.addr + MODULE_MEM.OPT_IDS, m.addr + MODULE_MEM.OPT_VALUES);
    logLoadFailure(s, 'cuModuleLoadDataEx', plan, r);
    remember(s, r);
    const id = r === CUDA_SUCCESS ? addHandle(s, 'module', C.readU64(s.out.dv, 0), req.ctx) : 0;
    s.stage.reset();
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    answerLoad(s, plan, id, out);
    return r;
  }, { needsCtx: true }),

  op(W.Op.MODULE_UNLOAD, W.ReqHandle.SIZE, (s, req) => {
    const id = req.dv.getUint32(P + W.ReqHandle.id, true);
    const h = s.handles.get(id, 'module');
    // A library's module (parent set) is unloaded with its library only.
    if (!h || h.ctx === 0 || h.parent !== 0) return CUDA_ERROR_INVALID_HANDLE;
    const r = s.driver()!.cuModuleUnload(h.ptr);
    if (r === CUDA_SUCCESS) {
      s.handles.delete(id);
      s.forgetUnloaded(id);
    }
    return r;
  }, { needsCtx: true }),

  op(W.Op.MODULE_GET_FUNCTION, W.ReqSymbol.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const modId = req.dv.getUint32(P + W.ReqSymbol.owner, true);
    const mod = s.realHandle(modId, 'module');
    if (mod < 0) return CUDA_ERROR_INVALID_HANDLE;
    const name = symbolName(s, req);
    if (name < 0) return CUDA_ERROR_INVALID_VALUE;
    const r = cuda.cuModuleGetFunction(s.out.addr, mod, name);
    if (r !== CUDA_SUCCESS) return r;
    const fn = C.readU64(s.out.dv, 0);
    const id = addHandle(s, 'function', fn, req.ctx, modId);
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    return answerFunction(s, cuda, fn, id, out);
  }, { needsCtx: true }),

  op(W.Op.MODULE_GET_GLOBAL, W.ReqSymbol.SIZE, (s, req, out) => {
    const modId = req.dv.getUint32(P + W.ReqSymbol.owner, true);
    const mod = s.realHandle(modId, 'module');
    if (mod < 0) return CUDA_ERROR_INVALID_HANDLE;
    const name = symbolName(s, req);
    if (name < 0) return CUDA_ERROR_INVALID_VALUE;
    return answerGlobal(s, req, out, s.driver()!.cuModuleGetGlobal_v2(s.out.addr, s.out.addr + 8, mod, name), modId);
  }, { needsCtx: true }),

  op(W.Op.MODULE_LOADING_MODE, 0, (s, _req, out) => {
    const r = s.driver()!.cuModuleGetLoadingMode(s.out.addr);
    if (r === CUDA_SUCCESS) C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, s.out.dv.getUint32(0, true));
    return r;
  }),

  op(W.Op.LIBRARY_LOAD, W.ReqModuleLoad.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    if (!checkedImage(s, req)) return CUDA_ERROR_INVALID_IMAGE;
    const plan = planLoad(s, req);
    if (typeof plan === 'number') return refusedOptions(s, plan);
    const m = s.opMem;
    const r = cuda.cuLibraryLoadData(s.out.addr, s.stage.addr, m.addr + MODULE_MEM.OPT_IDS, m.addr + MODULE_MEM.OPT_VALUES, plan.jitCount, 0, 0, 0);
    logLoadFailure(s, 'cuLibraryLoadData', plan, r);
    remember(s, r);
    const id = r === CUDA_SUCCESS ? addHandle(s, 'library', C.readU64(s.out.dv, 0), 0) : 0;
    s.stage.reset();
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    answerLoad(s, plan, id, out);
    return r;
  }),

  op(W.Op.LIBRARY_UNLOAD, W.ReqHandle.SIZE, (s, req) => {
    const id = req.dv.getUint32(P + W.ReqHandle.id, true);
    const lib = s.realHandle(id, 'library');
    if (lib < 0) return CUDA_ERROR_INVALID_HANDLE;
    const r = s.driver()!.cuLibraryUnload(lib);
    if (r === CUDA_SUCCESS) {
      s.handles.delete(id);
      s.forgetUnloaded(id);
    }
    return r;
  }),

  op(W.Op.LIBRARY_GET_KERNEL, W.ReqSymbol.SIZE, (s, req, out) => {
    const libId = req.dv.getUint32(P + W.ReqSymbol.owner, true);
    const lib = s.realHandle(libId, 'library');
    if (lib < 0) return CUDA_ERROR_INVALID_HANDLE;
    const name = symbolName(s, req);
    if (name < 0) return CUDA_ERROR_INVALID_VALUE;
    const r = s.driver()!.cuLibraryGetKernel(s.out.addr, lib, name);
    if (r !== CUDA_SUCCESS) return r;
    const id = addHandle(s, 'kernel', C.readU64(s.out.dv, 0), 0, libId);
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
    return CUDA_SUCCESS;
  }),

  op(W.Op.LIBRARY_GET_MODULE, W.ReqHandle.SIZE, (s, req, out) => {
    const libId = req.dv.getUint32(P + W.ReqHandle.id, true);
    const lib = s.realHandle(libId, 'library');
    if (lib < 0) return CUDA_ERROR_INVALID_HANDLE;
    const r = s.driver()!.cuLibraryGetModule(s.out.addr, lib);
    if (r !== CUDA_SUCCESS) return r;
    // The module is the library's in the current context: it dies with either (MODULE_UNLOAD refuses it, its parent being set).
    const id = addHandle(s, 'module', C.readU64(s.out.dv, 0), req.ctx, libId);
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
    return CUDA_SUCCESS;
  }, { needsCtx: true }),

  op(W.Op.LIBRARY_GET_GLOBAL, W.ReqSymbol.SIZE, (s, req, out) => {
    const libId = req.dv.getUint32(P + W.ReqSymbol.owner, true);
    const lib = s.realHandle(libId, 'library');
    if (lib < 0) return CUDA_ERROR_INVALID_HANDLE;
    const name = symbolName(s, req);
    if (name < 0) return CUDA_ERROR_INVALID_VALUE;
    return answerGlobal(s, req, out, s.driver()!.cuLibraryGetGlobal(s.out.addr, s.out.addr + 8, lib, name), libId);
  }, { needsCtx: true }),

  op(W.Op.KERNEL_GET_FUNCTION, W.ReqHandle.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const k = s.handles.get(req.dv.getUint32(P + W.ReqHandle.id, true), 'kernel');
    if (!k) return CUDA_ERROR_INVALID_HANDLE;
    const r = cuda.cuKernelGetFunction(s.out.addr, k.ptr);
    if (r !== CUDA_SUCCESS) return r;
    const fn = C.readU64(s.out.dv, 0);
    // The function is the kernel's library's: it goes when that library is unloaded.
    const id = addHandle(s, 'function', fn, req.ctx, k.parent);
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    return answerFunction(s, cuda, fn, id, out);
  }, { needsCtx: true }),

  op(W.Op.KERNEL_GET_ATTRIBUTES, W.ReqHandle.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const kernel = s.realHandle(req.dv.getUint32(P + W.ReqHandle.id, true), 'kernel');
    if (kernel < 0) return CUDA_ERROR_INVALID_HANDLE;
    if (req.dv.getUint32(P + W.ReqHandle.aux, true) !== 0) return CUDA_ERROR_INVALID_VALUE;
    const dv = out.size(W.RspFuncInfo.SIZE);
    dv.setUint32(W.RspFuncInfo.id, req.dv.getUint32(P + W.ReqHandle.id, true), true);
    for (let a = 0; a < W.FUNC_ATTR_COUNT; a++) {
      const r = cuda.cuKernelGetAttribute(s.out.addr, a, kernel, s.device!.cuDevice);
      dv.setInt32(W.RspFuncInfo.attrs + a * 4, r === CUDA_SUCCESS ? s.out.dv.getInt32(0, true) : -0x8000_0000, true);
    }
    return CUDA_SUCCESS;
  }),

  op(W.Op.FUNC_SET_ATTRIBUTE, W.ReqFuncAttr.SIZE, (s, req) => {
    const fn = s.realHandle(req.dv.getUint32(P + W.ReqFuncAttr.id, true), 'function');
    if (fn < 0) return CUDA_ERROR_INVALID_HANDLE;
    return s.driver()!.cuFuncSetAttribute(fn, req.dv.getUint32(P + W.ReqFuncAttr.attr, true), req.dv.getInt32(P + W.ReqFuncAttr.value, true));
  }, { needsCtx: true }),

  op(W.Op.KERNEL_SET_ATTRIBUTE, W.ReqFuncAttr.SIZE, (s, req) => {
    const kernel = s.realHandle(req.dv.getUint32(P + W.ReqFuncAttr.id, true), 'kernel');
    if (kernel < 0) return CUDA_ERROR_INVALID_HANDLE;
    if (req.dv.getInt32(P + W.ReqFuncAttr.device, true) !== 0) return CUDA_ERROR_INVALID_VALUE;
    return s.driver()!.cuKernelSetAttribute(req.dv.getUint32(P + W.ReqFuncAttr.attr, true), req.dv.getInt32(P + W.ReqFuncAttr.value, true), kernel, s.device!.cuDevice);
  }),

  op(W.Op.FUNC_SET_CACHE_CONFIG, W.ReqFuncAttr.SIZE, (s, req) => {
    const fn = s.realHandle(req.dv.getUint32(P + W.ReqFuncAttr.id, true), 'function');
    if (fn < 0) return CUDA_ERROR_INVALID_HANDLE;
    return s.driver()!.cuFuncSetCacheConfig(fn, req.dv.getInt32(P + W.ReqFuncAttr.value, true));
  }, { needsCtx: true }),
];
