// Diagnostic ops: they touch only the guest's own region, need no GPU, and
// let tests drive the channel end to end on machines without one.
import * as W from '../wire/layout.js';
import { CUDA_ERROR_INVALID_VALUE, CUDA_SUCCESS } from '../native/cuda.js';
import { op, OpSpec, P } from './op.js';

const stallCell = new Int32Array(new SharedArrayBuffer(4));
const MAX_STALL_MS = 10_000;

export const diagnosticOps: OpSpec[] = [
  op(W.Op.NOP, 0, () => CUDA_SUCCESS, { needsDriver: false }),

  op(W.Op.ECHO, W.ReqEcho.SIZE, (s, req, out) => {
    const input = s.arenaBytes(req.dv, P + W.ReqEcho.in);
    const output = s.arenaBytes(req.dv, P + W.ReqEcho.out);
    if (!input || !output || input.length !== output.length) return CUDA_ERROR_INVALID_VALUE;
    const x = req.dv.getUint32(P + W.ReqEcho.xor_byte, true) & 0xff;
    let sum = 0;
    for (let i = 0; i < input.length; i++) {
      const b = input[i]!;
      sum += b;
      output[i] = b ^ x;
    }
    out.size(W.RspEcho.SIZE).setBigUint64(W.RspEcho.sum, BigInt(sum), true);
    return CUDA_SUCCESS;
  }, { needsDriver: false }),

  op(W.Op.STALL, W.ReqStall.SIZE, (_s, req) => {
    const ms = req.dv.getUint32(P + W.ReqStall.millis, true);
    if (ms > MAX_STALL_MS) return CUDA_ERROR_INVALID_VALUE;
    Atomics.wait(stallCell, 0, 0, ms);
    return CUDA_SUCCESS;
  }, { needsDriver: false }),
];
