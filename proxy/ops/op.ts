// What an op handler is.  A handler reads its request (already copied out of
// shared memory), calls the driver, writes its answer's payload into the
// Reply and returns a CUresult.  Conversion of anything to a CUresult
// happens here, at the edge; the serve loop does the rest.
import * as W from '../wire/layout.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';

/** Offset of the payload in a request record. */
export const P = W.ReqHdr.SIZE;

export class Reply {
  readonly u8 = new Uint8Array(W.RECORD_MAX - W.RspHdr.SIZE);
  readonly dv = new DataView(this.u8.buffer);
  len = 0;

  reset(): void {
    this.len = 0;
  }

  /** Zeroes n bytes and makes them the payload (fields not written read as 0). */
  size(n: number): DataView {
    this.u8.fill(0, 0, n);
    this.len = n;
    return this.dv;
  }
}

export type Handler = (s: Session, req: Request, out: Reply) => number;

export interface OpSpec {
  readonly op: number;
  /** Smallest payload the request must carry (its fixed struct). */
  readonly payload: number;
  /** Needs the driver (every op but the diagnostics). */
  readonly needsDriver: boolean;
  /** Needs the request's context current. */
  readonly needsCtx: boolean;
  /** Reports the first pending error of asynchronous work (synchronising calls). */
  readonly syncPoint: boolean;
  readonly handler: Handler;
}

export function op(o: number, payload: number, handler: Handler, opts: { needsCtx?: boolean; syncPoint?: boolean; needsDriver?: boolean } = {}): OpSpec {
  return { op: o, payload, handler, needsDriver: opts.needsDriver ?? true, needsCtx: opts.needsCtx ?? false, syncPoint: opts.syncPoint ?? false };
}
