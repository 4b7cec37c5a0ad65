// Streams and events.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_OUT_OF_MEMORY, CUDA_SUCCESS } from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';
import type { HandleKind } from '../guest/handle-table.js';
import { op, OpSpec, P, Reply } from './op.js';

const handleId = (req: Request): number => req.dv.getUint32(P + W.ReqHandle.id, true);

function created(s: Session, req: Request, out: Reply, kind: HandleKind, r: number): number {
  if (r !== CUDA_SUCCESS) return r;
  const ptr = C.readU64(s.out.dv, 0);
  const id = s.handles.add(kind, ptr, req.ctx);
  if (id < 0) {
    if (kind === 'stream') s.driver()!.cuStreamDestroy_v2(ptr);
    else s.driver()!.cuEventDestroy_v2(ptr);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
  return CUDA_SUCCESS;
}

function destroyed(s: Session, req: Request, kind: 'stream' | 'event'): number {
  const id = handleId(req);
  const h = s.handles.get(id, kind);
  if (!h) return CUDA_ERROR_INVALID_HANDLE;
  const r = kind === 'stream' ? s.driver()!.cuStreamDestroy_v2(h.ptr) : s.driver()!.cuEventDestroy_v2(h.ptr);
  s.handles.delete(id);
  return r;
}

export const streamOps: OpSpec[] = [
  op(W.Op.STREAM_CREATE, W.ReqStreamCreate.SIZE, (s, req, out) =>
    created(s, req, out, 'stream', s.driver()!.cuStreamCreateWithPriority(s.out.addr,
      req.dv.getUint32(P + W.ReqStreamCreate.flags, true), req.dv.getInt32(P + W.ReqStreamCreate.priority, true))),
  { needsCtx: true }),

  op(W.Op.STREAM_DESTROY, W.ReqHandle.SIZE, (s, req) => destroyed(s, req, 'stream'), { needsCtx: true }),

  op(W.Op.STREAM_SYNC, W.ReqHandle.SIZE, (s, req) => {
    const st = s.stream(handleId(req));
    return st < 0 ? CUDA_ERROR_INVALID_HANDLE : s.driver()!.cuStreamSynchronize(st);
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.STREAM_QUERY, W.ReqHandle.SIZE, (s, req) => {
    const st = s.stream(handleId(req));
    return st < 0 ? CUDA_ERROR_INVALID_HANDLE : s.driver()!.cuStreamQuery(st);
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.STREAM_WAIT_EVENT, W.ReqStreamEvent.SIZE, (s, req) => {
    const st = s.stream(req.dv.getUint32(P + W.ReqStreamEvent.stream, true));
    const ev = s.realHandle(req.dv.getUint32(P + W.ReqStreamEvent.event, true), 'event');
    if (st < 0 || ev < 0) return CUDA_ERROR_INVALID_HANDLE;
    return s.driver()!.cuStreamWaitEvent(st, ev, req.dv.getUint32(P + W.ReqStreamEvent.flags, true));
  }, { needsCtx: true }),

  op(W.Op.EVENT_CREATE, W.ReqU32.SIZE, (s, req, out) =>
    created(s, req, out, 'event', s.driver()!.cuEventCreate(s.out.addr, req.dv.getUint32(P + W.ReqU32.value, true))),
  { needsCtx: true }),

  op(W.Op.EVENT_DESTROY, W.ReqHandle.SIZE, (s, req) => destroyed(s, req, 'event'), { needsCtx: true }),

  op(W.Op.EVENT_RECORD, W.ReqStreamEvent.SIZE, (s, req) => {
    const st = s.stream(req.dv.getUint32(P + W.ReqStreamEvent.stream, true));
    const ev = s.realHandle(req.dv.getUint32(P + W.ReqStreamEvent.event, true), 'event');
    if (st < 0 || ev < 0) return CUDA_ERROR_INVALID_HANDLE;
    return s.driver()!.cuEventRecordWithFlags(ev, st, req.dv.getUint32(P + W.ReqStreamEvent.flags, true));
  }, { needsCtx: true }),

  op(W.Op.EVENT_SYNC, W.ReqHandle.SIZE, (s, req) => {
    const ev = s.realHandle(handleId(req), 'event');
    return ev < 0 ? CUDA_ERROR_INVALID_HANDLE : s.driver()!.cuEventSynchronize(ev);
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.EVENT_QUERY, W.ReqHandle.SIZE, (s, req) => {
    const ev = s.realHandle(handleId(req), 'event');
    return ev < 0 ? CUDA_ERROR_INVALID_HANDLE : s.driver()!.cuEventQuery(ev);
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.EVENT_ELAPSED, W.ReqEventPair.SIZE, (s, req, out) => {
    const a = s.realHandle(req.dv.getUint32(P + W.ReqEventPair.start, true), 'event');
    const b = s.realHandle(req.dv.getUint32(P + W.ReqEventPair.end, true), 'event');
    if (a < 0 || b < 0) return CUDA_ERROR_INVALID_HANDLE;
    const r = s.driver()!.cuEventElapsedTime_v2(s.out.addr, a, b);
    if (r === CUDA_SUCCESS) out.size(W.RspElapsed.SIZE).setFloat32(W.RspElapsed.millis, s.out.dv.getFloat32(0, true), true);
    return r;
  }, { needsCtx: true }),
];
