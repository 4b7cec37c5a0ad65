// The request loop of one guest: take a request, check it, run it, answer
// it, wake the guest if it sleeps.  Idle, the loop spins briefly, then
// announces it may sleep, re-checks the ring, and sleeps on the transport's
// wake descriptor and the hand-over socket (so a guest that dies is noticed
// at once).
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NO_DEVICE, CUDA_ERROR_UNKNOWN, CUDA_SUCCESS } from '../native/cuda.js';
import { ChannelFault } from '../channel/errors.js';
import type { GuestLink } from '../channel/link.js';
import { CtrlWord } from '../channel/region.js';
import { RequestReader, ResponseWriter } from '../channel/rings.js';
import type { OpSpec } from '../ops/op.js';
import { Reply } from '../ops/op.js';
import type { Session } from './session.js';
import { Refusal } from '../metrics/guest-stats.js';

export type EndReason = 'guest_closed' | 'guest_gone' | 'fault' | 'stopped';

export interface LoopOptions {
  /** How long to spin for a new request before sleeping, microseconds. */
  spinMicros: number;
  /** Set to non-zero by the main thread to stop. */
  stop: Int32Array;
}

const SLEEP_MS = 1000;
/** How often a sleeping loop looks at arena copies still in flight. */
const HELD_POLL_MS = 1;
/** A stream of unanswered requests looks at the clock (for the figures' flush) once per this many: a power of two. */
const FLUSH_CHECK = 1024;

export class ServeLoop {
  #reader: RequestReader;
  #writer: ResponseWriter;
  readonly #reply = new Reply();
  readonly #ctrl: Uint32Array;
  readonly #poll: C.NativeMemory = C.allocScratch(4096);
  #sockQuietUntil = 0;
  /** Request bytes consumed since the guest was last woken. */
  #freedSinceWake = 0;
  /** This thread's capture mode (CU_STREAM_CAPTURE_MODE_GLOBAL at start). */
  #captureMode = 0;
  readonly #wakeEvery: number;
  /** Unanswered requests served since the clock was last read (a flush is looked for every FLUSH_CHECK of them). */
  #untimed = 0;
  fault: ChannelFault | null = null;
  served = 0;
  /** Sleeps, and those that ended by timeout with a request already waiting (the guest's kick came late or not at all). */
  sleeps = 0;
  lateWakes = 0;

  constructor(
    readonly s: Session,
    /** the transport's wake-ups and liveness (shm or xen); everything else here is transport-blind */
    readonly link: GuestLink,
    readonly table: (OpSpec | undefined)[],
    readonly opts: LoopOptions,
  ) {
    this.#reader = new RequestReader(s.region);
    this.#writer = new ResponseWriter(s.region);
    this.#ctrl = s.region.ctrl;
    // A guest asleep for ring space is woken once an eighth of the ring is free, not per record:
    // waking it for every record would turn a full ring into a futex ping-pong.
    this.#wakeEvery = s.region.layout.reqRingSize / 8;
  }

  run(): EndReason {
    try {
      for (;;) {
        this.serveReady();
        const idle = this.#idle();
        if (idle) return idle;
      }
    } catch (err) {
      if (!(err instanceof ChannelFault)) throw err;
      this.fault = err;
      return 'fault';
    } finally {
      this.close();
    }
  }

  /**
   * Serves every request the guest has published, then returns how many it
   * served (never sleeps).  Throws ChannelFault on a broken record.  run()
   * is this plus the idle wait; test/fuzz/proxy drives it directly.
   */
  serveReady(): number {
    let n = 0;
    while (this.#reader.next()) {
      this.#handle();
      n++;
    }
    return n;
  }

  /**
   * Makes the loop as new on the same session and region, after the session
   * was renewed (Session.renew) and the guest's control page written afresh:
   * ring indices taken again from the control page, counters, the capture
   * mode and the private copies cleared.  The real proxy builds a loop per
   * guest and never calls this; test/fuzz/proxy does, between inputs, where
   * building one (and its session) per input cost more than the input.
   */
  reset(): void {
    // New ends of the rings take their indices from the control page, as the constructor's did.
    this.#reader = new RequestReader(this.s.region);
    this.#writer = new ResponseWriter(this.s.region);
    this.#reply.reset();
    this.#reply.u8.fill(0);
    this.#sockQuietUntil = 0;
    this.#freedSinceWake = 0;
    this.#captureMode = 0;
    this.fault = null;
    this.served = 0;
    this.sleeps = 0;
    this.lateWakes = 0;
  }

  /** Frees the loop's own memory (run() does, as it ends). */
  close(): void {
    C.munmap(this.#poll.addr, this.#poll.size);
  }

  #handle(): void {
    const s = this.s;
    const req = this.#reader.current;
    const spec = this.table[req.op];
    const reply = this.#reply;
    reply.reset();
    // Answered requests are timed (the guest waits for them); unanswered ones cost no clock read.
    const timed = (req.flags & W.RF_REPLY) !== 0;
    const t0 = timed ? performance.now() : 0;
    let result: number;
    if (!spec) {
      s.refuse(Refusal.unknown_op, req.op, req.seq);
      result = CUDA_ERROR_INVALID_VALUE;
    } else if (req.payloadLen < spec.payload) {
      s.refuse(Refusal.short_request, req.op, req.payloadLen, spec.payload);
      result = CUDA_ERROR_INVALID_VALUE;
    } else if (spec.needsDriver && !s.cuda) {
      result = CUDA_ERROR_NO_DEVICE;
    } else {
      if (req.flags & W.RF_CAPMODE_MASK) this.#takeCaptureMode((req.flags & W.RF_CAPMODE_MASK) >> W.RF_CAPMODE_SHIFT);
      result = spec.needsCtx ? s.useCtx(req.ctx) : CUDA_SUCCESS;
      if (result === CUDA_SUCCESS) {
        try {
          result = spec.handler(s, req, reply);
        } catch (err) {
          s.log.error({ op: W.OpName[req.op], seq: req.seq, err }, 'op handler failed: answered CUDA_ERROR_UNKNOWN');
          reply.reset();
          result = CUDA_ERROR_UNKNOWN;
        }
      }
    }
    const arenaFreed = s.publishArena();
    if (req.flags & W.RF_REPLY) {
      if (result === CUDA_SUCCESS && spec?.syncPoint && s.pendingError !== 0) {
        result = s.pendingError;
        s.pendingError = 0;
      }
      this.#writer.write(req.op, req.seq, result, reply.u8, result === CUDA_SUCCESS || reply.len ? reply.len : 0);
    } else if (result !== CUDA_SUCCESS) {
      s.log.debug({ op: W.OpName[req.op], seq: req.seq, result }, 'asynchronous request failed: reported at the next synchronising call');
      s.deferError(result);
    }
    this.served++;
    Atomics.store(this.#ctrl, CtrlWord.doneSeq, req.seq);
    this.#freedSinceWake += W.ReqHdr.SIZE + req.payloadLen;
    // Arena space comes back in large pieces: a guest waiting for it is woken at once.
    if (req.flags & W.RF_REPLY || arenaFreed || this.#freedSinceWake >= this.#wakeEvery) this.#wakeGuest();
    s.stats.record(req, result);
    if (timed) {
      const now = performance.now();
      s.stats.timed(req.op, (now - t0) / 1000);
      if (now >= s.stats.flushAt) this.#flush(now);
    } else if ((++this.#untimed & (FLUSH_CHECK - 1)) === 0) {
      const now = performance.now();
      if (now >= s.stats.flushAt) this.#flush(now);
    }
  }

  /** Sends this guest's figures to the main process (every FLUSH_MS while it is served), and the refusal log's counts. */
  #flush(now: number): void {
    const s = this.s;
    s.stats.publish(now, s.deviceBytes(), s.limits.memQuota, s.pinnedBytes, s.limits.pinnedQuota);
    s.refusals.flush(now);
  }

  /**
   * Every guest thread's requests run on this one thread: while a capture is
   * active, take the calling guest thread's capture mode (wire value = mode + 1).
   */
  #takeCaptureMode(wire: number): void {
    const mode = wire - 1;
    if (mode === this.#captureMode || !this.s.cuda) return;
    this.s.out.dv.setUint32(0, mode, true);
    if (this.s.cuda.cuThreadExchangeStreamCaptureMode(this.s.out.addr) === 0) this.#captureMode = mode;
  }

  /** Bumps the wake word and wakes guest threads, when any announced it may sleep. */
  #wakeGuest(): void {
    this.#freedSinceWake = 0;
    if (Atomics.load(this.#ctrl, CtrlWord.guestWaiting) !== 0) {
      Atomics.add(this.#ctrl, CtrlWord.wakeWord, 1);
      this.link.wakeGuest();
    }
  }

  /** Waits for work; returns why the loop must end, or null to go on. */
  #idle(): EndReason | null {
    const ctrl = this.#ctrl;
    const spinUntil = performance.now() + this.opts.spinMicros / 1000;
    const arena = this.s.arena;
    while (performance.now() < spinUntil) {
      for (let i = 0; i < 64; i++) if (this.#reader.pending()) return null;
      if (arena.pending > 0 && arena.drain()) this.#wakeGuest();
    }
    Atomics.store(ctrl, CtrlWord.proxyWaiting, 1);
    // Announced, /then/ re-checked: a request published after this point kicks the eventfd.
    if (this.#reader.pending()) {
      Atomics.store(ctrl, CtrlWord.proxyWaiting, 0);
      return null;
    }
    this.#wakeGuest();
    this.sleeps++;
    const sockEvents = this.#sleep(arena.pending > 0);
    Atomics.store(ctrl, CtrlWord.proxyWaiting, 0);
    if (arena.pending > 0 && arena.drain()) this.#wakeGuest();
    const now = performance.now();
    if (now >= this.s.stats.flushAt) this.#flush(now);
    if (Atomics.load(this.opts.stop, 0) !== 0) return 'stopped';
    const gs = Atomics.load(ctrl, CtrlWord.guestState);
    if (gs === W.PEER_CLOSED) return 'guest_closed';
    // ALIVE turned ABSENT: the guest's kernel cleared it as the guest process died (xen's unmap notification).
    if (gs === W.PEER_ABSENT) return 'guest_gone';
    if (sockEvents !== 0 && !this.#reader.pending()) {
      const m = this.#poll;
      const n = C.recv(this.s.sock, m.addr + 256, 1, C.MSG_DONTWAIT | 0x2 /* MSG_PEEK */);
      if (n === 0 || (n < 0 && C.errno() !== C.EAGAIN && C.errno() !== C.EINTR)) return 'guest_gone';
      // Bytes on the socket with no request for them: listen only to the eventfd for a while.
      if (n > 0) this.#sockQuietUntil = performance.now() + 100;
    }
    return null;
  }

  /**
   * poll() on the eventfd and the socket; returns the socket's revents.
   * While arena copies are in flight it wakes every HELD_POLL_MS to release their space.
   */
  #sleep(copiesInFlight: boolean): number {
    const m = this.#poll;
    const watchSock = performance.now() >= this.#sockQuietUntil;
    m.dv.setInt32(0, this.link.wakeFd, true);
    m.dv.setInt16(4, C.POLLIN, true);
    m.dv.setInt16(6, 0, true);
    m.dv.setInt32(8, this.s.sock, true);
    m.dv.setInt16(12, C.POLLIN, true);
    m.dv.setInt16(14, 0, true);
    const r = C.poll(m.addr, watchSock ? 2 : 1, copiesInFlight ? HELD_POLL_MS : watchSock ? SLEEP_MS : 100);
    if (r === 0 && this.#reader.pending()) this.lateWakes++;
    if (r <= 0) return 0;
    if (m.dv.getInt16(6, true) & C.POLLIN) this.link.drainWake(m);
    return watchSock ? m.dv.getInt16(14, true) : 0;
  }
}
