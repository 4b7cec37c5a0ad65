// The virtual-memory API: physical allocations (cuMemCreate) counted against
// the guest's device-memory quota exactly like cuMemAlloc's, reservations of
// address space, and mappings between them.  The guest's handle is an id of
// its own handle table; every address it names must lie in a reservation it
// made, every handle must be one it holds (vmm-table.ts keeps both).  Calls
// run in the guest's context when it names one (the driver needs none).
import * as W from '../wire/layout.js';
import * as A from '../wire/cuda-abi.js';
import * as C from '../native/libc.js';
import {
  CUDA_ERROR_INVALID_DEVICE,
  CUDA_ERROR_INVALID_VALUE,
  CUDA_ERROR_NOT_SUPPORTED,
  CUDA_ERROR_OUT_OF_MEMORY,
  CUDA_SUCCESS,
} from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';
import { op, OpSpec, P } from './op.js';
import { Refusal } from '../metrics/guest-stats.js';

/** Where this file's driver arguments live in the session's scratch memory (s.out). */
const VMM_OUT = {
  VALUE: 0, // one out-parameter: a granularity, an address, a handle, flags, an fd
  PROP: 64, // CUmemAllocationProp
  LOCATION: 128, // CUmemLocation
  ACCESS: 256, // CUmemAccessDesc[VMM_ACCESS_MAX]
} as const;
/** Most address space one guest may reserve, as a multiple of the device's memory (a bound, not the quota). */
const RESERVE_FACTOR = 64;

const u64 = (req: Request, off: number): number => C.readU64(req.dv, P + off);

/** A size or address from the guest, or -1 when no JS number holds it exactly. */
function safe(v: number): number {
  return Number.isSafeInteger(v) ? v : -1;
}

/** The context the guest named current, when it named one: a CUresult. */
function inGuestCtx(s: Session, req: Request): number {
  return req.ctx === 0 ? CUDA_SUCCESS : s.useCtx(req.ctx);
}

/** Translates a guest location {type, device ordinal} into dv at off; a CUresult. */
function writeLocation(s: Session, dv: DataView, off: number, type: number, id: number): number {
  if (type !== A.CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_NOT_SUPPORTED; // the guest sees device memory only
  if (id !== 0) return CUDA_ERROR_INVALID_DEVICE; // the guest's one device
  dv.setUint32(off + A.CUmemLocation.type, type, true);
  dv.setInt32(off + A.CUmemLocation.id, s.device!.cuDevice, true);
  return CUDA_SUCCESS;
}

/** Builds CUmemAllocationProp from a vgpu_vmm_prop at wire offset at; a CUresult. */
function buildProp(s: Session, req: Request, at: number): number {
  const dv = s.out.dv;
  const src = P + at;
  s.out.u8.fill(0, VMM_OUT.PROP, VMM_OUT.PROP + A.CUmemAllocationProp.SIZE);
  dv.setUint32(VMM_OUT.PROP + A.CUmemAllocationProp.type, req.dv.getUint32(src + W.VmmProp.type, true), true);
  dv.setUint32(VMM_OUT.PROP + A.CUmemAllocationProp.requestedHandleTypes, req.dv.getUint32(src + W.VmmProp.handle_types, true), true);
  const r = writeLocation(s, dv, VMM_OUT.PROP + A.CUmemAllocationProp.locationType,
    req.dv.getUint32(src + W.VmmProp.location_type, true), req.dv.getInt32(src + W.VmmProp.location_id, true));
  if (r !== CUDA_SUCCESS) return r;
  // win32HandleMetaData stays NULL: it has no meaning on Linux.
  dv.setUint8(VMM_OUT.PROP + A.CUmemAllocationProp.allocFlagsCompressionType, req.dv.getUint8(src + W.VmmProp.compression_type));
  dv.setUint8(VMM_OUT.PROP + A.CUmemAllocationProp.allocFlagsGpuDirectRDMACapable, req.dv.getUint8(src + W.VmmProp.gpu_direct_rdma_capable));
  dv.setUint16(VMM_OUT.PROP + A.CUmemAllocationProp.allocFlagsUsage, req.dv.getUint16(src + W.VmmProp.usage, true), true);
  return CUDA_SUCCESS;
}

/** A held handle's allocation, by the id at wire offset off. */
function heldAt(s: Session, req: Request, off: number) {
  return s.vmm.held(req.dv.getUint32(P + off, true));
}

export const vmmOps: OpSpec[] = [
  op(W.Op.VMM_GRANULARITY, W.ReqVmmGranularity.SIZE, (s, req, out) => {
    let r = inGuestCtx(s, req);
    if (r === CUDA_SUCCESS) r = buildProp(s, req, W.ReqVmmGranularity.prop);
    if (r !== CUDA_SUCCESS) return r;
    const option = req.dv.getUint32(P + W.ReqVmmGranularity.option, true);
    r = s.driver()!.cuMemGetAllocationGranularity(s.out.addr + VMM_OUT.VALUE, s.out.addr + VMM_OUT.PROP, option);
    if (r !== CUDA_SUCCESS) return r;
    C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, C.readU64(s.out.dv, VMM_OUT.VALUE));
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_CREATE, W.ReqVmmCreate.SIZE, (s, req, out) => {
    const bytes = safe(u64(req, W.ReqVmmCreate.bytes));
    if (bytes <= 0) return CUDA_ERROR_INVALID_VALUE;
    // Counted before the driver is asked: the quota is never exceeded, not even for a moment.
    if (s.deviceBytes() + bytes > s.limits.memQuota) {
      s.refuse(Refusal.device_memory_quota, req.op, bytes);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    let r = inGuestCtx(s, req);
    if (r === CUDA_SUCCESS) r = buildProp(s, req, W.ReqVmmCreate.prop);
    if (r !== CUDA_SUCCESS) return r;
    const cuda = s.driver()!;
    r = cuda.cuMemCreate(s.out.addr + VMM_OUT.VALUE, bytes, s.out.addr + VMM_OUT.PROP, BigInt(C.readU64(req.dv, P + W.ReqVmmCreate.flags)));
    if (r !== CUDA_SUCCESS) return r;
    const real = s.out.dv.getBigUint64(VMM_OUT.VALUE, true);
    const id = s.handles.add('vmm', 0, 0);
    if (id < 0) {
      cuda.cuMemRelease(real);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    s.vmm.addAllocation(id, real, bytes);
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_RELEASE, W.ReqHandle.SIZE, (s, req) => {
    const id = req.dv.getUint32(P + W.ReqHandle.id, true);
    const a = s.vmm.held(id);
    if (!a) return CUDA_ERROR_INVALID_VALUE;
    const imported = s.vmm.isImported(id);
    const outcome = s.vmm.release(id)!;
    if (outcome.releaseReal) {
      const r = s.driver()!.cuMemRelease(a.real);
      if (r !== CUDA_SUCCESS) s.log.warn({ result: r, handle: a.id }, 'cuMemRelease failed: the allocation may stay until the guest leaves');
    }
    if (imported) s.handles.delete(id);
    if (outcome.gone) s.handles.delete(a.id);
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_RESERVE, W.ReqVmmReserve.SIZE, (s, req, out) => {
    const bytes = safe(u64(req, W.ReqVmmReserve.bytes));
    const alignment = safe(u64(req, W.ReqVmmReserve.alignment));
    const hint = safe(u64(req, W.ReqVmmReserve.addr));
    if (bytes <= 0 || alignment < 0 || hint < 0) return CUDA_ERROR_INVALID_VALUE;
    if (s.vmm.reservedBytes + bytes > RESERVE_FACTOR * s.device!.totalMem) return CUDA_ERROR_OUT_OF_MEMORY;
    let r = inGuestCtx(s, req);
    if (r !== CUDA_SUCCESS) return r;
    // A hint is only a hint: the driver never hands out a range reserved already (another guest's included).
    r = s.driver()!.cuMemAddressReserve(s.out.addr + VMM_OUT.VALUE, bytes, alignment, hint, BigInt(C.readU64(req.dv, P + W.ReqVmmReserve.flags)));
    if (r !== CUDA_SUCCESS) return r;
    const ptr = C.readU64(s.out.dv, VMM_OUT.VALUE);
    s.vmm.addReservation(ptr, bytes);
    C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, ptr);
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_FREE, W.ReqVmmRange.SIZE, (s, req) => {
    const ptr = safe(u64(req, W.ReqVmmRange.ptr));
    const bytes = safe(u64(req, W.ReqVmmRange.bytes));
    const why = s.vmm.whyNotFreeable(ptr, bytes);
    if (why !== null) {
      s.log.info({ why, bytes }, 'cuMemAddressFree refused: not a whole reservation of this guest, or still mapped');
      return CUDA_ERROR_INVALID_VALUE;
    }
    const r = s.driver()!.cuMemAddressFree(ptr, bytes);
    if (r === CUDA_SUCCESS) s.vmm.removeReservation(ptr);
    return r;
  }),

  op(W.Op.VMM_MAP, W.ReqVmmMap.SIZE, (s, req) => {
    const ptr = safe(u64(req, W.ReqVmmMap.ptr));
    const bytes = safe(u64(req, W.ReqVmmMap.bytes));
    const offset = safe(u64(req, W.ReqVmmMap.offset));
    const a = heldAt(s, req, W.ReqVmmMap.handle);
    if (!a || offset < 0) return CUDA_ERROR_INVALID_VALUE;
    // The driver answers NOT_SUPPORTED for a range that is not reserved or is mapped already
    // (measured on an H200, driver 580); another guest's range reads as not reserved.
    if (!s.vmm.reservationHolding(ptr, bytes)) return CUDA_ERROR_NOT_SUPPORTED;
    if (s.vmm.mappingsIn(ptr, bytes).length > 0) return CUDA_ERROR_NOT_SUPPORTED;
    // A piece past the allocation's end: NOT_SUPPORTED, as the driver answers (test/gpu vmm); checked
    // here so the driver never sees an offset the guest chose freely (found by proxy-ring: 2^48 and more).
    if (offset + bytes > a.bytes) return CUDA_ERROR_NOT_SUPPORTED;
    let r = inGuestCtx(s, req);
    if (r !== CUDA_SUCCESS) return r;
    // Safe to hand over: the range lies in this guest's own reservation, the handle is its own,
    // and [offset, offset + bytes) lies inside the allocation.
    r = s.driver()!.cuMemMap(ptr, bytes, offset, a.real, BigInt(C.readU64(req.dv, P + W.ReqVmmMap.flags)));
    if (r === CUDA_SUCCESS) s.vmm.addMapping(ptr, bytes, a, offset);
    return r;
  }),

  op(W.Op.VMM_UNMAP, W.ReqVmmRange.SIZE, (s, req) => {
    const ptr = safe(u64(req, W.ReqVmmRange.ptr));
    const bytes = safe(u64(req, W.ReqVmmRange.bytes));
    if (!s.vmm.reservationHolding(ptr, bytes)) return CUDA_ERROR_INVALID_VALUE;
    let r = inGuestCtx(s, req);
    if (r !== CUDA_SUCCESS) return r;
    // Inside this guest's reservation: the driver decides what may be unmapped (whole mappings only).
    r = s.driver()!.cuMemUnmap(ptr, bytes);
    if (r !== CUDA_SUCCESS) return r;
    for (const a of s.vmm.removeMappings(ptr, bytes)) s.handles.delete(a.id);
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_SET_ACCESS, W.ReqVmmRange.SIZE, (s, req) => {
    const ptr = safe(u64(req, W.ReqVmmRange.ptr));
    const bytes = safe(u64(req, W.ReqVmmRange.bytes));
    const count = req.dv.getUint32(P + W.ReqVmmRange.count, true);
    if (count === 0 || count > W.VMM_ACCESS_MAX || req.payloadLen < W.ReqVmmRange.SIZE + count * W.VmmAccess.SIZE) return CUDA_ERROR_INVALID_VALUE;
    if (!s.vmm.reservationHolding(ptr, bytes)) return CUDA_ERROR_INVALID_VALUE;
    const dv = s.out.dv;
    for (let i = 0; i < count; i++) {
      const src = P + W.ReqVmmRange.SIZE + i * W.VmmAccess.SIZE;
      const at = VMM_OUT.ACCESS + i * A.CUmemAccessDesc.SIZE;
      const r = writeLocation(s, dv, at + A.CUmemAccessDesc.locationType,
        req.dv.getUint32(src + W.VmmAccess.location_type, true), req.dv.getInt32(src + W.VmmAccess.location_id, true));
      if (r !== CUDA_SUCCESS) return r;
      dv.setUint32(at + A.CUmemAccessDesc.flags, req.dv.getUint32(src + W.VmmAccess.flags, true), true);
    }
    const r = inGuestCtx(s, req);
    if (r !== CUDA_SUCCESS) return r;
    // The range lies in this guest's reservation; descriptors name its one device.
    return s.driver()!.cuMemSetAccess(ptr, bytes, s.out.addr + VMM_OUT.ACCESS, count);
  }),

  op(W.Op.VMM_GET_ACCESS, W.ReqVmmGetAccess.SIZE, (s, req, out) => {
    const ptr = safe(u64(req, W.ReqVmmGetAccess.ptr));
    if (!s.vmm.reservationHolding(ptr, 1)) return CUDA_ERROR_INVALID_VALUE;
    let r = writeLocation(s, s.out.dv, VMM_OUT.LOCATION,
      req.dv.getUint32(P + W.ReqVmmGetAccess.location_type, true), req.dv.getInt32(P + W.ReqVmmGetAccess.location_id, true));
    if (r === CUDA_SUCCESS) r = inGuestCtx(s, req);
    if (r !== CUDA_SUCCESS) return r;
    r = s.driver()!.cuMemGetAccess(s.out.addr + VMM_OUT.VALUE, s.out.addr + VMM_OUT.LOCATION, ptr);
    if (r !== CUDA_SUCCESS) return r;
    C.writeU64(out.size(W.RspU64.SIZE), W.RspU64.value, C.readU64(s.out.dv, VMM_OUT.VALUE));
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_PROPERTIES, W.ReqHandle.SIZE, (s, req, out) => {
    const a = heldAt(s, req, W.ReqHandle.id);
    if (!a) return CUDA_ERROR_INVALID_VALUE;
    let r = inGuestCtx(s, req);
    if (r !== CUDA_SUCCESS) return r;
    r = s.driver()!.cuMemGetAllocationPropertiesFromHandle(s.out.addr + VMM_OUT.PROP, a.real);
    if (r !== CUDA_SUCCESS) return r;
    const dv = s.out.dv;
    const o = out.size(W.VmmProp.SIZE);
    o.setUint32(W.VmmProp.type, dv.getUint32(VMM_OUT.PROP + A.CUmemAllocationProp.type, true), true);
    // An imported handle shows no requested handle types, as the driver's own imports do (test/gpu vmm).
    const imported = s.vmm.isImported(req.dv.getUint32(P + W.ReqHandle.id, true));
    o.setUint32(W.VmmProp.handle_types, imported ? 0 : dv.getUint32(VMM_OUT.PROP + A.CUmemAllocationProp.requestedHandleTypes, true), true);
    o.setUint32(W.VmmProp.location_type, dv.getUint32(VMM_OUT.PROP + A.CUmemAllocationProp.locationType, true), true);
    // The guest's one device is ordinal 0; the real ordinal stays here.
    o.setInt32(W.VmmProp.location_id, 0, true);
    o.setUint8(W.VmmProp.compression_type, dv.getUint8(VMM_OUT.PROP + A.CUmemAllocationProp.allocFlagsCompressionType));
    o.setUint8(W.VmmProp.gpu_direct_rdma_capable, dv.getUint8(VMM_OUT.PROP + A.CUmemAllocationProp.allocFlagsGpuDirectRDMACapable));
    o.setUint16(W.VmmProp.usage, dv.getUint16(VMM_OUT.PROP + A.CUmemAllocationProp.allocFlagsUsage, true), true);
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_RETAIN, W.ReqVmmRange.SIZE, (s, req, out) => {
    const ptr = safe(u64(req, W.ReqVmmRange.ptr));
    const m = ptr >= 0 ? s.vmm.mappingAt(ptr) : undefined;
    if (!m) return CUDA_ERROR_INVALID_VALUE;
    if (m.alloc.refs === 0) {
      // The guest released its handle while still mapped: the proxy takes a driver reference anew.
      let r = inGuestCtx(s, req);
      if (r === CUDA_SUCCESS) r = s.driver()!.cuMemRetainAllocationHandle(s.out.addr + VMM_OUT.VALUE, ptr);
      if (r !== CUDA_SUCCESS) return r;
      m.alloc.real = s.out.dv.getBigUint64(VMM_OUT.VALUE, true);
    }
    s.vmm.retain(m.alloc);
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, m.alloc.id, true);
    return CUDA_SUCCESS;
  }),

  op(W.Op.VMM_EXPORT, W.ReqVmmShare.SIZE, (s, req) => {
    // The guest makes its own token for the handle; the driver says whether the allocation may be exported so.
    const a = heldAt(s, req, W.ReqVmmShare.handle);
    if (!a) return CUDA_ERROR_INVALID_VALUE;
    const type = req.dv.getUint32(P + W.ReqVmmShare.handle_type, true);
    if (type !== A.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
    let r = inGuestCtx(s, req);
    if (r !== CUDA_SUCCESS) return r;
    r = s.driver()!.cuMemExportToShareableHandle(s.out.addr + VMM_OUT.VALUE, a.real, type, BigInt(C.readU64(req.dv, P + W.ReqVmmShare.flags)));
    if (r === CUDA_SUCCESS) C.close(s.out.dv.getInt32(VMM_OUT.VALUE, true)); // the proxy's descriptor is not the guest's
    return r;
  }),

  op(W.Op.VMM_IMPORT, W.ReqVmmShare.SIZE, (s, req, out) => {
    // Only a handle this guest process exported comes back (its token named it): a new handle, one more reference.
    const a = heldAt(s, req, W.ReqVmmShare.handle);
    if (!a) return CUDA_ERROR_INVALID_VALUE;
    const id = s.handles.add('vmm', 0, 0);
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    s.vmm.addImport(id, a);
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
    return CUDA_SUCCESS;
  }),
];
