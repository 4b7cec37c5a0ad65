// vgpu-proxy's main process: every guest server it started, with the last
// figures each sent (guest-stats.ts), and per pod what outlives its guests
// (exits, faults, what their release reclaimed).  /metrics and the control
// API's GetStatus read it; nothing here touches a guest's requests.
//
// A guest's figures stay ENDED_KEEP_MS after it ended, so a scrape taken
// in between sees its final counts; a pod's own counters stay while it is
// registered or has guests, and ENDED_KEEP_MS after.
import { FAULT_CODES } from '../channel/errors.js';
import { END_REASONS, GuestEndReason, isSnapshot, RELEASED, Snap, snapClient, TRANSPORTS } from './guest-stats.js';
import { containerOfPid } from './container.js';

export const ENDED_KEEP_MS = 5 * 60_000;

export interface PodMeta {
  namespace: string;
  name: string;
  uid: string;
}

export interface GuestRecord {
  readonly guestId: number;
  /** the pod whose socket it came through ('' for the proxy's own socket) */
  readonly pod: string;
  /** wall-clock ms the server started */
  readonly startedMs: number;
  /** the last snapshot the server sent, null before the first */
  snap: Float64Array | null;
  /** container id from the guest's cgroup, '' when unknown */
  container: string;
  /** wall-clock ms it ended, null while served */
  endedMs: number | null;
  endReason: GuestEndReason | null;
  /** the proxy ended it (stopping(), before a SIGTERM) */
  stopping?: boolean;
}

export interface PodRecord {
  readonly podId: string;
  meta: PodMeta;
  /** the registered per-guest device-memory quota, bytes (0: the proxy's default) */
  memQuota: number;
  registered: boolean;
  /** wall-clock ms it was unregistered */
  goneMs: number | null;
  /** guest servers ended, by END_REASONS index */
  readonly exits: Float64Array;
  /** channels closed by a fault, by FAULT_CODES index (hand-over refusals included) */
  readonly faults: Float64Array;
  /** what releasing its ended guests reclaimed, in RELEASED's order */
  readonly reclaimed: Float64Array;
}

const NO_META: PodMeta = { namespace: '', name: '', uid: '' };

export class GuestDirectory {
  readonly #guests = new Map<number, GuestRecord>();
  readonly #pods = new Map<string, PodRecord>();

  constructor(readonly now: () => number = Date.now) {}

  /** A guest server was started for a connection on pod's socket. */
  started(guestId: number, pod: string): void {
    this.#pod(pod);
    this.#guests.set(guestId, { guestId, pod, startedMs: this.now(), snap: null, container: '', endedMs: null, endReason: null });
  }

  /** The proxy is ending guest guestId's server (pod unregistered, proxy stopping): without a last snapshot it ended as stopped. */
  stopping(guestId: number): void {
    const g = this.#guests.get(guestId);
    if (g) g.stopping = true;
  }

  /** A snapshot from guest guestId's server; false (and ignored) when it is not one. */
  update(guestId: number, snap: Float64Array): boolean {
    const g = this.#guests.get(guestId);
    if (!g || g.endedMs !== null || !isSnapshot(snap) || snap[Snap.GUEST] !== guestId) return false;
    if (!g.snap && snap[Snap.PID]! > 0) g.container = containerOfPid(snap[Snap.PID]!);
    g.snap = snap;
    return true;
  }

  /**
   * The server ended (its process or thread is gone).  Its reason comes from
   * its last snapshot; a server that ended without one (killed, crashed)
   * counts as server_died.
   */
  ended(guestId: number): void {
    const g = this.#guests.get(guestId);
    if (!g || g.endedMs !== null) return;
    g.endedMs = this.now();
    const snap = g.snap;
    const last = snap && snap[Snap.ENDED] === 1;
    const died = g.stopping ? 'stopped' : 'server_died';
    g.endReason = last ? END_REASONS[snap[Snap.END_REASON]!] ?? died : died;
    const pod = this.#pod(g.pod);
    pod.exits[END_REASONS.indexOf(g.endReason)]!++;
    if (last) {
      const fault = snap[Snap.FAULT]!;
      if (fault >= 0 && fault < FAULT_CODES.length) pod.faults[fault]!++;
      for (let i = 0; i < RELEASED.length; i++) pod.reclaimed[i]! += snap[Snap.RELEASED + i]!;
    }
  }

  podRegistered(podId: string, meta: PodMeta, memQuota: number): void {
    const p = this.#pod(podId);
    p.meta = { ...meta };
    p.memQuota = memQuota;
    p.registered = true;
    p.goneMs = null;
  }

  podQuota(podId: string, memQuota: number): void {
    const p = this.#pods.get(podId);
    if (p) p.memQuota = memQuota;
  }

  podUnregistered(podId: string): void {
    const p = this.#pods.get(podId);
    if (!p) return;
    p.registered = false;
    p.goneMs = this.now();
  }

  /** Forgets guests ended more than ENDED_KEEP_MS ago, and pods gone as long with no guest left. */
  sweep(): void {
    const now = this.now();
    for (const [id, g] of this.#guests) if (g.endedMs !== null && now - g.endedMs > ENDED_KEEP_MS) this.#guests.delete(id);
    const withGuests = new Set([...this.#guests.values()].map((g) => g.pod));
    for (const [id, p] of this.#pods) {
      if (!p.registered && p.goneMs !== null && now - p.goneMs > ENDED_KEEP_MS && !withGuests.has(id)) this.#pods.delete(id);
    }
  }

  /** Every guest known (served, and ended within ENDED_KEEP_MS), by guest id. */
  guests(): GuestRecord[] {
    return [...this.#guests.values()].sort((a, b) => a.guestId - b.guestId);
  }

  pods(): PodRecord[] {
    return [...this.#pods.values()].sort((a, b) => a.podId.localeCompare(b.podId));
  }

  pod(podId: string): PodRecord | undefined {
    return this.#pods.get(podId);
  }

  /** Guest servers now running. */
  get serving(): number {
    let n = 0;
    for (const g of this.#guests.values()) if (g.endedMs === null) n++;
    return n;
  }

  #pod(podId: string): PodRecord {
    let p = this.#pods.get(podId);
    if (!p) {
      p = {
        podId,
        meta: NO_META,
        memQuota: 0,
        // The proxy's own socket ('') is always there; a pod's exists once registered.
        registered: podId === '',
        goneMs: null,
        exits: new Float64Array(END_REASONS.length),
        faults: new Float64Array(FAULT_CODES.length),
        reclaimed: new Float64Array(RELEASED.length),
      };
      this.#pods.set(podId, p);
    }
    return p;
  }
}

/** A guest's figures in plain fields (status, tests). */
export interface GuestView {
  guestId: number;
  pod: string;
  pid: number;
  domid: number;
  transport: string;
  client: string;
  container: string;
  memUsed: number;
  memQuota: number;
  pinnedUsed: number;
  pinnedQuota: number;
  requests: number;
  startedMs: number;
  ended: boolean;
}

export function viewGuest(g: GuestRecord): GuestView {
  const s = g.snap;
  let requests = 0;
  if (s) for (let c = Snap.REQUESTS; c < Snap.ERRORS; c++) requests += s[c]!;
  return {
    guestId: g.guestId,
    pod: g.pod,
    pid: s ? s[Snap.PID]! : 0,
    domid: s ? s[Snap.DOMID]! : -1,
    transport: s ? TRANSPORTS[s[Snap.TRANSPORT]!] ?? '' : '',
    client: s ? snapClient(s) : '',
    container: g.container,
    memUsed: s && g.endedMs === null ? s[Snap.MEM_USED]! : 0,
    memQuota: s ? s[Snap.MEM_QUOTA]! : 0,
    pinnedUsed: s && g.endedMs === null ? s[Snap.PINNED_USED]! : 0,
    pinnedQuota: s ? s[Snap.PINNED_QUOTA]! : 0,
    requests,
    startedMs: s ? s[Snap.STARTED_MS]! : g.startedMs,
    ended: g.endedMs !== null,
  };
}
