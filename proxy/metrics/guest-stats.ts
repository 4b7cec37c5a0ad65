// One guest's figures, counted where its requests are served (a guest
// server process, or a worker thread) and sent to vgpu-proxy's main process
// as a snapshot: one Float64Array of fixed layout, the same bytes on both
// sides.
//
//   guest server                                   main process
//   ServeLoop#handle ─ record(): typed-array adds   GuestDirectory.update()
//   every second, and as the guest ends:            ─ /metrics, GetStatus
//   publish() ─ sink ── pipe (fd 4) / postMessage ──►
//
// Counters are cumulative: each snapshot replaces the last, so a lost or
// late one costs nothing but freshness.  The hot path allocates nothing;
// only answered requests (the calls a guest waits for) are timed, so an
// unanswered one (a launch, an asynchronous copy) costs no clock read.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import type { Request } from '../channel/rings.js';
import { FAULT_CODES, FaultCode } from '../channel/errors.js';
import type { ReleaseCounts } from '../guest/session.js';
import { CLASS_COUNT, OP_CLASS, CLASS_OTHER } from './op-class.js';

/** Request duration buckets, seconds (upper bounds, Prometheus' `le`); one more bucket counts what is slower. */
export const LATENCY_BOUNDS = [
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;
const BOUNDS = Float64Array.from(LATENCY_BOUNDS);
const NB = BOUNDS.length;
/** Buckets per class in the snapshot: one per bound, then +Inf. */
export const BUCKETS_PER_CLASS = NB + 1;

/** What the proxy refuses a guest, counted and logged (rate-limited) by Session.refuse. */
export const REFUSALS = ['device_memory_quota', 'pinned_memory_quota', 'unknown_op', 'short_request', 'bad_host_segment', 'graph_node_limit'] as const;
export type RefusalKind = (typeof REFUSALS)[number];
export const Refusal = Object.fromEntries(REFUSALS.map((k, i) => [k, i])) as { readonly [K in RefusalKind]: number };

/** Why a guest's server ended (serve-loop's EndReason, a refused hand-over); the main process adds server_died. */
export const END_REASONS = ['guest_closed', 'guest_gone', 'fault', 'stopped', 'refused', 'server_died'] as const;
export type GuestEndReason = (typeof END_REASONS)[number];

export const RELEASED: readonly (keyof ReleaseCounts)[] = ['contexts', 'libraries', 'segments', 'vmm_mappings', 'vmm_allocations', 'vmm_reservations', 'device_bytes'];

export const TRANSPORTS = ['shm', 'xen'] as const;

const CLIENT_BYTES = 64;
export const STATS_MAGIC = 0x76677374; // 'vgst'

/** Offsets (in doubles) of the snapshot's fields. */
export const Snap = (() => {
  let at = 0;
  const one = (): number => at++;
  const many = (n: number): number => {
    const first = at;
    at += n;
    return first;
  };
  const layout = {
    MAGIC: one(),
    GUEST: one(),
    /** the guest process's pid as the proxy sees it (shm), 0 when unknown (xen) */
    PID: one(),
    /** the guest's domain (xen), -1 for shm */
    DOMID: one(),
    /** index into TRANSPORTS */
    TRANSPORT: one(),
    /** wall-clock ms when the guest connected */
    STARTED_MS: one(),
    /** wall-clock ms of this snapshot */
    TAKEN_MS: one(),
    MEM_USED: one(),
    MEM_QUOTA: one(),
    PINNED_USED: one(),
    PINNED_QUOTA: one(),
    /** 0 serving, 1 ended (the last snapshot) */
    ENDED: one(),
    /** index into END_REASONS, -1 while serving */
    END_REASON: one(),
    /** index into FAULT_CODES of the fault that closed the channel, -1 if none */
    FAULT: one(),
    LAUNCH_KERNEL: one(),
    LAUNCH_GRAPH: one(),
    COPY_HTOD: one(),
    COPY_DTOH: one(),
    COPY_DTOD: one(),
    /** ReleaseCounts in RELEASED's order, written as the guest ends */
    RELEASED: many(RELEASED.length),
    /** the guest's program name from its hello: raw bytes, NUL-padded */
    CLIENT: many(CLIENT_BYTES / 8),
    REQUESTS: many(CLASS_COUNT),
    /** requests answered (or, unanswered, ended) with a CUresult other than CUDA_SUCCESS */
    ERRORS: many(CLASS_COUNT),
    LAT_SUM: many(CLASS_COUNT),
    /** per class BUCKETS_PER_CLASS counts, not cumulative */
    LAT_BUCKETS: many(CLASS_COUNT * BUCKETS_PER_CLASS),
    REFUSALS: many(REFUSALS.length),
    SIZE: 0,
  };
  layout.SIZE = at;
  return layout;
})();

/** A snapshot's size in bytes (a pipe record; under PIPE_BUF, so one write). */
export const SNAP_BYTES = Snap.SIZE * 8;

export type StatsSink = (snap: Float64Array) => void;

export interface GuestIdentity {
  guestId: number;
  pid: number;
  domid: number;
  transport: (typeof TRANSPORTS)[number];
  client: string;
}

/** How often a serving guest's figures reach the main process, ms. */
export const FLUSH_MS = 1000;

export class GuestStats {
  readonly snap = new Float64Array(Snap.SIZE);
  #sink: StatsSink | null = null;
  /** performance.now() at which the next snapshot is due (never without a sink). */
  flushAt = Infinity;

  constructor() {
    this.snap[Snap.MAGIC] = STATS_MAGIC;
    this.snap[Snap.DOMID] = -1;
    this.snap[Snap.END_REASON] = -1;
    this.snap[Snap.FAULT] = -1;
    this.snap[Snap.STARTED_MS] = Date.now();
  }

  /** Where snapshots go, and whom they describe. */
  attach(sink: StatsSink, who: GuestIdentity): void {
    const s = this.snap;
    s[Snap.GUEST] = who.guestId;
    s[Snap.PID] = who.pid;
    s[Snap.DOMID] = who.domid;
    s[Snap.TRANSPORT] = TRANSPORTS.indexOf(who.transport);
    const bytes = new Uint8Array(s.buffer, Snap.CLIENT * 8, CLIENT_BYTES);
    bytes.fill(0);
    bytes.set(Buffer.from(who.client, 'utf8').subarray(0, CLIENT_BYTES - 1));
    this.#sink = sink;
    this.flushAt = 0;
  }

  /** One request served (the hot path: adds into the snapshot, nothing else). */
  record(req: Request, result: number): void {
    const s = this.snap;
    const op = req.op;
    const cls = op < OP_CLASS.length ? OP_CLASS[op]! : CLASS_OTHER;
    s[Snap.REQUESTS + cls]!++;
    if (result !== 0) s[Snap.ERRORS + cls]!++;
    else this.#succeeded(req, op);
  }

  /** An answered request took `seconds`, from its dispatch to its answer written. */
  timed(op: number, seconds: number): void {
    const s = this.snap;
    const cls = op < OP_CLASS.length ? OP_CLASS[op]! : CLASS_OTHER;
    s[Snap.LAT_SUM + cls]! += seconds;
    let b = 0;
    while (b < NB && seconds > BOUNDS[b]!) b++;
    s[Snap.LAT_BUCKETS + cls * BUCKETS_PER_CLASS + b]!++;
  }

  /** Launches and bytes copied, from a request the handler accepted (so its payload has its full struct). */
  #succeeded(req: Request, op: number): void {
    const s = this.snap;
    const P = W.ReqHdr.SIZE;
    switch (op) {
      case W.Op.LAUNCH:
        s[Snap.LAUNCH_KERNEL]!++;
        break;
      case W.Op.GRAPH_LAUNCH:
        s[Snap.LAUNCH_GRAPH]!++;
        break;
      case W.Op.MEMCPY_HTOD:
        s[Snap.COPY_HTOD]! += C.readU64(req.dv, P + W.ReqMemcpyHtod.bytes);
        break;
      case W.Op.MEMCPY_DTOH:
        s[Snap.COPY_DTOH]! += C.readU64(req.dv, P + W.ReqMemcpyDtoh.bytes);
        break;
      case W.Op.MEMCPY_DTOD:
        s[Snap.COPY_DTOD]! += C.readU64(req.dv, P + W.ReqMemcpyDtod.bytes);
        break;
      case W.Op.MEMCPY_2D: {
        const bytes = C.readU64(req.dv, P + W.ReqMemcpy2d.width_bytes) * C.readU64(req.dv, P + W.ReqMemcpy2d.height);
        const fromHost = req.dv.getUint32(P + W.ReqMemcpy2d.src_is_host, true) !== 0;
        const toHost = req.dv.getUint32(P + W.ReqMemcpy2d.dst_is_host, true) !== 0;
        // Host to host is not a device copy (the handler accepts it; the driver copies between host buffers).
        if (fromHost && !toHost) s[Snap.COPY_HTOD]! += bytes;
        else if (!fromHost && toHost) s[Snap.COPY_DTOH]! += bytes;
        else if (!fromHost && !toHost) s[Snap.COPY_DTOD]! += bytes;
        break;
      }
    }
  }

  /** A refusal (Session.refuse counts it here, and logs it rate-limited). */
  refused(kind: number): void {
    this.snap[Snap.REFUSALS + kind]!++;
  }

  /** Sends a snapshot with the session's current holdings; the next one is due FLUSH_MS after now. */
  publish(now: number, memUsed: number, memQuota: number, pinnedUsed: number, pinnedQuota: number): void {
    const s = this.snap;
    s[Snap.MEM_USED] = memUsed;
    s[Snap.MEM_QUOTA] = memQuota;
    s[Snap.PINNED_USED] = pinnedUsed;
    s[Snap.PINNED_QUOTA] = pinnedQuota;
    this.flushAt = now + FLUSH_MS;
    this.#send();
  }

  /** The last snapshot: why the guest ended, the fault that closed it, what its release reclaimed. */
  finish(reason: GuestEndReason, fault: FaultCode | null, released: ReleaseCounts | null): void {
    const s = this.snap;
    s[Snap.ENDED] = 1;
    s[Snap.END_REASON] = END_REASONS.indexOf(reason);
    s[Snap.FAULT] = fault ? FAULT_CODES.indexOf(fault) : -1;
    s[Snap.MEM_USED] = 0;
    s[Snap.PINNED_USED] = 0;
    if (released) RELEASED.forEach((k, i) => (s[Snap.RELEASED + i] = released[k]));
    this.flushAt = Infinity;
    this.#send();
  }

  #send(): void {
    if (!this.#sink) return;
    this.snap[Snap.TAKEN_MS] = Date.now();
    try {
      this.#sink(this.snap);
    } catch {
      // The main process is gone or not reading: figures are best effort, serving goes on.
    }
  }
}

/** The client name a snapshot carries. */
export function snapClient(snap: Float64Array): string {
  const bytes = new Uint8Array(snap.buffer, snap.byteOffset + Snap.CLIENT * 8, CLIENT_BYTES);
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? CLIENT_BYTES : end)).toString('utf8');
}

/** True when bytes look like a snapshot of this layout (the main process checks each one it is sent). */
export function isSnapshot(snap: Float64Array): boolean {
  return snap.length === Snap.SIZE && snap[Snap.MAGIC] === STATS_MAGIC;
}
