// The proxy's ends of a guest's two rings (layout: vgpu/include/vgpu_wire.h).
// Requests are copied out of shared memory before anything looks at them;
// every index and length the guest wrote is checked against the proxy's
// private sizes first.
import * as W from '../wire/layout.js';
import { ChannelFault } from './errors.js';
import { CtrlWord, Region } from './region.js';

const HDR = W.ReqHdr.SIZE;

/** One request, copied into proxy-private memory. */
export interface Request {
  op: number;
  flags: number;
  seq: number;
  ctx: number;
  /** Bytes of payload after the header. */
  payloadLen: number;
  /** Private copy of the whole record; payload starts at HDR. */
  readonly bytes: Uint8Array;
  readonly dv: DataView;
}

export class RequestReader {
  #head: number;
  readonly #size: number;
  readonly #mask: number;
  readonly #ring: Uint8Array;
  readonly #ctrl: Uint32Array;
  readonly #hdr = new DataView(new ArrayBuffer(HDR));
  readonly #hdrBytes = new Uint8Array(this.#hdr.buffer);
  readonly current: Request;

  constructor(region: Region) {
    this.#ring = region.reqRing;
    this.#size = region.layout.reqRingSize;
    this.#mask = this.#size - 1;
    this.#ctrl = region.ctrl;
    this.#head = Atomics.load(this.#ctrl, CtrlWord.reqHead);
    const bytes = new Uint8Array(W.RECORD_MAX);
    this.current = { op: 0, flags: 0, seq: 0, ctx: 0, payloadLen: 0, bytes, dv: new DataView(bytes.buffer) };
  }

  /** True when the guest has published bytes not yet read. */
  pending(): boolean {
    return Atomics.load(this.#ctrl, CtrlWord.reqTail) !== this.#head;
  }

  /**
   * Copies the next request into this.current and frees its ring space.
   * Returns false when the ring is empty; throws ChannelFault on a broken record.
   */
  next(): boolean {
    for (let pads = 0; pads < 2; pads++) {
      // Tail with Atomics (sequentially consistent): the record's bytes are visible after it.
      const avail = (Atomics.load(this.#ctrl, CtrlWord.reqTail) - this.#head) >>> 0;
      if (avail === 0) return false;
      if (avail > this.#size) throw new ChannelFault('bad_index', `request tail is ${avail} bytes ahead of head in a ${this.#size}-byte ring`);
      if (avail < HDR) throw new ChannelFault('bad_index', `request tail leaves ${avail} bytes, less than a header`);
      const pos = this.#head & this.#mask;
      // The header is copied out once; only this copy is trusted from here on.
      this.#hdrBytes.set(this.#ring.subarray(pos, pos + HDR));
      const len = this.#hdr.getUint32(W.ReqHdr.len, true);
      const op = this.#hdr.getUint16(W.ReqHdr.op, true);
      if (len < HDR || len % W.RECORD_ALIGN !== 0 || len > avail || len > this.#size - pos || (op !== W.Op.PAD && len > W.RECORD_MAX)) {
        throw new ChannelFault('bad_record', `request record at ${pos} has length ${len} (available ${avail}, to ring end ${this.#size - pos})`);
      }
      if (op === W.Op.PAD) {
        this.#release(len);
        continue;
      }
      const r = this.current;
      r.bytes.set(this.#ring.subarray(pos, pos + len));
      r.op = op;
      r.flags = this.#hdr.getUint16(W.ReqHdr.flags, true);
      r.seq = this.#hdr.getUint32(W.ReqHdr.seq, true);
      r.ctx = this.#hdr.getUint32(W.ReqHdr.ctx, true);
      r.payloadLen = len - HDR;
      // Copied, /then/ handed back to the guest.
      this.#release(len);
      return true;
    }
    throw new ChannelFault('bad_record', 'two padding records in a row');
  }

  #release(len: number): void {
    this.#head = (this.#head + len) >>> 0;
    Atomics.store(this.#ctrl, CtrlWord.reqHead, this.#head);
  }
}

export class ResponseWriter {
  #tail: number;
  readonly #size: number;
  readonly #mask: number;
  readonly #ring: Uint8Array;
  readonly #ringView: DataView;
  readonly #ctrl: Uint32Array;

  constructor(region: Region) {
    this.#ring = region.rspRing;
    this.#ringView = new DataView(region.rspRing.buffer, region.rspRing.byteOffset, region.rspRing.byteLength);
    this.#size = region.layout.rspRingSize;
    this.#mask = this.#size - 1;
    this.#ctrl = region.ctrl;
    this.#tail = Atomics.load(this.#ctrl, CtrlWord.rspTail);
  }

  /**
   * Writes one response.  A well-behaved guest has at most one call waiting,
   * so a full ring means the guest sent answers-wanted requests it never
   * reads: its fault.
   */
  write(op: number, seq: number, result: number, payload: Uint8Array, payloadLen: number): void {
    const len = (HDR + payloadLen + W.RECORD_ALIGN - 1) & ~(W.RECORD_ALIGN - 1);
    let pos = this.#tail & this.#mask;
    const toEnd = this.#size - pos;
    const need = len <= toEnd ? len : toEnd + len;
    const used = (this.#tail - Atomics.load(this.#ctrl, CtrlWord.rspHead)) >>> 0;
    if (used > this.#size || this.#size - used < need) {
      throw new ChannelFault('response_overflow', `response ring full (${used} of ${this.#size} bytes unread): the guest does not read its answers`);
    }
    const v = this.#ringView;
    if (len > toEnd) {
      v.setUint32(pos + W.RspHdr.len, toEnd, true);
      v.setUint16(pos + W.RspHdr.op, W.Op.PAD, true);
      v.setUint16(pos + W.RspHdr.flags, 0, true);
      v.setUint32(pos + W.RspHdr.seq, 0, true);
      v.setUint32(pos + W.RspHdr.result, 0, true);
      this.#tail = (this.#tail + toEnd) >>> 0;
      pos = 0;
    }
    v.setUint32(pos + W.RspHdr.len, len, true);
    v.setUint16(pos + W.RspHdr.op, op, true);
    v.setUint16(pos + W.RspHdr.flags, 0, true);
    v.setUint32(pos + W.RspHdr.seq, seq, true);
    v.setInt32(pos + W.RspHdr.result, result, true);
    if (payloadLen > 0) this.#ring.set(payload.subarray(0, payloadLen), pos + HDR);
    this.#tail = (this.#tail + len) >>> 0;
    // The record is written, /then/ the tail is published.
    Atomics.store(this.#ctrl, CtrlWord.rspTail, this.#tail);
  }
}
