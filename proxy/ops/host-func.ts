// Host functions on streams (cuLaunchHostFunc, cuStreamAddCallback): the
// guest runs them; guest/host-func-gates.ts holds each stream until it did.
import * as W from '../wire/layout.js';
import { CUDA_ERROR_INVALID_HANDLE } from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import { op, OpSpec, P } from './op.js';

const token = (req: Request): number => req.dv.getUint32(P + W.ReqHostFunc.token, true);

export const hostFuncOps: OpSpec[] = [
  op(W.Op.HOST_FUNC_ENQUEUE, W.ReqHostFunc.SIZE, (s, req) => {
    const stream = s.stream(req.dv.getUint32(P + W.ReqHostFunc.stream, true));
    if (stream < 0) return CUDA_ERROR_INVALID_HANDLE;
    return s.hostFuncs!.enqueue(stream, req.ctx, token(req), s.out);
  }, { needsCtx: true }),

  // Not a synchronising call: an error of earlier asynchronous work stays for the application's own.
  op(W.Op.HOST_FUNC_QUERY, W.ReqHostFunc.SIZE, (s, req) => s.hostFuncs!.query(token(req)), { needsCtx: true }),

  op(W.Op.HOST_FUNC_DONE, W.ReqHostFunc.SIZE, (s, req) => s.hostFuncs!.done(token(req))),
];
