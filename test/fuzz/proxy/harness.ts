// The proxy set up in-process as vgpu-proxy sets it up for a guest (a shared
// region in real mmap'd memory, Region.map, a Session, the real op table, a
// ServeLoop), with the harness playing the guest: it writes records into the
// request ring, publishes (or lies about) the tail, rewrites bytes after
// publishing them, lets the proxy serve, and reads the answers.  The driver
// is the checking stand-in of oracle-driver.ts.  A second, well-behaved guest
// (the bystander) shares the process and the driver.
//
// One fuzz input is a stream of actions (runInput below).  Between inputs
// the fuzzed guest is released the way serve-guest.ts releases a guest (the
// same code: Session.renew is releaseAll keeping the session's own memory),
// checked empty in the driver's model, and its session and loop are renewed
// for the next input rather than built again (building them cost more than
// the input); a renewed session must show what a new one shows (isFresh),
// else it is built again.  So an input behaves the same whenever it runs:
// VGPU_FUZZ_FRESH=1 builds a new session and loop per input, for comparison.
import pino from 'pino';
import * as W from '../../../proxy/wire/layout.js';
import * as C from '../../../proxy/native/libc.js';
import { ChannelFault } from '../../../proxy/channel/errors.js';
import type { GuestLink } from '../../../proxy/channel/link.js';
import { CtrlWord, Region } from '../../../proxy/channel/region.js';
import { Session } from '../../../proxy/guest/session.js';
import { ServeLoop } from '../../../proxy/guest/serve-loop.js';
import { opTable } from '../../../proxy/ops/index.js';
import type { OpSpec } from '../../../proxy/ops/op.js';
import { OracleDriver, OracleViolation, ORACLE_DEVICE, ORACLE_TOTAL_MEM } from './oracle-driver.js';

export const FUZZED = 1;
export const BYSTANDER = 2;
const QUOTA = 64 << 20;
const REQ_RING = W.RING_MIN;
const RSP_RING = W.RING_MIN;
const ARENA = W.ARENA_MIN;
const REGION = W.CTRL_SIZE + REQ_RING + RSP_RING + ARENA;
const HDR = W.ReqHdr.SIZE;
const MAX_ACTIONS = 96;
const SEGMENT_BYTES = 1 << 16;
const NOTE_TOKEN = 0x7777;
/** Bystander: a round trip every this many inputs. */
export const BYSTANDER_EVERY = 64;

/** Every op the proxy serves, in number order (what a record's op is mostly chosen from). */
export const OPS: number[] = opTable().flatMap((spec, i) => (spec ? [i] : []));


// --- what the harness counts ---
export const stats = {
  inputs: 0,
  faults: 0,
  served: 0,
  /** Sessions built for the fuzzed guest (1 unless a renewed one was not as new, or VGPU_FUZZ_FRESH=1). */
  builds: 0,
  bystander: { roundTrips: 0, failed: 0, slowestMs: 0 },
};

/** Errors of op handlers the serve loop swallowed (answered CUDA_ERROR_UNKNOWN): a guest made the proxy throw. */
let handlerFailure: string | null = null;
const log = pino({ level: 'error' }, {
  write(line: string): void {
    if (handlerFailure === null && line.includes('op handler failed')) handlerFailure = line;
  },
});

/** A guest's side of one region: its ring producer, its answer consumer, its arena. */
export class GuestSim {
  readonly mem: C.NativeMemory;
  readonly ctrl: Uint32Array;
  readonly req: Uint8Array;
  readonly reqDv: DataView;
  readonly rsp: Uint8Array;
  readonly rspDv: DataView;
  readonly arena: Uint8Array;
  tail = 0;
  rspHead = 0;
  seq = 0;
  arenaPos = 0;
  /** Where the last record went (for rewrites). */
  lastPos = -1;
  lastLen = 0;
  /** The guest wrote its own response head: its local copy is stale. */
  rspLied = false;
  /** The guest published a tail that is not its own. */
  tailLied = false;
  /**
   * Another thread scribbles on the region while the proxy serves
   * (proxy-ring-race): the response ring and its head are not the proxy's
   * alone, so an answer that does not parse is no proof of a proxy bug.
   */
  racy = false;

  constructor() {
    this.mem = C.allocScratch(REGION);
    const buf = this.mem.u8.buffer;
    this.ctrl = new Uint32Array(buf, 0, W.CTRL_SIZE / 4);
    this.req = new Uint8Array(buf, W.CTRL_SIZE, REQ_RING);
    this.reqDv = new DataView(buf, W.CTRL_SIZE, REQ_RING);
    this.rsp = new Uint8Array(buf, W.CTRL_SIZE + REQ_RING, RSP_RING);
    this.rspDv = new DataView(buf, W.CTRL_SIZE + REQ_RING, RSP_RING);
    this.arena = new Uint8Array(buf, W.CTRL_SIZE + REQ_RING + RSP_RING, ARENA);
    this.reset();
  }

  /** The control page as libvgpu writes it before the hand-over; indices at 0. */
  reset(): void {
    const dv = this.mem.dv;
    this.mem.u8.fill(0, 0, W.CTRL_SIZE);
    dv.setUint32(W.Ctrl.magic, W.MAGIC, true);
    dv.setUint16(W.Ctrl.version_major, W.VERSION_MAJOR, true);
    dv.setUint16(W.Ctrl.version_minor, W.VERSION_MINOR, true);
    dv.setUint32(W.Ctrl.ctrl_size, W.CTRL_SIZE, true);
    dv.setUint32(W.Ctrl.req_ring_size, REQ_RING, true);
    dv.setUint32(W.Ctrl.rsp_ring_size, RSP_RING, true);
    dv.setUint32(W.Ctrl.arena_size, ARENA, true);
    dv.setUint32(W.Ctrl.region_size, REGION, true);
    dv.setUint32(W.Ctrl.guest_state, W.PEER_ALIVE, true);
    this.tail = 0;
    this.rspHead = 0;
    this.seq = 0;
    this.arenaPos = 0;
    this.lastPos = -1;
    this.lastLen = 0;
    this.rspLied = false;
    this.tailLied = false;
    this.racy = false;
  }

  /** Room for a record of len bytes (with the padding a wrap needs). */
  room(len: number): boolean {
    const used = (this.tail - Atomics.load(this.ctrl, CtrlWord.reqHead)) >>> 0;
    if (used > REQ_RING) return false;
    const pos = this.tail & (REQ_RING - 1);
    const need = len <= REQ_RING - pos ? len : REQ_RING - pos + len;
    return REQ_RING - used >= need;
  }

  /** Writes one record (not yet published); false when the ring has no room. */
  write(op: number, flags: number, ctx: number, payload: Uint8Array, plen: number): boolean {
    const len = (HDR + plen + W.RECORD_ALIGN - 1) & ~(W.RECORD_ALIGN - 1);
    if (len > W.RECORD_MAX || !this.room(len)) return false;
    let pos = this.tail & (REQ_RING - 1);
    const dv = this.reqDv;
    if (len > REQ_RING - pos) {
      dv.setUint32(pos, REQ_RING - pos, true);
      dv.setUint16(pos + 4, W.Op.PAD, true);
      this.tail = (this.tail + REQ_RING - pos) >>> 0;
      pos = 0;
    }
    dv.setUint32(pos, len, true);
    dv.setUint16(pos + 4, op, true);
    dv.setUint16(pos + 6, flags, true);
    dv.setUint32(pos + 8, ++this.seq, true);
    dv.setUint32(pos + 12, ctx, true);
    this.req.set(payload.subarray(0, plen), pos + HDR);
    this.req.fill(0, pos + HDR + plen, pos + len);
    this.tail = (this.tail + len) >>> 0;
    this.lastPos = pos;
    this.lastLen = len;
    return true;
  }

  /** Record written, /then/ the tail published. */
  publish(tail = this.tail): void {
    Atomics.store(this.ctrl, CtrlWord.reqTail, tail);
  }

  /** Arena bytes at the next free position; the reference {pos, len}, or null when they do not fit. */
  put(bytes: Uint8Array): { pos: number; len: number } | null {
    if (bytes.length > ARENA) return null;
    let at = this.arenaPos & (ARENA - 1);
    if (at + bytes.length > ARENA) {
      this.arenaPos = (this.arenaPos + ARENA - at) >>> 0;
      at = 0;
    }
    this.arena.set(bytes, at);
    const ref = { pos: this.arenaPos, len: bytes.length };
    this.arenaPos = (this.arenaPos + ((bytes.length + 15) & ~15)) >>> 0;
    return ref;
  }

  /** Whether the records between the guest's head and tail parse (readAnswers' checks, as a predicate). */
  #answersParse(tail: number): boolean {
    const used = (tail - this.rspHead) >>> 0;
    if (used > RSP_RING || tail % W.RECORD_ALIGN !== 0) return false;
    let head = this.rspHead;
    for (let i = 0; i < 1 << 16 && head !== tail; i++) {
      const pos = head & (RSP_RING - 1);
      const len = this.rspDv.getUint32(pos, true);
      if (len < HDR || len % W.RECORD_ALIGN !== 0 || len > ((tail - head) >>> 0) || len > RSP_RING - pos) return false;
      head = (head + len) >>> 0;
    }
    return true;
  }

  /**
   * Reads every answer published; checks the response ring's indices and
   * records on the way (the proxy writes them: any inconsistency is its bug).
   */
  readAnswers(max: number, each: (op: number, result: number, at: number, len: number) => void): void {
    const tail = Atomics.load(this.ctrl, CtrlWord.rspTail);
    if (this.rspLied || (this.racy && !this.#answersParse(tail))) {
      // The guest scribbled on its own head: resynchronise, as a guest that lost its place would.
      // (For the rest of this input: the proxy's private tail and the guest's view no longer agree.)
      this.rspHead = tail;
      Atomics.store(this.ctrl, CtrlWord.rspHead, tail);
      return;
    }
    const used = (tail - this.rspHead) >>> 0;
    if (used > RSP_RING) throw new OracleViolation(`response tail ${tail} is ${used} bytes past the head ${this.rspHead} of a ${RSP_RING}-byte ring`);
    if (tail % W.RECORD_ALIGN !== 0) throw new OracleViolation(`response tail ${tail} not aligned`);
    let head = this.rspHead;
    for (let i = 0; i < max && head !== tail; i++) {
      // (#answersParse walks the same way without throwing.)
      const pos = head & (RSP_RING - 1);
      const dv = this.rspDv;
      const len = dv.getUint32(pos, true);
      const op = dv.getUint16(pos + 4, true);
      const left = (tail - head) >>> 0;
      if (len < HDR || len % W.RECORD_ALIGN !== 0 || len > left || len > RSP_RING - pos) {
        throw new OracleViolation(`response record at ${pos} has length ${len} (${left} published, ${RSP_RING - pos} to the end)`);
      }
      if (op !== W.Op.PAD) each(op, dv.getInt32(pos + 12, true), pos + HDR, len - HDR);
      head = (head + len) >>> 0;
    }
    this.rspHead = head;
    Atomics.store(this.ctrl, CtrlWord.rspHead, head);
  }
}

/** What the proxy holds for one guest: the session and its loop, over the guest's region. */
interface ProxySide {
  session: Session;
  loop: ServeLoop;
}

export const oracle = new OracleDriver();
oracle.addGuest(FUZZED, QUOTA, 0x1000_0000_0000);
oracle.addGuest(BYSTANDER, QUOTA, 0x2000_0000_0000);
const cuda = oracle.asDriver();

/** The real op table, with two ops that wait by design bounded for the fuzzer. */
function fuzzTable(guest: GuestSim, sock: () => number): (OpSpec | undefined)[] {
  const table = opTable();
  const stall = table[W.Op.STALL]!;
  // STALL is the diagnostic sleep a guest asks for (at most 10 s): run with 0 ms so the fuzzer does not report it as a hang.
  table[W.Op.STALL] = { ...stall, handler: (s, req, out) => {
    if (req.payloadLen >= W.ReqStall.SIZE && req.dv.getUint32(HDR + W.ReqStall.millis, true) <= 10_000) req.dv.setUint32(HDR + W.ReqStall.millis, 0, true);
    return stall.handler(s, req, out);
  } };
  const map = table[W.Op.HOSTMEM_MAP]!;
  // HOSTMEM_MAP waits up to 2 s for the segment's descriptor: the guest sends it just before the request, so does the harness.
  table[W.Op.HOSTMEM_MAP] = { ...map, handler: (s, req, out) => {
    sendSegment(sock(), guest);
    return map.handler(s, req, out);
  } };
  return table;
}

const noteMem = C.allocScratch(4096);
/** Where sendSegment lays its message out in noteMem. */
const NOTE_MSG = { msg: 0, iov: 64, control: 96, note: 200 } as const;
/** Sends an FdNote with a sealed 64 KiB memfd, as libvgpu does before HOSTMEM_MAP. */
function sendSegment(sock: number, _g: GuestSim): void {
  const fd = C.memfdCreate('vgpu-fuzz-seg', C.MFD_ALLOW_SEALING | C.MFD_CLOEXEC) as number;
  if (fd < 0) throw new Error('memfd_create failed');
  C.ftruncate(fd, SEGMENT_BYTES);
  C.fcntl(fd, C.F_ADD_SEALS, C.F_SEAL_SHRINK);
  const m = noteMem;
  m.u8.fill(0, 0, 256);
  const dv = m.dv;
  dv.setUint32(NOTE_MSG.note + W.FdNote.magic, W.HELLO_MAGIC, true);
  dv.setUint32(NOTE_MSG.note + W.FdNote.token, NOTE_TOKEN, true);
  const control = C.encodeFds(dv, NOTE_MSG.control, [fd]);
  C.writeMsghdr(dv, m.addr, NOTE_MSG, m.addr + NOTE_MSG.note, W.FdNote.SIZE, control);
  C.sendmsg(sock, m.addr + NOTE_MSG.msg, C.MSG_DONTWAIT | C.MSG_NOSIGNAL);
  C.close(fd);
}

function pair(): [number, number] {
  const sv = [0, 0];
  if (C.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0, sv) !== 0) throw new Error('socketpair failed');
  return [sv[0]!, sv[1]!];
}

const stop = new Int32Array(new SharedArrayBuffer(4));

function link(sock: number): GuestLink {
  return {
    transport: 'shm',
    wakeFd: -1,
    sock,
    drainWake: () => undefined,
    wakeGuest: () => undefined,
    close: () => undefined,
  };
}

/** Opens the proxy's side on a guest region, as serve-guest.ts does after the hand-over. */
function openProxy(id: number, g: GuestSim, sock: number, table: (OpSpec | undefined)[]): ProxySide {
  const region = Region.map(g.mem.addr, REGION);
  const session = new Session(id, log, cuda, { cuDevice: ORACLE_DEVICE, totalMem: ORACLE_TOTAL_MEM }, region, {
    memQuota: QUOTA,
    pinnedQuota: 256 << 20,
    maxImage: 1 << 20,
    maxHandles: 256,
  }, sock, true);
  oracle.attach(id, session);
  Atomics.store(region.ctrl, CtrlWord.proxyState, W.PEER_ALIVE);
  const loop = new ServeLoop(session, link(sock), table, { spinMicros: 0, stop });
  return { session, loop };
}

function checkOracle(): void {
  if (oracle.violation) {
    const v = oracle.violation;
    oracle.violation = null;
    handlerFailure = null;
    throw v;
  }
  if (handlerFailure) {
    const line = handlerFailure;
    handlerFailure = null;
    throw new Error(`an op handler threw on guest input (the loop answered CUDA_ERROR_UNKNOWN): ${line}`);
  }
}

/** Serves what guest `id` published; 'fault' when the proxy closed its channel. */
function serve(id: number, p: ProxySide): 'ok' | 'fault' {
  oracle.caller = id;
  try {
    stats.served += p.loop.serveReady();
  } catch (err) {
    checkOracle();
    if (!(err instanceof ChannelFault)) throw err;
    p.loop.fault = err;
    debug.fault = err;
    return 'fault';
  } finally {
    oracle.caller = 0;
  }
  checkOracle();
  const q = oracle.deviceBytes(id);
  if (q > QUOTA) throw new OracleViolation(`guest ${id} holds ${q} device bytes, over its quota ${QUOTA}`);
  return 'ok';
}

/**
 * Releases a guest the way serve-guest.ts does (renew: the same release, the
 * session's own memory kept for the next input), then checks the driver
 * holds nothing of it.
 */
function release(id: number, p: ProxySide, g: GuestSim, fault: boolean, keep: boolean): void {
  oracle.caller = id;
  try {
    if (keep) p.session.renew();
    else p.session.releaseAll();
  } finally {
    oracle.caller = 0;
  }
  checkOracle();
  if (!keep) p.loop.close();
  Atomics.store(g.ctrl, CtrlWord.proxyState, fault ? W.PEER_FAULTED : W.PEER_CLOSED);
  oracle.assertReleased(id);
  oracle.resetGuest(id);
}

/**
 * Whether a renewed session shows exactly what a new one shows (nothing
 * held, nothing counted, nothing pending).  Session.renew and ServeLoop.reset
 * put back what the harness cannot see; this is the check that what it can
 * see agrees, and a session that fails it is not reused.
 */
function isFresh(s: Session): boolean {
  const v = s.vmm.counts;
  return s.handles.size === 0 && s.ranges.size === 0 && s.ranges.allocatedBytes === 0 && s.deviceBytes() === 0 &&
    v.allocations === 0 && v.reservations === 0 && v.mappings === 0 && s.vmm.reservedBytes === 0 &&
    s.hostSegments.size === 0 && s.pinnedBytes === 0 && s.pendingError === 0 &&
    s.primary.ctx === 0 && s.primary.retains === 0 && s.primary.flags === 0 && s.currentCtx === 0 &&
    s.arena.pending === 0 && s.arena.heldUses === 0 && s.stage.length === 0 && s.stage.addr === 0 &&
    (s.hostFuncs?.pending ?? 0) === 0 && s.moduleCache === null && s.limitContexts === 0 && s.residentThreads === 0;
}

/**
 * VGPU_FUZZ_FRESH=1: a new session and loop for every input, released with
 * releaseAll (what the harness did before it reused them; slower).  The same
 * input must give the same answers either way.
 */
const FRESH_EACH_INPUT = process.env.VGPU_FUZZ_FRESH === '1';

// --- the fuzzed guest ---

const fuzzed = new GuestSim();
const [fuzzSock, fuzzPeer] = pair();
const fuzzTableOps = fuzzTable(fuzzed, () => fuzzSock);

let fuzzProxy: ProxySide | null = null;

/** What the fuzzed guest learnt from its answers this input: ids and addresses to name again. */
interface Known {
  ctxs: number[];
  handles: number[];
  dptrs: number[];
}

const HANDLE_AT_0 = new Set<number>([
  W.Op.CTX_CREATE, W.Op.PRIMARY_RETAIN, W.Op.PRIMARY_RESET, W.Op.STREAM_CREATE, W.Op.EVENT_CREATE, W.Op.MODULE_LOAD,
  W.Op.LIBRARY_LOAD, W.Op.MODULE_GET_FUNCTION, W.Op.KERNEL_GET_FUNCTION, W.Op.LIBRARY_GET_KERNEL, W.Op.LIBRARY_GET_MODULE,
  W.Op.STREAM_END_CAPTURE, W.Op.GRAPH_INSTANTIATE, W.Op.VMM_CREATE, W.Op.VMM_RETAIN, W.Op.VMM_IMPORT, W.Op.HOSTMEM_MAP,
]);
const DPTR_AT_0 = new Set<number>([W.Op.MEM_ALLOC, W.Op.MODULE_GET_GLOBAL, W.Op.LIBRARY_GET_GLOBAL, W.Op.VMM_RESERVE]);

/** Set to see every answer of the fuzzed guest (debugging a seed). */
export const debug: { trace: ((op: number, result: number) => void) | null; fault: ChannelFault | null } = { trace: null, fault: null };

function learn(g: GuestSim, k: Known, op: number, result: number, at: number, len: number): void {
  debug.trace?.(op, result);
  if (result !== 0) return;
  const dv = g.rspDv;
  if (HANDLE_AT_0.has(op) && len >= 4) {
    const id = dv.getUint32(at, true);
    if (id !== 0) {
      if (op === W.Op.CTX_CREATE || op === W.Op.PRIMARY_RETAIN || op === W.Op.PRIMARY_RESET) push(k.ctxs, id);
      push(k.handles, id);
    }
  }
  if (op === W.Op.HOSTMEM_MAP && len >= 16) push(k.dptrs, C.readU64(dv, at + 8));
  if (DPTR_AT_0.has(op) && len >= 8) push(k.dptrs, C.readU64(dv, at));
}

function push(list: number[], v: number): void {
  if (list.length >= 32) list.shift();
  list.push(v);
}

/** A little-endian reader over the input; reads past the end give 0. */
class In {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.b.length;
  }
  u8(): number {
    return this.pos < this.b.length ? this.b[this.pos++]! : (this.pos++, 0);
  }
  u16(): number {
    return this.u8() | (this.u8() << 8);
  }
  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }
  bytes(n: number): Uint8Array {
    const out = this.b.subarray(Math.min(this.pos, this.b.length), Math.min(this.pos + n, this.b.length));
    this.pos += n;
    return out;
  }
}

const BOUNDS: bigint[] = [
  0n, 1n, 2n, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n, 0x1_0000_0001n, (1n << 48n) - 1n, 1n << 48n, (1n << 48n) + 1n,
  (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 4096n, 4096n, BigInt(ARENA), BigInt(REQ_RING),
  BigInt(QUOTA), BigInt(QUOTA) + 1n, 2n << 20n, 16n, 48n, 65536n, 65520n,
];

/** Action codes of the input language (the seed generator writes the same). */
export const A = {
  REQ: 0,
  PUBLISH_LIE: 1,
  REWRITE: 2,
  REWRITE_LEN: 3,
  CTRL: 4,
  SERVE: 5,
  READ: 6,
  ARENA: 7,
  IMAGE: 8,
  SYMBOL: 9,
  COPY: 10,
  COUNT: 11,
} as const;

/** Slot kinds of a payload (8 bytes each). */
export const S = {
  RAW: 0, SMALL: 1, HANDLE: 2, DPTR: 3, BOUND: 4, AREF: 5, PAIR: 6, SIZE: 7, HANDLES: 8, TEXT: 9, OTHER_DPTR: 10, CTX: 11,
  COUNT: 12,
} as const;

const payload = new Uint8Array(W.RECORD_MAX);
const pdv = new DataView(payload.buffer);

function pick(list: number[], sel: number): number {
  return list.length === 0 ? sel : list[sel % list.length]!;
}

/** Writes one 8-byte slot at off from the input. */
function slot(r: In, k: Known, g: GuestSim, off: number): void {
  const kind = r.u8() % S.COUNT;
  switch (kind) {
    case S.RAW: pdv.setUint32(off, r.u32(), true); pdv.setUint32(off + 4, r.u32(), true); break;
    case S.SMALL: pdv.setUint32(off, r.u8(), true); pdv.setUint32(off + 4, r.u8(), true); break;
    case S.HANDLE: pdv.setUint32(off, pick(k.handles, r.u8()), true); pdv.setUint32(off + 4, r.u8(), true); break;
    case S.DPTR: C.writeU64(pdv, off, pick(k.dptrs, r.u8()) + r.u16()); break;
    case S.BOUND: pdv.setBigUint64(off, BOUNDS[r.u8() % BOUNDS.length]!, true); break;
    case S.AREF: pdv.setUint32(off, (g.arenaPos + r.u16() * 16) >>> 0, true); pdv.setUint32(off + 4, r.u16(), true); break;
    case S.PAIR: pdv.setUint32(off, r.u16(), true); pdv.setUint32(off + 4, r.u16(), true); break;
    case S.SIZE: pdv.setBigUint64(off, BigInt((r.u8() % 255) + 1) << BigInt(r.u8() % 64), true); break;
    case S.HANDLES: pdv.setUint32(off, pick(k.handles, r.u8()), true); pdv.setUint32(off + 4, pick(k.handles, r.u8()), true); break;
    case S.TEXT: payload.set(r.bytes(8), off); break;
    case S.OTHER_DPTR: C.writeU64(pdv, off, pick(bystanderDptrs, r.u8()) + r.u16()); break;
    case S.CTX: pdv.setUint32(off, pick(k.ctxs, r.u8()), true); pdv.setUint32(off + 4, r.u8(), true); break;
  }
}

function ctxFor(r: In, k: Known): number {
  const sel = r.u8();
  if (sel === 1) return 0;
  if (sel === 2) return r.u32();
  if (sel === 0 || k.ctxs.length === 0) return k.ctxs.length ? k.ctxs[k.ctxs.length - 1]! : 0;
  return k.ctxs[(sel - 3) % k.ctxs.length]!;
}

function flagsFor(r: In): number {
  const b = r.u8();
  if (b & 0x80) return r.u16();
  let f = b & 1 ? 0 : W.RF_REPLY;
  if (b & 2) f |= W.RF_ASYNC;
  if (b & 4) f |= W.RF_PTDS;
  f |= ((b >> 3) & 3) << W.RF_CAPMODE_SHIFT;
  return f;
}

/** Writes a record and, unless told not to, publishes it. */
function emit(g: GuestSim, op: number, flags: number, ctx: number, plen: number, publish: boolean): boolean {
  if (!g.room(HDR + plen + 2 * W.RECORD_ALIGN) && fuzzProxy && serve(FUZZED, fuzzProxy) === 'fault') return false;
  if (!g.write(op, flags, ctx, payload, plen)) return true;
  if (publish && !g.tailLied) g.publish();
  return true;
}

/**
 * Runs one input against the fuzzed guest.  Returns normally unless an
 * invariant broke (an OracleViolation, or any error escaping the proxy).
 */
export function runInput(data: Uint8Array, beforeServe?: () => void, afterServe?: () => void): void {
  stats.inputs++;
  const g = fuzzed;
  if (fuzzProxy) {
    // The session renewed after the last input, the control page written afresh (g.reset): the loop starts over on it.
    fuzzProxy.loop.reset();
    oracle.attach(FUZZED, fuzzProxy.session);
    Atomics.store(g.ctrl, CtrlWord.proxyState, W.PEER_ALIVE);
  } else {
    fuzzProxy = openProxy(FUZZED, g, fuzzPeer, fuzzTableOps);
    stats.builds++;
  }
  const p = fuzzProxy;
  g.racy = beforeServe !== undefined;
  const k: Known = { ctxs: [], handles: [], dptrs: [] };
  const r = new In(data);
  let faulted = false;
  const doServe = (): boolean => {
    beforeServe?.();
    const res = serve(FUZZED, p);
    afterServe?.();
    if (res === 'fault') {
      faulted = true;
      return false;
    }
    return true;
  };
  const read = (max: number): void => g.readAnswers(max, (op, result, at, len) => learn(g, k, op, result, at, len));
  try {
    for (let step = 0; step < MAX_ACTIONS && !r.done && !faulted; step++) {
      const a = r.u8() % A.COUNT;
      switch (a) {
        case A.REQ: {
          const sel = r.u8();
          const op = sel < 240 ? OPS[sel % OPS.length]! : r.u16();
          const flags = flagsFor(r);
          const ctx = ctxFor(r, k);
          const shape = r.u8();
          const slots = shape & 0x1f;
          const spec = fuzzTableOps[op];
          let plen = slots * 8;
          for (let i = 0; i < slots; i++) slot(r, k, g, i * 8);
          // Mostly at least the op's struct (zeros after the slots), sometimes short, sometimes a raw tail.
          if (!(shape & 0x20) && spec && plen < spec.payload) {
            payload.fill(0, plen, spec.payload);
            plen = spec.payload;
          }
          if (shape & 0x40) {
            const extra = r.u8();
            payload.set(r.bytes(extra), plen);
            plen += extra;
          }
          if (!emit(g, op, flags, ctx, plen, !(shape & 0x80))) faulted = true;
          break;
        }
        case A.PUBLISH_LIE: {
          const kind = r.u8() % 5;
          const head = Atomics.load(g.ctrl, CtrlWord.reqHead);
          const v = [g.tail, (head + r.u32()) >>> 0, (g.tail + 1 + (r.u8() % 15)) >>> 0, (head - 1 - r.u8()) >>> 0, r.u32()][kind]!;
          g.publish(v);
          if (v !== g.tail) g.tailLied = true;
          break;
        }
        case A.REWRITE: {
          // After publishing, before the proxy serves: a record's bytes change under it (TOCTOU).
          const off = r.u16();
          if (g.lastPos < 0) break;
          payload.fill(0, 0, 8);
          slot(r, k, g, 0);
          const at = g.lastPos + (off % g.lastLen);
          const n = Math.min(8, REQ_RING - at);
          g.req.set(payload.subarray(0, n), at);
          break;
        }
        case A.REWRITE_LEN: {
          const v = r.u32();
          if (g.lastPos >= 0) g.reqDv.setUint32(g.lastPos, v, true);
          break;
        }
        case A.CTRL: {
          const which = r.u8() % 6;
          const v = r.u32();
          const word = [CtrlWord.reqTail, CtrlWord.rspHead, CtrlWord.reqHead, CtrlWord.rspTail, CtrlWord.arenaDone, CtrlWord.guestWaiting][which]!;
          Atomics.store(g.ctrl, word, v);
          if (word === CtrlWord.rspHead || word === CtrlWord.rspTail) g.rspLied = true;
          if (word === CtrlWord.reqTail || word === CtrlWord.reqHead) g.tailLied = true;
          break;
        }
        case A.SERVE:
          doServe();
          break;
        case A.READ: {
          const m = r.u8();
          if (m < 200) read(m === 0 ? 1 << 30 : m);
          break;
        }
        case A.ARENA: {
          const off = r.u16() * 16;
          const n = r.u8();
          g.arena.set(r.bytes(n).subarray(0, Math.max(0, ARENA - ((g.arenaPos + off) & (ARENA - 1)))), (g.arenaPos + off) & (ARENA - 1));
          break;
        }
        case A.IMAGE: {
          // An image staged through the arena and loaded, as libvgpu's cuModuleLoadData does.
          const which = r.u8();
          const n = 1 + r.u8();
          const ref = g.put(r.bytes(n).length === n ? r.b.subarray(r.pos - n, r.pos) : new Uint8Array(n).fill(0x41));
          if (!ref) break;
          payload.fill(0, 0, 64);
          pdv.setUint32(W.ReqStageAppend.data, ref.pos, true);
          pdv.setUint32(W.ReqStageAppend.data + 4, ref.len, true);
          pdv.setUint32(W.ReqStageAppend.reset, 1, true);
          const ctx = k.ctxs.length ? k.ctxs[k.ctxs.length - 1]! : 0;
          if (!emit(g, W.Op.STAGE_APPEND, W.RF_REPLY, ctx, W.ReqStageAppend.SIZE, true)) { faulted = true; break; }
          payload.fill(0, 0, 64);
          C.writeU64(pdv, W.ReqModuleLoad.image_bytes, which & 0x80 ? r.u16() : n);
          pdv.setUint32(W.ReqModuleLoad.log_bytes, which & 0x40 ? 256 : 0, true);
          if (!emit(g, which & 1 ? W.Op.LIBRARY_LOAD : W.Op.MODULE_LOAD, W.RF_REPLY, ctx, W.ReqModuleLoad.SIZE, true)) faulted = true;
          break;
        }
        case A.SYMBOL: {
          const ops = [W.Op.MODULE_GET_FUNCTION, W.Op.MODULE_GET_GLOBAL, W.Op.LIBRARY_GET_KERNEL, W.Op.LIBRARY_GET_GLOBAL];
          const op = ops[r.u8() % ops.length]!;
          const owner = pick(k.handles, r.u8());
          const n = 1 + (r.u8() % 16);
          const name = r.bytes(n);
          payload.fill(0, 0, 32);
          pdv.setUint32(W.ReqSymbol.owner, owner, true);
          pdv.setUint32(W.ReqSymbol.name_len, n, true);
          payload.fill(0x6b, W.ReqSymbol.SIZE, W.ReqSymbol.SIZE + n);
          payload.set(name, W.ReqSymbol.SIZE);
          const ctx = k.ctxs.length ? k.ctxs[k.ctxs.length - 1]! : 0;
          if (!emit(g, op, W.RF_REPLY, ctx, W.ReqSymbol.SIZE + n, true)) faulted = true;
          break;
        }
        case A.COPY: {
          // A copy between the guest's device memory and its arena, with the arena reference right.
          const kind = r.u8();
          const bytes = r.u16() & 0x3fff;
          const dptr = pick(k.dptrs, r.u8()) + (r.u8() << 4);
          const ref = g.put(new Uint8Array(bytes));
          if (!ref) break;
          const htod = (kind & 1) === 0;
          payload.fill(0, 0, 64);
          C.writeU64(pdv, 0, dptr);
          C.writeU64(pdv, 8, bytes);
          pdv.setUint32(16 + W.HostRef.arena, ref.pos, true);
          pdv.setUint32(16 + W.HostRef.arena + 4, ref.len, true);
          pdv.setUint32(40, kind & 0x10 ? pick(k.handles, r.u8()) : 0, true);
          const flags = W.RF_REPLY | (kind & 2 ? W.RF_ASYNC : 0) | (kind & 4 ? W.RF_PTDS : 0);
          const ctx = k.ctxs.length ? k.ctxs[k.ctxs.length - 1]! : 0;
          if (!emit(g, htod ? W.Op.MEMCPY_HTOD : W.Op.MEMCPY_DTOH, flags, ctx, 48, true)) faulted = true;
          break;
        }
      }
      // The guest reads its answers as they come (the fuzzer can leave them with READ >= 200).
    }
    // A guest publishes what it wrote in the end (unless it lies about the tail).
    if (!faulted && !g.tailLied) g.publish();
    if (!faulted && doServe()) read(1 << 30);
    // Indices after a clean serve of an honest tail: everything read.  (Not under proxy-ring-race, whose
    // second thread, the one that gives beforeServe, moves the published tail back and forth: no tail is honest there.)
    if (!faulted && !g.tailLied && !beforeServe) {
      const head = Atomics.load(g.ctrl, CtrlWord.reqHead);
      if (head !== g.tail) throw new OracleViolation(`request head ${head} stopped short of the honest tail ${g.tail} with no fault`);
    }
  } finally {
    if (faulted) stats.faults++;
    const keep = !FRESH_EACH_INPUT;
    fuzzProxy = null;
    release(FUZZED, p, g, faulted, keep);
    if (keep) {
      if (isFresh(p.session)) fuzzProxy = p;
      else {
        p.session.releaseAll();
        p.loop.close();
      }
    }
    g.reset();
  }
  if (stats.inputs % BYSTANDER_EVERY === 0) bystanderRoundTrip();
}

// --- the bystander: another guest, well behaved, in the same process ---

const bystander = new GuestSim();
const [bySock] = pair();
const byProxy = openProxy(BYSTANDER, bystander, bySock, opTable());
let byCtx = 0;
const bystanderDptrs: number[] = [];
const byPayload = new Uint8Array(256);
const byDv = new DataView(byPayload.buffer);

function byRequest(op: number, ctx: number, plen: number): void {
  if (!bystander.write(op, W.RF_REPLY, ctx, byPayload, plen)) throw new Error('bystander ring full');
  bystander.publish();
}

function byAnswers(): { op: number; result: number; at: number }[] {
  const got: { op: number; result: number; at: number }[] = [];
  bystander.readAnswers(1 << 30, (op, result, at) => got.push({ op, result, at }));
  return got;
}

/**
 * One round trip of the bystander: allocate, copy known bytes in through its
 * arena and back out, compare, free.  Slower than 1 s, a wrong byte or any
 * error counts as failed.
 */
export function bystanderRoundTrip(): void {
  const b = stats.bystander;
  const t0 = performance.now();
  let ok = false;
  try {
    if (byCtx === 0) {
      byPayload.fill(0);
      byRequest(W.Op.PRIMARY_RETAIN, 0, W.ReqDevice.SIZE);
      if (serve(BYSTANDER, byProxy) !== 'ok') throw new Error('bystander channel faulted');
      const a = byAnswers()[0];
      if (!a || a.result !== 0) throw new Error(`bystander PRIMARY_RETAIN: ${a?.result}`);
      byCtx = bystander.rspDv.getUint32(a.at, true);
    }
    byPayload.fill(0);
    C.writeU64(byDv, W.ReqMemAlloc.bytes, 4096);
    byRequest(W.Op.MEM_ALLOC, byCtx, W.ReqMemAlloc.SIZE);
    if (serve(BYSTANDER, byProxy) !== 'ok') throw new Error('bystander channel faulted');
    const alloc = byAnswers()[0];
    if (!alloc || alloc.result !== 0) throw new Error(`bystander MEM_ALLOC: ${alloc?.result}`);
    const dptr = C.readU64(bystander.rspDv, alloc.at);
    bystanderDptrs.length = 0;
    bystanderDptrs.push(dptr);
    const pattern = new Uint8Array(4096);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 131 + b.roundTrips * 7) & 0xff;
    const src = bystander.put(pattern)!;
    const dst = bystander.put(new Uint8Array(4096))!;
    byPayload.fill(0);
    C.writeU64(byDv, W.ReqMemcpyHtod.dst, dptr);
    C.writeU64(byDv, W.ReqMemcpyHtod.bytes, 4096);
    byDv.setUint32(W.ReqMemcpyHtod.src + W.HostRef.arena, src.pos, true);
    byDv.setUint32(W.ReqMemcpyHtod.src + W.HostRef.arena + 4, src.len, true);
    byRequest(W.Op.MEMCPY_HTOD, byCtx, W.ReqMemcpyHtod.SIZE);
    byPayload.fill(0);
    C.writeU64(byDv, W.ReqMemcpyDtoh.src, dptr);
    C.writeU64(byDv, W.ReqMemcpyDtoh.bytes, 4096);
    byDv.setUint32(W.ReqMemcpyDtoh.dst + W.HostRef.arena, dst.pos, true);
    byDv.setUint32(W.ReqMemcpyDtoh.dst + W.HostRef.arena + 4, dst.len, true);
    byRequest(W.Op.MEMCPY_DTOH, byCtx, W.ReqMemcpyDtoh.SIZE);
    byPayload.fill(0);
    C.writeU64(byDv, W.ReqMemFree.dptr, dptr);
    byRequest(W.Op.MEM_FREE, byCtx, W.ReqMemFree.SIZE);
    if (serve(BYSTANDER, byProxy) !== 'ok') throw new Error('bystander channel faulted');
    const answers = byAnswers();
    if (answers.length !== 3 || answers.some((x) => x.result !== 0)) throw new Error(`bystander copies: ${JSON.stringify(answers)}`);
    const at = dst.pos & (ARENA - 1);
    const back = bystander.arena.subarray(at, at + 4096);
    ok = back.every((v, i) => v === pattern[i]);
    if (!ok) process.stderr.write('BYSTANDER: bytes came back wrong\n');
    if (oracle.touchedByOthers(BYSTANDER) !== 0) throw new OracleViolation('the fuzzed guest reached the bystander\'s objects or memory');
  } catch (err) {
    if (err instanceof OracleViolation) throw err;
    process.stderr.write(`BYSTANDER: round trip failed: ${(err as Error).message}\n`);
    ok = false;
  }
  const ms = performance.now() - t0;
  b.roundTrips++;
  if (!ok || ms > 1000) b.failed++;
  b.slowestMs = Math.max(b.slowestMs, Math.round(ms * 1000) / 1000);
  // The running totals, every 2 s too: the line at exit can be lost (libFuzzer's SIGALRM timer outlives its handler).
  if (performance.now() - lastPrinted > 2000) printBystander();
}

let lastPrinted = performance.now();

/** The bystander's running totals; the orchestrator reads the last such line of a run. */
export function printBystander(): void {
  lastPrinted = performance.now();
  process.stdout.write(`BYSTANDER ${JSON.stringify(stats.bystander)}\n`);
}

/** The fuzzed guest's region (the race worker scribbles on it). */
export function fuzzedRegion(): { addr: number; size: number; lastRecord: () => [number, number] } {
  return { addr: fuzzed.mem.addr, size: REGION, lastRecord: () => [fuzzed.lastPos, fuzzed.lastLen] };
}
