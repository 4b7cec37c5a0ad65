// Device memory: allocation within the guest's quota, copies, memsets, and
// page-locked host segments.  Every device address a guest names is checked
// against the ranges it owns; every host address comes from its arena or its
// own segments.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import * as A from '../wire/cuda-abi.js';
import {
  CUDA_ERROR_INVALID_HANDLE,
  CUDA_ERROR_INVALID_VALUE,
  CUDA_ERROR_OUT_OF_MEMORY,
  CUDA_SUCCESS,
} from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import { ChannelFault } from '../channel/errors.js';
import { mapShared, sealedSize } from '../channel/handover.js';
import { closeAll, recvWithFds, waitReadable } from '../channel/unix-socket.js';
import type { Session } from '../guest/session.js';
import { isArenaRef } from '../guest/arena-release.js';
import { op, OpSpec, P } from './op.js';
import { Refusal } from '../metrics/guest-stats.js';

/** The copy family's layout in s.opMem (see Session.opMem). */
const COPY_MEM = {
  COPY2D: 0, // CUDA_MEMCPY2D
} as const;
const M2D = A.CUDA_MEMCPY2D;
/** The fields of one side of CUDA_MEMCPY2D. */
interface Copy2dSide { x: number; y: number; type: number; host: number; device: number; array: number; pitch: number }
const M2D_SRC: Copy2dSide = { x: M2D.srcXInBytes, y: M2D.srcY, type: M2D.srcMemoryType, host: M2D.srcHost, device: M2D.srcDevice, array: M2D.srcArray, pitch: M2D.srcPitch };
const M2D_DST: Copy2dSide = { x: M2D.dstXInBytes, y: M2D.dstY, type: M2D.dstMemoryType, host: M2D.dstHost, device: M2D.dstDevice, array: M2D.dstArray, pitch: M2D.dstPitch };
const FD_NOTE_TIMEOUT_MS = 2000;
const FD_NOTE_OFF = 1024;

/**
 * Runs a copy or memset the way the request asks: stream-ordered (ASYNC), on
 * a stream but waited for (PTDS: the synchronous _ptds entry points), or as
 * the synchronous legacy-stream call.
 */
function ordered(s: Session, req: Request, streamId: number, onStream: (stream: number) => number, sync: () => number): number {
  if (req.flags & (W.RF_ASYNC | W.RF_PTDS)) {
    const stream = s.stream(streamId);
    if (stream < 0) return CUDA_ERROR_INVALID_HANDLE;
    const r = onStream(stream);
    if (r !== CUDA_SUCCESS || (req.flags & W.RF_ASYNC)) return r;
    return s.driver()!.cuStreamSynchronize(stream);
  }
  return sync();
}

const u64 = (req: Request, off: number): number => C.readU64(req.dv, P + off);

/**
 * The stream-ordered form of a copy whose host side (host, bytes) may be
 * arena bytes: then the arena's rules apply (held until the copy is done when
 * read, waited for when written; see arena-release.ts).
 */
function onStreamVia(s: Session, req: Request, arena: boolean, toDevice: boolean, host: number, bytes: number,
  run: (host: number, stream: number) => number): (stream: number) => number {
  if (!arena) return (st) => run(host, st);
  const async = (req.flags & W.RF_ASYNC) !== 0;
  return (st) => s.arena.copy(s.currentCtx, st, async, toDevice, host, bytes, (h) => run(h, st));
}

/** The largest pitch taken: 256 TiB, more than any device's memory, so no real row is further apart. */
const PITCH_MAX = 2 ** 48;

/**
 * Bytes a memset of height rows touches, or -1.  Pitch, width and height
 * arrive as u64: each must be a safe integer, or the driver would be handed a
 * rounded value (for height 1 the pitch is passed on though no row follows).
 */
export function memsetBytes(pitch: number, width: number, height: number, elem: number): number {
  if (!Number.isSafeInteger(pitch) || !Number.isSafeInteger(width) || !Number.isSafeInteger(height)) return -1;
  // With height 1 nothing else bounds the pitch the driver is handed (found by proxy-ring: 2^51).
  if (pitch > PITCH_MAX) return -1;
  if (height === 1 && pitch === 0) return width * elem;
  // Rows 0 bytes apart name no memory (width 0 too): any height would pass the range check.
  if (pitch < width * elem || height < 1 || pitch === 0) return -1;
  return pitch * (height - 1) + width * elem;
}

export const memoryOps: OpSpec[] = [
  op(W.Op.MEM_ALLOC, W.ReqMemAlloc.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const bytes = u64(req, W.ReqMemAlloc.bytes);
    const width = u64(req, W.ReqMemAlloc.width);
    const height = req.dv.getUint32(P + W.ReqMemAlloc.height, true);
    const elem = req.dv.getUint32(P + W.ReqMemAlloc.elem_size, true);
    const want = width > 0 ? width * height : bytes;
    // A pitched request of height 0 wants 0 bytes whatever its width: the width itself must be a size too.
    if (!Number.isSafeInteger(want) || !Number.isSafeInteger(width) || (width > 0 && height === 0)) return CUDA_ERROR_INVALID_VALUE;
    if (s.deviceBytes() + want > s.limits.memQuota) {
      s.refuse(Refusal.device_memory_quota, req.op, want);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    const m = s.out;
    let r: number;
    if (width > 0) r = cuda.cuMemAllocPitch_v2(m.addr, m.addr + 8, width, height, elem);
    else if (req.flags & W.RF_ASYNC) {
      const stream = s.stream(req.dv.getUint32(P + W.ReqMemAlloc.stream, true));
      if (stream < 0) return CUDA_ERROR_INVALID_HANDLE;
      r = cuda.cuMemAllocAsync(m.addr, bytes, stream);
    } else r = cuda.cuMemAlloc_v2(m.addr, bytes);
    if (r !== CUDA_SUCCESS) return r;
    const dptr = C.readU64(m.dv, 0);
    const pitch = width > 0 ? C.readU64(m.dv, 8) : 0;
    const size = width > 0 ? pitch * height : bytes;
    if (s.deviceBytes() + size > s.limits.memQuota) {
      cuda.cuMemFree_v2(dptr);
      s.refuse(Refusal.device_memory_quota, req.op, size);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    s.ranges.add(dptr, size, 'alloc', req.ctx);
    const dv = out.size(W.RspMemAlloc.SIZE);
    C.writeU64(dv, W.RspMemAlloc.dptr, dptr);
    C.writeU64(dv, W.RspMemAlloc.pitch, pitch);
    return CUDA_SUCCESS;
  }, { needsCtx: true }),

  op(W.Op.MEM_FREE, W.ReqMemFree.SIZE, (s, req) => {
    const dptr = u64(req, W.ReqMemFree.dptr);
    const range = s.ranges.at(dptr);
    if (!range || range.kind !== 'alloc') return CUDA_ERROR_INVALID_VALUE;
    let r: number;
    if (req.flags & W.RF_ASYNC) {
      const stream = s.stream(req.dv.getUint32(P + W.ReqMemFree.stream, true));
      if (stream < 0) return CUDA_ERROR_INVALID_HANDLE;
      r = s.driver()!.cuMemFreeAsync(dptr, stream);
    } else r = s.driver()!.cuMemFree_v2(dptr);
    if (r === CUDA_SUCCESS) s.ranges.remove(dptr);
    return r;
  }, { needsCtx: true }),

  op(W.Op.MEM_GET_INFO, 0, (s, _req, out) => {
    const m = s.out;
    const r = s.driver()!.cuMemGetInfo_v2(m.addr, m.addr + 8);
    if (r !== CUDA_SUCCESS) return r;
    const quota = s.limits.memQuota;
    const total = Math.min(C.readU64(m.dv, 8), quota);
    const free = Math.max(0, Math.min(C.readU64(m.dv, 0), quota - s.deviceBytes()));
    const dv = out.size(W.RspMemInfo.SIZE);
    C.writeU64(dv, W.RspMemInfo.free, free);
    C.writeU64(dv, W.RspMemInfo.total, total);
    return CUDA_SUCCESS;
  }, { needsCtx: true }),

  op(W.Op.MEMCPY_HTOD, W.ReqMemcpyHtod.SIZE, (s, req) => {
    const cuda = s.driver()!;
    const dst = u64(req, W.ReqMemcpyHtod.dst);
    const bytes = u64(req, W.ReqMemcpyHtod.bytes);
    if (!s.ranges.covers(dst, bytes)) return CUDA_ERROR_INVALID_VALUE;
    const src = s.hostAddr(req.dv, P + W.ReqMemcpyHtod.src, bytes);
    if (src < 0) return CUDA_ERROR_INVALID_VALUE;
    // src is inside the guest's arena or one of its mapped segments, checked above.
    const arena = isArenaRef(req.dv, P + W.ReqMemcpyHtod.src);
    return ordered(s, req, req.dv.getUint32(P + W.ReqMemcpyHtod.stream, true),
      onStreamVia(s, req, arena, true, src, bytes, (h, st) => cuda.cuMemcpyHtoDAsync_v2(dst, h, bytes, st)),
      () => cuda.cuMemcpyHtoD_v2(dst, src, bytes));
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.MEMCPY_DTOH, W.ReqMemcpyDtoh.SIZE, (s, req) => {
    const cuda = s.driver()!;
    const src = u64(req, W.ReqMemcpyDtoh.src);
    const bytes = u64(req, W.ReqMemcpyDtoh.bytes);
    if (!s.ranges.covers(src, bytes)) return CUDA_ERROR_INVALID_VALUE;
    const dst = s.hostAddr(req.dv, P + W.ReqMemcpyDtoh.dst, bytes);
    if (dst < 0) return CUDA_ERROR_INVALID_VALUE;
    // dst is inside the guest's arena or one of its mapped segments, checked above.
    const arena = isArenaRef(req.dv, P + W.ReqMemcpyDtoh.dst);
    return ordered(s, req, req.dv.getUint32(P + W.ReqMemcpyDtoh.stream, true),
      onStreamVia(s, req, arena, false, dst, bytes, (h, st) => cuda.cuMemcpyDtoHAsync_v2(h, src, bytes, st)),
      () => cuda.cuMemcpyDtoH_v2(dst, src, bytes));
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.MEMCPY_DTOD, W.ReqMemcpyDtod.SIZE, (s, req) => {
    const cuda = s.driver()!;
    const dst = u64(req, W.ReqMemcpyDtod.dst);
    const src = u64(req, W.ReqMemcpyDtod.src);
    const bytes = u64(req, W.ReqMemcpyDtod.bytes);
    if (!s.ranges.covers(dst, bytes) || !s.ranges.covers(src, bytes)) return CUDA_ERROR_INVALID_VALUE;
    return ordered(s, req, req.dv.getUint32(P + W.ReqMemcpyDtod.stream, true),
      (st) => cuda.cuMemcpyDtoDAsync_v2(dst, src, bytes, st),
      () => cuda.cuMemcpyDtoD_v2(dst, src, bytes));
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.MEMSET, W.ReqMemset.SIZE, (s, req) => {
    const cuda = s.driver()!;
    const dst = u64(req, W.ReqMemset.dst);
    const pitch = u64(req, W.ReqMemset.pitch);
    const width = u64(req, W.ReqMemset.width);
    const height = u64(req, W.ReqMemset.height);
    const elem = req.dv.getUint32(P + W.ReqMemset.elem_size, true);
    const value = req.dv.getUint32(P + W.ReqMemset.value, true);
    if (elem !== 1 && elem !== 2 && elem !== 4) return CUDA_ERROR_INVALID_VALUE;
    const bytes = memsetBytes(pitch, width, height, elem);
    if (bytes < 0 || !s.ranges.covers(dst, bytes)) return CUDA_ERROR_INVALID_VALUE;
    const twoD = !(height === 1 && pitch === 0);
    const run = (st: number): number => {
      if (!twoD) {
        if (elem === 1) return cuda.cuMemsetD8Async(dst, value & 0xff, width, st);
        if (elem === 2) return cuda.cuMemsetD16Async(dst, value & 0xffff, width, st);
        return cuda.cuMemsetD32Async(dst, value, width, st);
      }
      if (elem === 1) return cuda.cuMemsetD2D8Async(dst, pitch, value & 0xff, width, height, st);
      if (elem === 2) return cuda.cuMemsetD2D16Async(dst, pitch, value & 0xffff, width, height, st);
      return cuda.cuMemsetD2D32Async(dst, pitch, value, width, height, st);
    };
    // The synchronous memsets run on the legacy stream, as the driver's own do.
    return ordered(s, req, req.dv.getUint32(P + W.ReqMemset.stream, true), run, () => run(0));
  }, { needsCtx: true }),

  op(W.Op.MEMCPY_2D, W.ReqMemcpy2d.SIZE, (s, req) => {
    const cuda = s.driver()!;
    const width = u64(req, W.ReqMemcpy2d.width_bytes);
    const height = u64(req, W.ReqMemcpy2d.height);
    if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width <= 0 || height <= 0) return CUDA_ERROR_INVALID_VALUE;
    // The host side in the arena, if any (the last one named: a 2-D copy with both sides in the arena writes it).
    let arena: { at: number; addr: number; span: number; toDevice: boolean } | null = null;
    const copy2d = COPY_MEM.COPY2D;
    const m = s.opMem.dv;
    // Zeroed first: the padding after each memory type, and the fields a side leaves unused, are 0.
    s.opMem.u8.fill(0, copy2d, copy2d + M2D.SIZE);
    // Builds one side of CUDA_MEMCPY2D; false when the guest does not own every byte it names.
    const side = (isHost: number, dev: number, ref: number, xOff: number, yOff: number, pitchOff: number, f: Copy2dSide): boolean => {
      const x = u64(req, xOff);
      const y = u64(req, yOff);
      const pitch = u64(req, pitchOff);
      if (!Number.isSafeInteger(pitch) || (height > 1 && pitch < width)) return false;
      const span = (height - 1) * pitch + width;
      if (isHost) {
        // Host sides arrive with x = y = 0: the reference points at the first byte.
        const addr = x === 0 && y === 0 ? s.hostAddr(req.dv, P + ref, span) : -1;
        if (addr < 0) return false;
        if (isArenaRef(req.dv, P + ref)) arena = { at: copy2d + f.host, addr, span, toDevice: f === M2D_SRC };
        m.setUint32(copy2d + f.type, A.CU_MEMORYTYPE_HOST, true);
        C.writeU64(m, copy2d + f.host, addr); // host address inside the guest's arena or segment, checked above
      } else {
        const base = u64(req, dev);
        const first = base + y * pitch + x;
        if (!Number.isSafeInteger(first) || !s.ranges.covers(first, span)) return false;
        C.writeU64(m, copy2d + f.x, x);
        C.writeU64(m, copy2d + f.y, y);
        m.setUint32(copy2d + f.type, A.CU_MEMORYTYPE_DEVICE, true);
        C.writeU64(m, copy2d + f.device, base);
      }
      C.writeU64(m, copy2d + f.array, 0); // no arrays
      C.writeU64(m, copy2d + f.pitch, pitch);
      return true;
    };
    const dv = req.dv;
    if (!side(dv.getUint32(P + W.ReqMemcpy2d.src_is_host, true), W.ReqMemcpy2d.src_device, W.ReqMemcpy2d.src_host,
      W.ReqMemcpy2d.src_x_bytes, W.ReqMemcpy2d.src_y, W.ReqMemcpy2d.src_pitch, M2D_SRC)) return CUDA_ERROR_INVALID_VALUE;
    if (!side(dv.getUint32(P + W.ReqMemcpy2d.dst_is_host, true), W.ReqMemcpy2d.dst_device, W.ReqMemcpy2d.dst_host,
      W.ReqMemcpy2d.dst_x_bytes, W.ReqMemcpy2d.dst_y, W.ReqMemcpy2d.dst_pitch, M2D_DST)) return CUDA_ERROR_INVALID_VALUE;
    C.writeU64(m, copy2d + M2D.WidthInBytes, width);
    C.writeU64(m, copy2d + M2D.Height, height);
    const copy = s.opMem.addr + copy2d;
    const a = arena as { at: number; addr: number; span: number; toDevice: boolean } | null;
    const onStream = a
      ? onStreamVia(s, req, true, a.toDevice, a.addr, a.span, (h, st) => {
        C.writeU64(m, a.at, h); // the arena side's first byte, or the same bytes' private copy
        return cuda.cuMemcpy2DAsync_v2(copy, st);
      })
      : (st: number) => cuda.cuMemcpy2DAsync_v2(copy, st);
    return ordered(s, req, dv.getUint32(P + W.ReqMemcpy2d.stream, true), onStream, () => cuda.cuMemcpy2D_v2(copy));
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.HOSTMEM_MAP, W.ReqHostmemMap.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const bytes = u64(req, W.ReqHostmemMap.bytes);
    const flags = req.dv.getUint32(P + W.ReqHostmemMap.flags, true);
    const token = req.dv.getUint32(P + W.ReqHostmemMap.token, true);
    // The descriptor travels on the socket, sent just before this request.
    if (waitReadable(s.sock, FD_NOTE_TIMEOUT_MS, s.out) !== 'readable') return CUDA_ERROR_INVALID_VALUE;
    const got = recvWithFds(s.sock, s.out, FD_NOTE_OFF, W.FdNote.SIZE);
    const fd = got.fds.length === 1 ? got.fds[0]! : -1;
    const note = new DataView(s.out.u8.buffer, FD_NOTE_OFF, W.FdNote.SIZE);
    if (got.bytes !== W.FdNote.SIZE || fd < 0 || note.getUint32(W.FdNote.magic, true) !== W.HELLO_MAGIC || note.getUint32(W.FdNote.token, true) !== token) {
      closeAll(got.fds);
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || s.pinnedBytes + bytes > s.limits.pinnedQuota) {
      C.close(fd);
      if (Number.isSafeInteger(bytes) && bytes > 0) s.refuse(Refusal.pinned_memory_quota, req.op, bytes);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    let addr = 0;
    try {
      if (sealedSize(fd, 'host segment') < bytes) throw new ChannelFault('handover_failed', 'host segment smaller than announced');
      addr = mapShared(fd, bytes, 'host segment');
    } catch (err) {
      s.refuse(Refusal.bad_host_segment, req.op, req.seq, 0, (err as Error).message);
      C.close(fd);
      return CUDA_ERROR_INVALID_VALUE;
    }
    // Registered in the guest's own context only (never PORTABLE): other guests' contexts do not map it.
    let r = cuda.cuMemHostRegister_v2(addr, bytes, flags & A.CU_MEMHOSTREGISTER_DEVICEMAP);
    let devicePtr = 0;
    if (r === CUDA_SUCCESS && flags & A.CU_MEMHOSTREGISTER_DEVICEMAP) {
      r = cuda.cuMemHostGetDevicePointer_v2(s.out.addr, addr, 0);
      if (r === CUDA_SUCCESS) devicePtr = C.readU64(s.out.dv, 0);
      else cuda.cuMemHostUnregister(addr);
    }
    const id = r === CUDA_SUCCESS ? s.handles.add('hostmem', addr, req.ctx) : -1;
    if (id < 0) {
      C.munmap(addr, bytes);
      C.close(fd);
      return r === CUDA_SUCCESS ? CUDA_ERROR_OUT_OF_MEMORY : r;
    }
    s.hostSegments.set(id, { addr, bytes, fd, ctx: req.ctx, devicePtr });
    s.pinnedBytes += bytes;
    if (devicePtr) s.ranges.add(devicePtr, bytes, 'hostmem', req.ctx);
    const dv = out.size(W.RspHostmemMap.SIZE);
    dv.setUint32(W.RspHostmemMap.id, id, true);
    C.writeU64(dv, W.RspHostmemMap.device_ptr, devicePtr);
    return CUDA_SUCCESS;
  }, { needsCtx: true }),

  op(W.Op.HOSTMEM_UNMAP, W.ReqHandle.SIZE, (s, req) => {
    const id = req.dv.getUint32(P + W.ReqHandle.id, true);
    if (!s.hostSegments.has(id)) return CUDA_ERROR_INVALID_VALUE;
    s.releaseSegment(id, true);
    return CUDA_SUCCESS;
  }),
];
