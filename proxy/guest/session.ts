// Everything the proxy holds for one guest process: its contexts, handles,
// device ranges, staged module bytes and host-memory segments, and the
// driver calls that need them.  One Session lives in one worker thread.
import type { Logger } from 'pino';
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CudaDriver, CUDA_ERROR_INVALID_CONTEXT, CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_NO_DEVICE, CUDA_SUCCESS } from '../native/cuda.js';
import type { Region } from '../channel/region.js';
import { DeviceRanges } from './device-ranges.js';
import { DEFAULT_MAX_GRAPH_NODES, GraphNodes } from './graph-nodes.js';
import { HandleTable } from './handle-table.js';
import type { ModuleCache } from './module-cache.js';
import { Staging } from './staging.js';
import { ArenaRelease } from './arena-release.js';
import { VmmTable } from './vmm-table.js';
import { HostFuncGates } from './host-func-gates.js';
import { GuestStats, Refusal, REFUSALS } from '../metrics/guest-stats.js';
import { RefusalLog } from '../metrics/refusal-log.js';

export interface GuestLimits {
  /** Device memory the guest may allocate, bytes. */
  memQuota: number;
  /** Page-locked host memory the guest may share, bytes. */
  pinnedQuota: number;
  /** Largest module image, bytes. */
  maxImage: number;
  /** Most handles at once. */
  maxHandles: number;
  /** Most graph nodes the guest's graphs and executable graphs may hold together (default DEFAULT_MAX_GRAPH_NODES). */
  maxGraphNodes?: number;
}

/** What releaseAll() released (logged as the guest leaves). */
export interface ReleaseCounts {
  contexts: number;
  libraries: number;
  segments: number;
  vmm_mappings: number;
  vmm_allocations: number;
  vmm_reservations: number;
  device_bytes: number;
}

/** Context limits whose device memory counts against the quota. */
export type LimitKind = 'heap' | 'stack';

export interface PrimaryState {
  /** Context id while the emulated primary context exists, else 0. */
  ctx: number;
  retains: number;
  flags: number;
}

export interface HostSegment {
  addr: number;
  bytes: number;
  fd: number;
  ctx: number;
  devicePtr: number;
}

export interface DeviceFacts {
  /** Real device handle (CUdevice) the guest's device 0 stands for. */
  readonly cuDevice: number;
  readonly totalMem: number;
}

const REFUSAL_TEXT: Record<(typeof REFUSALS)[number], string> = {
  device_memory_quota: 'guest refused: device memory quota exceeded (answered CUDA_ERROR_OUT_OF_MEMORY)',
  pinned_memory_quota: 'guest refused: page-locked memory quota exceeded (answered CUDA_ERROR_OUT_OF_MEMORY)',
  unknown_op: 'guest refused: unknown op (answered CUDA_ERROR_INVALID_VALUE)',
  short_request: 'guest refused: request shorter than its struct (answered CUDA_ERROR_INVALID_VALUE)',
  bad_host_segment: 'guest refused: host memory segment not a sealed memfd of the announced size (answered CUDA_ERROR_INVALID_VALUE)',
  graph_node_limit: 'guest refused: its graphs would hold more nodes than --max-graph-nodes (answered CUDA_ERROR_OUT_OF_MEMORY)',
};

export class Session {
  readonly handles: HandleTable;
  readonly ranges = new DeviceRanges();
  /** Physical allocations, reservations and mappings of the virtual-memory API. */
  readonly vmm = new VmmTable(this.ranges);
  readonly stage: Staging;
  readonly primary: PrimaryState = { ctx: 0, retains: 0, flags: 0 };
  readonly hostSegments = new Map<number, HostSegment>();
  /** Out-parameters and small structs handed to the driver. */
  readonly out: C.NativeMemory = C.allocScratch(64 * 1024);
  /**
   * Scratch for the op families that build driver structs and arrays: the
   * launches (launch.ts: configs, attributes, kernel parameters), module loads
   * (module.ts: JIT options and logs) and 2-D copies (memory.ts). Each family
   * lays it out from offset 0 in a table of its own (LAUNCH_MEM, MODULE_MEM,
   * COPY_MEM): ops run one at a time, and none keeps anything here past its call.
   */
  readonly opMem: C.NativeMemory = C.allocScratch(64 * 1024);
  /** Node parameters, dependency arrays and node lists of graphs built node by node (proxy/ops/graph-build.ts lays it out). */
  readonly graphMem: C.NativeMemory = C.allocScratch(64 * 1024);
  readonly graphNodes: GraphNodes;
  /** The first error of asynchronous work not yet reported (a CUresult), 0 when none. */
  pendingError = 0;
  pinnedBytes = 0;
  /** Module images shared by all guests; null when turned off. */
  moduleCache: ModuleCache | null = null;
  /** The arena's page-locking and the release of its space. */
  readonly arena: ArenaRelease;
  /** Host functions on streams: the gates that hold each stream until the guest ran its function (null without a driver). */
  readonly hostFuncs: HostFuncGates | null;
  #currentCtx = 0;
  /** Per context: device memory its limits make the driver set aside (the driver frees it with the context). */
  readonly #limitBytes = new Map<number, Record<LimitKind, number>>();
  #limitTotal = 0;
  /** Threads the device holds resident at once (its thread stacks are set aside for each); 0 until asked. */
  residentThreads = 0;
  /** This guest's figures (proxy/metrics): counted here, sent to the main process by serve-guest. */
  readonly stats = new GuestStats();
  /** The log of what this guest is refused, rate-limited per kind. */
  readonly refusals: RefusalLog;

  constructor(
    readonly guestId: number,
    readonly log: Logger,
    readonly cuda: CudaDriver | null,
    readonly device: DeviceFacts | null,
    readonly region: Region,
    readonly limits: GuestLimits,
    /** The unix socket of the hand-over: host-memory descriptors arrive on it. */
    readonly sock: number,
    /** Page-lock the arena (false: vgpu-proxy --pageable-arena). */
    pinArena: boolean,
  ) {
    this.arena = new ArenaRelease(region, cuda, log, pinArena, {
      take: (bytes) => {
        if (this.pinnedBytes + bytes > limits.pinnedQuota) return false;
        this.pinnedBytes += bytes;
        return true;
      },
      give: (bytes) => {
        this.pinnedBytes -= bytes;
      },
    });
    this.hostFuncs = cuda ? new HostFuncGates(cuda, log) : null;
    this.handles = new HandleTable(limits.maxHandles);
    this.graphNodes = new GraphNodes(this.handles, limits.maxGraphNodes ?? DEFAULT_MAX_GRAPH_NODES);
    this.stage = new Staging(limits.maxImage);
    this.refusals = new RefusalLog(log, REFUSALS);
  }

  /**
   * Counts a refusal of this guest and logs it, at most a few of a kind a
   * minute (refusal-log.ts): quotas exceeded, requests a well-behaved
   * libvgpu never sends.  Numbers only, so a refusal not logged allocates
   * nothing: op, the wire op refused; amount, the bytes asked for (quotas),
   * the payload's length (short_request) or the request's sequence number;
   * want, the length its struct needs (short_request); detail, why, where
   * the kind alone does not say.
   */
  refuse(kind: number, op: number, amount: number, want = 0, detail?: string): void {
    this.stats.refused(kind);
    if (!this.refusals.admit(kind, performance.now())) return;
    const what = REFUSALS[kind]!;
    const fields: Record<string, unknown> = { refusal: what, op: W.OpName[op] ?? op };
    if (kind === Refusal.device_memory_quota) Object.assign(fields, { requested: amount, held: this.deviceBytes(), quota: this.limits.memQuota });
    else if (kind === Refusal.pinned_memory_quota) Object.assign(fields, { requested: amount, held: this.pinnedBytes, quota: this.limits.pinnedQuota });
    else if (kind === Refusal.short_request) Object.assign(fields, { payload: amount, want });
    else if (kind === Refusal.graph_node_limit) Object.assign(fields, { requested: amount, held: this.graphNodes.total, limit: this.graphNodes.limit });
    else fields.seq = amount;
    if (detail) fields.reason = detail;
    this.log.warn(fields, REFUSAL_TEXT[what]);
  }

  /** Device memory the guest holds, bytes: what counts against its quota (cuMemAlloc, cuMemCreate and context limits alike). */
  deviceBytes(): number {
    return this.ranges.allocatedBytes + this.vmm.physicalBytes + this.#limitTotal;
  }

  /** Device bytes a context's limit (cuCtxSetLimit: malloc heap, thread stacks) holds as counted, 0 when never set. */
  limitBytes(ctx: number, kind: LimitKind): number {
    return this.#limitBytes.get(ctx)?.[kind] ?? 0;
  }

  /** Counts what a context's limit now holds (after the driver took it). */
  setLimitBytes(ctx: number, kind: LimitKind, bytes: number): void {
    let held = this.#limitBytes.get(ctx);
    if (!held) this.#limitBytes.set(ctx, (held = { heap: 0, stack: 0 }));
    this.#limitTotal += bytes - held[kind];
    held[kind] = bytes;
  }

  /** Contexts with a counted limit. */
  get limitContexts(): number {
    return this.#limitBytes.size;
  }

  /** The driver, or null when this proxy runs without one (then every CUDA request fails with NO_DEVICE). */
  driver(): CudaDriver | null {
    return this.cuda;
  }

  /** Makes the guest's context id current on this thread; a CUresult. */
  useCtx(id: number): number {
    if (!this.cuda) return CUDA_ERROR_NO_DEVICE;
    if (id === this.#currentCtx && id !== 0) return CUDA_SUCCESS;
    const h = this.handles.get(id, 'ctx');
    if (!h) return CUDA_ERROR_INVALID_CONTEXT;
    const r = this.cuda.cuCtxSetCurrent(h.ptr);
    if (r === CUDA_SUCCESS) this.#currentCtx = id;
    return r;
  }

  /** Forget which context is current (after the driver changed it). */
  ctxChanged(id = 0): void {
    this.#currentCtx = id;
  }

  get currentCtx(): number {
    return this.#currentCtx;
  }

  /** The real stream behind a wire stream id, or -1 when the guest does not own one. */
  stream(id: number): number {
    if (id === W.STREAM_NULL) return 0;
    if (id === W.STREAM_LEGACY) return 1; // CU_STREAM_LEGACY
    const h = this.handles.get(id, 'stream');
    return h ? h.ptr : -1;
  }

  realHandle(id: number, kind: 'event' | 'module' | 'library' | 'function' | 'kernel' | 'graph' | 'graphExec'): number {
    const h = this.handles.get(id, kind);
    return h ? h.ptr : -1;
  }

  /**
   * Checks an arena reference {pos, len} at off in dv and returns the native
   * address of its first byte, or -1 when it does not lie inside the arena.
   * Safe to hand to the driver: the range is inside the mapped arena, which
   * stays mapped until every context of this guest is destroyed.
   */
  arenaAddr(dv: DataView, off: number, wantLen: number): number {
    const pos = dv.getUint32(off + W.ArenaRef.pos, true);
    const len = dv.getUint32(off + W.ArenaRef.len, true);
    const size = this.region.layout.arenaSize;
    const at = pos & (size - 1);
    if (len !== wantLen || len > size || at + len > size) return -1;
    this.arena.used((pos + len) >>> 0);
    return this.region.arenaAddr + at;
  }

  /** The arena bytes of a checked reference, as a view (for the proxy's own reads). */
  arenaBytes(dv: DataView, off: number): Uint8Array | null {
    const pos = dv.getUint32(off + W.ArenaRef.pos, true);
    const len = dv.getUint32(off + W.ArenaRef.len, true);
    const size = this.region.layout.arenaSize;
    const at = pos & (size - 1);
    if (len > size || at + len > size) return null;
    this.arena.used((pos + len) >>> 0);
    return this.region.arena.subarray(at, at + len);
  }

  /**
   * Host address for a vgpu_host_ref at off: arena bytes, or bytes of a
   * shared page-locked segment; -1 when out of range.
   */
  hostAddr(dv: DataView, off: number, bytes: number): number {
    const seg = dv.getUint32(off + W.HostRef.segment, true);
    if (seg === 0) return this.arenaAddr(dv, off + W.HostRef.arena, bytes);
    const s = this.hostSegments.get(seg);
    const segOff = C.readU64(dv, off + W.HostRef.offset);
    if (!s || !Number.isSafeInteger(segOff) || segOff + bytes > s.bytes) return -1;
    return s.addr + segOff;
  }

  /** Publishes how far the guest may reuse the arena, after each request; true when it moved. */
  publishArena(): boolean {
    return this.arena.publish();
  }

  /** Records an error of asynchronous work, to be reported at the next synchronising call. */
  deferError(result: number): void {
    if (this.pendingError === 0) this.pendingError = result;
  }

  /**
   * After the driver unloaded module or library `id`: forgets what came from
   * it (functions, kernels, a library's modules and theirs, globals), which
   * the driver destroyed with it.  A stale id would hand the driver a freed
   * handle, a stale global range a freed device address.
   */
  forgetUnloaded(id: number): void {
    this.ranges.dropOwner(id);
    // Each level is a module or library's children: at most library -> module -> function.
    for (const child of this.handles.dropChildren(id)) this.forgetUnloaded(child);
  }

  /** Destroys a context the guest held and forgets everything that lived in it. */
  destroyContext(id: number): number {
    const h = this.handles.get(id, 'ctx');
    if (!h) return CUDA_ERROR_INVALID_HANDLE;
    const cuda = this.cuda;
    if (!cuda) return CUDA_ERROR_NO_DEVICE;
    // Held arena copies are waited for first: their events, and perhaps the arena's registration, die with the context.
    this.arena.forgetContext(id);
    // Streams held at a host function would keep the destroy waiting for ever: their gates open.
    this.hostFuncs?.openAll(id);
    // The context goes first: destroying it waits for its work, so no copy reads a segment we unmap after.
    const r = cuda.cuCtxDestroy_v2(h.ptr);
    for (const [segId, seg] of [...this.hostSegments]) {
      if (seg.ctx === id) this.releaseSegment(segId, false);
    }
    // Executable graphs go with their context: the nodes they held count no more.
    for (const gone of this.handles.dropContext(id)) this.graphNodes.release(gone);
    this.ranges.dropContext(id);
    const limits = this.#limitBytes.get(id);
    if (limits) this.#limitTotal -= limits.heap + limits.stack;
    this.#limitBytes.delete(id);
    this.handles.delete(id);
    if (this.#currentCtx === id) this.#currentCtx = 0;
    return r;
  }

  /** Unmaps a host segment (after unregistering it from its context when still alive). */
  releaseSegment(id: number, unregister: boolean): void {
    const seg = this.hostSegments.get(id);
    if (!seg) return;
    if (unregister && this.cuda && this.useCtx(seg.ctx) === CUDA_SUCCESS) this.cuda.cuMemHostUnregister(seg.addr);
    if (seg.devicePtr) this.ranges.remove(seg.devicePtr);
    C.munmap(seg.addr, seg.bytes);
    C.close(seg.fd);
    this.pinnedBytes -= seg.bytes;
    this.hostSegments.delete(id);
    this.handles.delete(id);
  }

  /**
   * Releases everything the guest held: contexts (and with them all GPU work
   * and memory), virtual-memory mappings, allocations and reservations,
   * libraries, segments.
   */
  releaseAll(): ReleaseCounts {
    const counts = this.#releaseHeld();
    this.arena.close();
    this.stage.release();
    C.munmap(this.out.addr, this.out.size);
    C.munmap(this.opMem.addr, this.opMem.size);
    C.munmap(this.graphMem.addr, this.graphMem.size);
    return counts;
  }

  /**
   * Releases everything the guest held exactly as releaseAll() does, but
   * keeps the session's own memory and returns its bookkeeping to that of a
   * new session on the same region (handle ids from the first, no primary
   * context, nothing pending, scratch zeroed).  The real proxy builds a
   * session per guest and never calls this; test/fuzz/proxy renews one
   * between inputs, and compares what it can see with a new session's.
   */
  renew(): ReleaseCounts {
    const counts = this.#releaseHeld();
    this.arena.reset();
    this.stage.release();
    this.handles.clear();
    this.graphNodes.clear();
    this.primary.ctx = 0;
    this.primary.retains = 0;
    this.primary.flags = 0;
    this.pendingError = 0;
    this.#currentCtx = 0;
    this.residentThreads = 0;
    this.out.u8.fill(0);
    this.opMem.u8.fill(0);
    this.graphMem.u8.fill(0);
    return counts;
  }

  #releaseHeld(): ReleaseCounts {
    const counts = { contexts: 0, libraries: 0, segments: 0, vmm_mappings: 0, vmm_allocations: 0, vmm_reservations: 0, device_bytes: this.deviceBytes() };
    const cuda = this.cuda;
    if (cuda) {
      // The guest runs no more host functions: every stream waiting for one goes on.
      this.hostFuncs?.openAll();
      // Contexts first: destroying them waits for their GPU work, so no copy still reads shared memory after.
      for (const [id] of [...this.handles.entries('ctx')]) {
        const r = this.destroyContext(id);
        if (r !== CUDA_SUCCESS) this.log.warn({ ctx: id, result: r }, 'context destroy failed during guest cleanup');
        counts.contexts++;
      }
      // Virtual memory belongs to no context: unmapped, released and freed here, in that order.
      const vmm = this.vmm.takeAll();
      for (const m of vmm.mappings) {
        const r = cuda.cuMemUnmap(m.start, m.end - m.start);
        if (r !== CUDA_SUCCESS) this.log.warn({ result: r, bytes: m.end - m.start }, 'cuMemUnmap failed during guest cleanup');
      }
      for (const a of vmm.referenced) {
        const r = cuda.cuMemRelease(a.real);
        if (r !== CUDA_SUCCESS) this.log.warn({ result: r, bytes: a.bytes }, 'cuMemRelease failed during guest cleanup');
      }
      for (const res of vmm.reservations) {
        const r = cuda.cuMemAddressFree(res.start, res.end - res.start);
        if (r !== CUDA_SUCCESS) this.log.warn({ result: r, bytes: res.end - res.start }, 'cuMemAddressFree failed during guest cleanup');
      }
      counts.vmm_mappings = vmm.mappings.length;
      counts.vmm_allocations = vmm.referenced.length;
      counts.vmm_reservations = vmm.reservations.length;
      // Graphs belong to no context: destroyed here (executable graphs went with their contexts).
      for (const [id, h] of [...this.handles.entries('graph')]) {
        cuda.cuGraphDestroy(h.ptr);
        this.handles.delete(id);
      }
      for (const [id, h] of [...this.handles.entries('library')]) {
        cuda.cuLibraryUnload(h.ptr);
        this.handles.delete(id);
        counts.libraries++;
      }
    }
    for (const id of [...this.hostSegments.keys()]) {
      this.releaseSegment(id, false);
      counts.segments++;
    }
    this.hostFuncs?.close();
    return counts;
  }
}
