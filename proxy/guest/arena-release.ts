// The guest's arena, page-locked in the proxy, and when its space may be reused.
//
// Pageable host bytes travel through the arena.  Unregistered, the arena makes
// every copy a pageable one: the driver copies it again into its own staging
// buffer, and a copy's arena bytes are free once the driver call returns.
// Registered with cuMemHostRegister (in the guest's own context, never
// PORTABLE, so no other guest's context maps it), the arena is what the DMA
// engines read and write: one copy less, at page-locked bandwidth, but an
// asynchronous host-to-device copy then still reads the arena after the call
// returns.  Its space is released by a CUDA event recorded behind it, in the
// order the guest allocated it (the arena is a ring: arena_done only moves
// forward, past uses whose work is complete).
//
// Copies into the arena wait for their event before they are answered (the
// guest reads the bytes once answered, as a driver's copy to pageable memory
// returns once done).  A copy on a capturing stream goes through private
// pageable memory instead, so the driver does what it does for pageable memory
// in a capture: it refuses, rather than baking an arena address into a graph.
import type { Logger } from 'pino';
import * as C from '../native/libc.js';
import * as A from '../wire/cuda-abi.js';
import { CudaDriver, CUDA_ERROR_NOT_READY, CUDA_SUCCESS } from '../native/cuda.js';
import * as W from '../wire/layout.js';
import { CtrlWord, Region } from '../channel/region.js';

const CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712;
const PAGE = 4096;
/** Free events kept per context. */
const POOL_MAX = 64;

/** Whether the vgpu_host_ref at off names arena bytes (not a shared page-locked segment). */
export function isArenaRef(dv: DataView, off: number): boolean {
  return dv.getUint32(off + W.HostRef.segment, true) === 0;
}

interface Held {
  /** arena_done once this use is released (free-running position). */
  end: number;
  /** Event behind the copy, 0 when the use was already complete. */
  event: number;
  ctx: number;
}

/** The guest's page-locked host memory quota, which the arena counts against while registered. */
export interface PinnedQuota {
  /** Takes bytes from the quota; false when they do not fit. */
  take(bytes: number): boolean;
  give(bytes: number): void;
}

export class ArenaRelease {
  /** The context the arena is registered in; 0 while it is not page-locked. */
  #pinnedIn = 0;
  /** Registration failed (e.g. grant-mapped memory): copies stay pageable. */
  #cannotPin = false;
  readonly #held: Held[] = [];
  /** The arena end position the current request used, to publish once every earlier use is released. */
  #lastEnd = -1;
  readonly #pools = new Map<number, number[]>();
  /** Private pageable memory for copies on capturing streams. */
  #bounce: C.NativeMemory | null = null;
  readonly #slot: C.NativeMemory = C.allocScratch(PAGE);
  /** Uses held by an event, for the wait statistics. */
  heldUses = 0;

  constructor(
    readonly region: Region,
    readonly cuda: CudaDriver | null,
    readonly log: Logger,
    /** Page-lock the arena (vgpu-proxy --pageable-arena turns it off, to compare). */
    readonly enabled: boolean,
    readonly quota: PinnedQuota,
  ) {}

  /** Uses still waiting for their copies to finish. */
  get pending(): number {
    return this.#held.length;
  }

  /**
   * Page-locks the arena in context ctx (current on this thread) if it is not
   * yet; true when it is page-locked.  A failure is logged once and the arena
   * stays pageable.
   */
  pin(ctx: number): boolean {
    if (this.#pinnedIn !== 0) return true;
    if (!this.enabled || this.#cannotPin || !this.cuda) return false;
    const addr = this.region.arenaAddr;
    const size = this.region.layout.arenaSize;
    if (addr % PAGE !== 0) {
      this.#cannotPin = true;
      return false;
    }
    // The guest chose the arena's size: page-locked, it counts against its pinned-memory quota.
    if (!this.quota.take(size)) {
      this.#cannotPin = true;
      this.log.info({ bytes: size }, 'arena not page-locked: it would exceed the guest\'s page-locked memory quota (copies stay pageable)');
      return false;
    }
    // The arena lies inside the guest's mapped region for the session's life; registering it exposes nothing else.
    const r = this.cuda.cuMemHostRegister_v2(addr, size, 0);
    if (r === CUDA_SUCCESS || r === CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) {
      this.#pinnedIn = ctx;
      this.log.debug({ ctx, bytes: size }, 'arena page-locked');
      return true;
    }
    this.quota.give(size);
    this.#cannotPin = true;
    this.log.info({ result: r, bytes: size }, 'arena could not be page-locked: pageable copies go through the driver\'s staging');
    return false;
  }

  /**
   * Runs a stream-ordered copy whose host side (host, bytes) is in the arena.
   * toDevice: the arena is read (released by event when async); else written
   * (waited for before the answer).
   */
  copy(ctx: number, stream: number, async: boolean, toDevice: boolean, host: number, bytes: number, run: (host: number) => number): number {
    const cuda = this.cuda!;
    if (!this.pin(ctx)) return run(host);
    if (this.#capturing(stream)) return this.#bounced(toDevice, host, bytes, run);
    const r = run(host);
    if (r !== CUDA_SUCCESS) return r;
    if (!toDevice) return cuda.cuStreamSynchronize(stream);
    if (!async) return r; // the caller waits for the stream before answering
    return this.#holdBehind(ctx, stream);
  }

  /** Notes how far the current request used the arena (set by the session's checks). */
  used(end: number): void {
    this.#lastEnd = end;
  }

  /**
   * Called after each request: publishes arena_done as far as released uses
   * allow; true when it moved (a guest waiting for space must be woken).
   */
  publish(): boolean {
    if (this.#lastEnd >= 0) {
      if (this.#held.length === 0) {
        Atomics.store(this.region.ctrl, CtrlWord.arenaDone, this.#lastEnd);
        this.#lastEnd = -1;
        return true;
      }
      this.#held.push({ end: this.#lastEnd, event: 0, ctx: 0 });
      this.#lastEnd = -1;
    }
    return this.#held.length > 0 && this.drain();
  }

  /** Releases the uses whose copies are complete, oldest first; true when arena_done moved. */
  drain(): boolean {
    const held = this.#held;
    let end = -1;
    while (held.length > 0) {
      const h = held[0]!;
      if (h.event !== 0) {
        const q = this.cuda!.cuEventQuery(h.event);
        if (q === CUDA_ERROR_NOT_READY) break;
        // Any other answer (done, or a failed stream): the copy reads the arena no longer.
        this.#recycle(h.ctx, h.event);
      }
      end = h.end;
      held.shift();
    }
    if (end < 0) return false;
    Atomics.store(this.region.ctrl, CtrlWord.arenaDone, end);
    return true;
  }

  /**
   * Before context ctx is destroyed: waits for every held copy (its events
   * die with it, and the arena's registration may too), then forgets its
   * events.  The arena is registered again, in the next context that copies.
   */
  forgetContext(ctx: number): void {
    const cuda = this.cuda;
    if (!cuda) return;
    for (const h of this.#held) {
      if (h.event === 0) continue;
      cuda.cuEventSynchronize(h.event);
      if (h.ctx !== ctx) this.#recycle(h.ctx, h.event);
      h.event = 0;
    }
    this.drain();
    this.#pools.delete(ctx);
    if (this.#pinnedIn === ctx) this.#unpinned();
  }

  /** The registration ended (with its context, or unregistered): its bytes go back to the quota. */
  #unpinned(): void {
    this.#pinnedIn = 0;
    this.quota.give(this.region.layout.arenaSize);
  }

  /** Ends the arena's registration (the contexts are gone or going); frees the proxy's memory. */
  close(): void {
    this.#end();
    C.munmap(this.#slot.addr, this.#slot.size);
  }

  /**
   * What close() does but keeps the slot page, then clears what a new
   * ArenaRelease starts without (a failed registration, the statistics): as
   * new for a renewed session (Session.renew).
   */
  reset(): void {
    this.#end();
    this.#slot.u8.fill(0);
    this.#cannotPin = false;
    this.#lastEnd = -1;
    this.heldUses = 0;
  }

  #end(): void {
    if (this.#pinnedIn !== 0) {
      this.cuda?.cuMemHostUnregister(this.region.arenaAddr);
      this.#unpinned();
    }
    this.#held.length = 0;
    this.#pools.clear();
    if (this.#bounce) C.munmap(this.#bounce.addr, this.#bounce.size);
    this.#bounce = null;
  }

  #capturing(stream: number): boolean {
    const r = this.cuda!.cuStreamIsCapturing(stream, this.#slot.addr);
    // An error here (a capture elsewhere forbids asking about this stream): let the driver decide, as for pageable memory.
    return r !== CUDA_SUCCESS || this.#slot.dv.getUint32(0, true) !== A.CU_STREAM_CAPTURE_STATUS_NONE;
  }

  /** The copy through private pageable memory: the driver treats it exactly as a pageable one. */
  #bounced(toDevice: boolean, host: number, bytes: number, run: (host: number) => number): number {
    if (!this.#bounce || this.#bounce.size < bytes) {
      if (this.#bounce) C.munmap(this.#bounce.addr, this.#bounce.size);
      this.#bounce = C.allocScratch(Math.max(bytes, 1 << 20));
    }
    const b = this.#bounce;
    // host..host+bytes was checked to lie inside the arena by the caller.
    const arena = C.viewAt(host, bytes).u8;
    if (toDevice) b.u8.set(arena);
    const r = run(b.addr);
    if (!toDevice && r === CUDA_SUCCESS) arena.set(b.u8.subarray(0, bytes));
    return r;
  }

  /** Holds the current request's arena use until an event recorded behind the copy completes. */
  #holdBehind(ctx: number, stream: number): number {
    const cuda = this.cuda!;
    const event = this.#event(ctx);
    if (event === 0 || cuda.cuEventRecordWithFlags(event, stream, 0) !== CUDA_SUCCESS) {
      if (event !== 0) this.#recycle(ctx, event);
      // No event: wait here instead (correct, only slower).
      return cuda.cuStreamSynchronize(stream);
    }
    // #lastEnd was set by the arena reference this copy was checked against.
    this.#held.push({ end: this.#lastEnd, event, ctx });
    this.#lastEnd = -1;
    this.heldUses++;
    return CUDA_SUCCESS;
  }

  #event(ctx: number): number {
    const pool = this.#pools.get(ctx);
    const free = pool?.pop();
    if (free !== undefined) return free;
    const r = this.cuda!.cuEventCreate(this.#slot.addr, A.CU_EVENT_DISABLE_TIMING);
    return r === CUDA_SUCCESS ? C.readU64(this.#slot.dv, 0) : 0;
  }

  #recycle(ctx: number, event: number): void {
    let pool = this.#pools.get(ctx);
    if (!pool) this.#pools.set(ctx, (pool = []));
    if (pool.length < POOL_MAX) pool.push(event);
    else this.cuda!.cuEventDestroy_v2(event);
  }
}
