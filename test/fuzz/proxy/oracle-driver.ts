// A stand-in for libcuda.so.1 that checks what the proxy hands it.
//
// Why it exists: the fuzz targets run the real request path of vgpu-proxy
// (rings, ops, Session, ServeLoop) on a machine without a GPU, where the real
// driver cannot run; without a driver almost every op stops at
// CUDA_ERROR_NO_DEVICE.  This is not a mock of results: it is a CHECKING
// ORACLE.  It keeps its own model of what each guest owns and throws an
// OracleViolation (a crash to the fuzzer) whenever the proxy hands it
// something a hostile guest must never achieve.
//
// What it checks, per call, against the guest the harness says is being
// served (`caller`; each guest has a thread or process of its own in the real
// proxy, so the current context is kept per guest, as the driver keeps it
// per thread):
// - every handle (context, stream, event, module, function, library, kernel,
//   graph, executable graph, physical allocation) was handed out by this
//   driver, is still alive (never destroyed/unloaded/freed, nor died with its
//   context or library), and belongs to the caller;
// - every device range of a copy, memset or 2-D copy lies in live device
//   memory the caller owns (cuMemAlloc*, module/library globals, device
//   pointers of its mapped host memory, its cuMemMap mappings);
// - every host range the driver reads or writes lies inside memory the
//   proxy legitimately hands: the caller's arena or host segments for copies,
//   its staging buffer for images, its scratch (`out`, `opMem`) for
//   out-parameters and structs; never another guest's memory, never the
//   shared arena for out-parameters; host pointers it cannot attribute
//   (private bounce buffers, the arena's event slot, the host-function page)
//   are at least non-null and clear of every guest's memory;
// - lengths are integers in [0, 2^48]; nothing is freed, released,
//   unregistered or destroyed twice;
// - the guest's device bytes (cuMemAlloc* + cuMemCreate) never exceed its
//   quota (a pitched allocation may pass it for the moment between the
//   driver call and the proxy's immediate free, which is what memory.ts does);
// - the arena and host segments are registered in the guest's own context,
//   never PORTABLE;
// - after the guest's session is released, nothing of it is left
//   (assertReleased).
// What it cannot check: the bytes a kernel would touch (kernel parameters
// are opaque, as for the proxy), the driver's own answers to unusual
// arguments (it answers plainly), timing and real DMA concurrency.
//
// Out-parameters are written to the native memory the proxy passes, through
// the session's own views when the address is in them, else koffi.view.
import koffi from 'koffi';
import type { CudaDriver } from '../../../proxy/native/cuda.js';
import * as C from '../../../proxy/native/libc.js';
import * as A from '../../../proxy/wire/cuda-abi.js';
import type { Session } from '../../../proxy/guest/session.js';

export class OracleViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OracleViolation';
  }
}

const SUCCESS = 0;
const INVALID_VALUE = 1;
const OUT_OF_MEMORY = 2;
const INVALID_CONTEXT = 201;
const INVALID_HANDLE = 400;
const ILLEGAL_STATE = 401;
const NOT_FOUND = 500;
const ALREADY_REGISTERED = 712;
const NOT_SUPPORTED = 801;

const LEN_MAX = 2 ** 48;
const PORTABLE = 0x1;
const DEVICEMAP = 0x2;
/** Device memory kept byte for byte (the bystander compares it); larger ranges read as zeros. */
const BACKED_MAX = 4 << 20;
const GUARD = 1 << 16;
export const ORACLE_DEVICE = 0;
export const ORACLE_TOTAL_MEM = 80 * 2 ** 30;
const LIMIT_STACK = 0;
const LIMIT_HEAP = 2;
/** The most stack a thread can have (proxy/ops/context.ts bounds CU_LIMIT_STACK_SIZE to it). */
const STACK_MAX = 512 * 1024;
/** Resident threads as this driver's attributes say: 16 (multiprocessors) * 3 times 39 (threads per multiprocessor) * 3. */
const RESIDENT_THREADS = 48 * 117;
/** The proxy's own device pages (host-function counters), outside every guest's space. */
const PROXY_VA = 0x7000_0000_0000;

type Kind = 'ctx' | 'stream' | 'event' | 'module' | 'function' | 'library' | 'kernel' | 'graph' | 'graphExec' | 'graphNode' | 'vmm';

interface Obj {
  readonly kind: Kind;
  readonly guest: number;
  /** Context it lives in (0: context-free). */
  readonly ctx: number;
  /** Module or library it came from (0: none). */
  readonly parent: number;
  capturing?: boolean;
  /** A stream capturing into an existing graph: that graph. */
  captureInto?: number;
  /** vmm: bytes, driver references, mappings. */
  bytes?: number;
  refs?: number;
  maps?: number;
  /** library modules: the library module per context */
  libModules?: Map<number, number>;
}

interface DevRange {
  readonly start: number;
  readonly end: number;
  readonly guest: number;
  readonly kind: 'alloc' | 'global' | 'hostmem' | 'vmm';
  readonly ctx: number;
  /** module or library of a global; vmm handle of a mapping */
  readonly owner: number;
  data: Uint8Array | null;
}

interface Reservation { readonly start: number; readonly end: number; readonly guest: number }

interface Registration {
  readonly addr: number;
  readonly bytes: number;
  readonly flags: number;
  readonly guest: number;
  readonly ctx: number;
  readonly dev: number;
}

interface GuestModel {
  readonly id: number;
  readonly quota: number;
  readonly vaBase: number;
  session: Session | null;
  current: number;
  deviceBytes: number;
  nextVa: number;
  /** Touches of this guest's objects by another guest (must stay 0). */
  touchedByOthers: number;
}

type N = number | bigint;

/** A JS number for an argument; bigints above 2^53 keep their size (imprecisely), enough for range checks. */
function n(x: N): number {
  return typeof x === 'bigint' ? Number(x) : x;
}

export class OracleDriver {
  readonly #objs = new Map<number, Obj>();
  readonly #dead = new Map<number, string>();
  readonly #ranges: DevRange[] = [];
  readonly #reservations: Reservation[] = [];
  readonly #regs: Registration[] = [];
  /** Per context: device bytes its malloc heap and thread stacks hold (cuCtxSetLimit). */
  readonly #limits = new Map<number, { heap: number; stack: number }>();
  readonly #guests = new Map<number, GuestModel>();
  readonly #strings: { addr: number; size: number; u8: Uint8Array };
  #nextHandle = 0x1000;
  #proxyVa = PROXY_VA;
  /** A pitched allocation over the quota, which must be freed by the very next call. */
  #overQuota = 0;
  /** The guest being served now (its thread, in the real proxy). */
  caller = 0;
  calls = 0;

  constructor() {
    const mem = koffi.alloc('uint8_t', 4096);
    const addr = Number(koffi.address(mem));
    const u8 = new Uint8Array(koffi.view(mem, 4096));
    u8.set(Buffer.from('CUDA_ORACLE\0'), 0);
    this.#strings = { addr, size: 4096, u8 };
    this.#keep = mem;
  }

  readonly #keep: unknown;

  addGuest(id: number, quota: number, vaBase: number): void {
    this.#guests.set(id, { id, quota, vaBase, session: null, current: 0, deviceBytes: 0, nextVa: vaBase, touchedByOthers: 0 });
  }

  attach(id: number, session: Session | null): void {
    this.#g(id).session = session;
  }

  deviceBytes(id: number): number {
    return this.#g(id).deviceBytes;
  }

  touchedByOthers(id: number): number {
    return this.#g(id).touchedByOthers;
  }

  #g(id: number): GuestModel {
    const g = this.#guests.get(id);
    if (!g) throw new OracleViolation(`call for unknown guest ${id}`);
    return g;
  }

  /**
   * The first violation, kept: the serve loop turns an exception of an op
   * handler into CUDA_ERROR_UNKNOWN, so the harness looks here after serving.
   */
  violation: OracleViolation | null = null;

  #fail(msg: string): never {
    const v = new OracleViolation(`guest ${this.caller}: ${msg}`);
    this.violation ??= v;
    throw v;
  }

  // --- argument and memory checks ---

  #len(x: N, what: string): number {
    const v = n(x);
    if (typeof x === 'number' && !Number.isInteger(x)) this.#fail(`${what} ${x} is not an integer`);
    if (v < 0 || v > LEN_MAX) this.#fail(`${what} ${x} outside [0, 2^48]`);
    return v;
  }

  #uint(x: N, what: string): number {
    if (typeof x === 'number' && (!Number.isInteger(x) || x < 0 || x >= 2 ** 64)) this.#fail(`${what} ${x} is not an unsigned 64-bit integer`);
    if (typeof x === 'bigint' && (x < 0n || x >= 1n << 64n)) this.#fail(`${what} ${x} is not an unsigned 64-bit integer`);
    return n(x);
  }

  #obj(h: N, kind: Kind | Kind[], what: string): Obj {
    const id = n(h);
    const o = this.#objs.get(id);
    if (!o) {
      const dead = this.#dead.get(id);
      this.#fail(dead ? `${what}: ${kind} 0x${id.toString(16)} used after it was ${dead}` : `${what}: handle 0x${id.toString(16)} was never handed out`);
    }
    const kinds = Array.isArray(kind) ? kind : [kind];
    if (!kinds.includes(o.kind)) this.#fail(`${what}: handle 0x${id.toString(16)} is a ${o.kind}, not a ${kinds.join('/')}`);
    if (o.guest !== this.caller) {
      this.#g(o.guest).touchedByOthers++;
      this.#fail(`${what}: ${o.kind} 0x${id.toString(16)} belongs to guest ${o.guest}`);
    }
    return o;
  }

  #stream(s: N, what: string): number {
    const v = n(s);
    if (v === 0 || v === 1 || v === 2) return v;
    this.#obj(v, 'stream', what);
    return v;
  }

  #new(kind: Kind, ctx: number, parent = 0, extra: Partial<Obj> = {}): number {
    const id = this.#nextHandle;
    this.#nextHandle += 0x10;
    this.#objs.set(id, { kind, guest: this.caller, ctx, parent, ...extra });
    return id;
  }

  #kill(id: number, why: string): void {
    const o = this.#objs.get(id);
    if (!o) return;
    this.#objs.delete(id);
    this.#dead.set(id, why);
    if (o.kind === 'graph') {
      for (const [cid, c] of [...this.#objs]) if (c.kind === 'graphNode' && c.parent === id) this.#kill(cid, `${why} with its graph`);
    }
    if (o.kind === 'module' || o.kind === 'library') {
      for (const [cid, c] of [...this.#objs]) if (c.parent === id) this.#kill(cid, `${why} with its ${o.kind}`);
      this.#dropRanges((r) => r.kind === 'global' && r.owner === id);
    }
  }

  #dropRanges(pred: (r: DevRange) => boolean): void {
    for (let i = this.#ranges.length - 1; i >= 0; i--) {
      const r = this.#ranges[i]!;
      if (!pred(r)) continue;
      this.#ranges.splice(i, 1);
      if (r.kind === 'alloc') this.#g(r.guest).deviceBytes -= r.end - r.start;
    }
  }

  /** Current context of the caller (0: none). */
  #ctx(): number {
    return this.#g(this.caller).current;
  }

  #va(bytes: number, align = 512): number {
    const g = this.#g(this.caller);
    const start = Math.ceil(g.nextVa / align) * align;
    g.nextVa = start + bytes + GUARD;
    return start;
  }

  /** The caller's device range covering [addr, addr + bytes): walks adjacent owned ranges; throws when any byte is not the caller's. */
  #device(addr: N, bytes: N, what: string): { r: DevRange; off: number } | null {
    const a = this.#uint(addr, `${what} device address`);
    const len = this.#len(bytes, `${what} length`);
    let at = a;
    const end = a + len;
    let first: { r: DevRange; off: number } | null = null;
    if (len === 0) {
      // No byte is touched: the address may also be one past the end of a range the caller owns (device-ranges.ts covers()).
      const r = this.#ranges.find((x) => x.start <= a && a <= x.end && x.guest === this.caller);
      if (r) return { r, off: a - r.start };
    }
    do {
      const r = this.#ranges.find((x) => x.start <= at && at < x.end);
      if (!r) this.#fail(`${what}: device range [0x${a.toString(16)}, +${len}) is not live device memory (byte 0x${at.toString(16)})`);
      if (r.guest !== this.caller) {
        this.#g(r.guest).touchedByOthers++;
        this.#fail(`${what}: device range [0x${a.toString(16)}, +${len}) reaches guest ${r.guest}'s memory`);
      }
      if (r.kind === 'alloc' || r.kind === 'global' || r.kind === 'hostmem') {
        // allocations of a destroyed context died with it (#dropRanges); nothing else to check
      }
      first ??= { r, off: at - r.start };
      at = r.end;
    } while (at < end);
    return first;
  }

  /** Known host memory of every guest: [start, end, owner, what]. */
  *#hostBlocks(): Generator<[number, number, number, string]> {
    for (const g of this.#guests.values()) {
      const s = g.session;
      if (!s) continue;
      yield [s.region.arenaAddr, s.region.arenaAddr + s.region.layout.arenaSize, g.id, 'arena'];
      yield [s.region.mem.addr, s.region.arenaAddr, g.id, 'rings'];
      yield [s.out.addr, s.out.addr + s.out.size, g.id, 'out'];
      yield [s.opMem.addr, s.opMem.addr + s.opMem.size, g.id, 'opMem'];
      if (s.stage.addr) yield [s.stage.addr, s.stage.addr + Math.max(s.stage.length + 1, 1), g.id, 'stage'];
      for (const seg of s.hostSegments.values()) yield [seg.addr, seg.addr + seg.bytes, g.id, 'segment'];
    }
  }

  /**
   * Checks a host range the driver will touch; `allowed` names the caller's
   * blocks it may lie in.  Returns the bytes (a view), or null for a length
   * of 0.
   */
  #host(addr: N, bytes: N, allowed: readonly string[], what: string): Uint8Array | null {
    const a = this.#uint(addr, `${what} host address`);
    const len = this.#len(bytes, `${what} length`);
    if (a < 65536) this.#fail(`${what}: host address 0x${a.toString(16)} is null or near it`);
    const end = a + len;
    for (const [start, stop, owner, name] of this.#hostBlocks()) {
      if (end <= start || a >= stop) continue;
      if (owner !== this.caller) {
        this.#g(owner).touchedByOthers++;
        this.#fail(`${what}: host range [0x${a.toString(16)}, +${len}) reaches guest ${owner}'s ${name}`);
      }
      if (a < start || end > stop) this.#fail(`${what}: host range [0x${a.toString(16)}, +${len}) crosses the end of the guest's ${name}`);
      if (!allowed.includes(name)) this.#fail(`${what}: host range lies in the guest's ${name}, which the driver must not touch here`);
      return len === 0 ? null : this.#view(a, len, name === 'arena' ? s_arena(this.#g(owner).session!, a, len) : null);
    }
    // Not attributable: private memory of the proxy (bounce buffers, event slots, the host-function page).
    return len === 0 ? null : this.#view(a, len, null);
  }

  #view(addr: number, len: number, known: Uint8Array | null): Uint8Array {
    if (known) return known;
    return new Uint8Array(koffi.view(BigInt(addr), len));
  }

  /** A DataView on an out-parameter of `bytes` bytes at addr (in the caller's scratch or private memory). */
  #out(addr: N, bytes: number, what: string): DataView {
    const a = this.#uint(addr, `${what} out-parameter`);
    const s = this.#g(this.caller).session;
    if (s && a >= s.out.addr && a + bytes <= s.out.addr + s.out.size) return new DataView(s.out.u8.buffer, a - s.out.addr, bytes);
    if (s && a >= s.opMem.addr && a + bytes <= s.opMem.addr + s.opMem.size) return new DataView(s.opMem.u8.buffer, a - s.opMem.addr, bytes);
    const u8 = this.#host(a, bytes, [], what)!;
    return new DataView(u8.buffer, u8.byteOffset, bytes);
  }

  #w64(addr: N, v: number | bigint, what: string): void {
    this.#out(addr, 8, what).setBigUint64(0, BigInt(v), true);
  }

  #w32(addr: N, v: number, what: string): void {
    this.#out(addr, 4, what).setInt32(0, v | 0, true);
  }

  /** A struct the proxy built for the driver: must lie in the caller's scratch. */
  #struct(addr: N, bytes: number, what: string): DataView {
    const a = this.#uint(addr, `${what} struct`);
    const s = this.#g(this.caller).session;
    if (!s) this.#fail(`${what}: no session`);
    for (const m of [s.out, s.opMem, s.graphMem]) {
      if (a >= m.addr && a + bytes <= m.addr + m.size) return new DataView(m.u8.buffer, a - m.addr, bytes);
    }
    return this.#fail(`${what}: struct at 0x${a.toString(16)} is not in the proxy's scratch of this guest`);
  }

  #cstring(addr: N, what: string): string {
    const dv = this.#struct(addr, 1, what);
    const u8 = new Uint8Array(dv.buffer, dv.byteOffset, Math.min(4097, dv.buffer.byteLength - dv.byteOffset));
    const end = u8.indexOf(0);
    if (end < 0) this.#fail(`${what}: name not NUL-terminated within 4096 bytes`);
    return Buffer.from(u8.subarray(0, end)).toString('latin1');
  }

  #step(): void {
    this.calls++;
    if (this.#overQuota) this.#fail(`device memory over quota, and the next call is not the free of 0x${this.#overQuota.toString(16)}`);
  }

  #quota(dptr: number, pitched: boolean): void {
    const g = this.#g(this.caller);
    if (g.deviceBytes <= g.quota) return;
    if (!pitched) this.#fail(`device bytes ${g.deviceBytes} over the quota ${g.quota}`);
    this.#overQuota = dptr;
  }

  #addAlloc(bytes: number, kind: 'alloc' | 'global' | 'hostmem' | 'vmm', ctx: number, owner: number, at?: number): number {
    const start = at ?? this.#va(Math.max(bytes, 1));
    const r: DevRange = { start, end: start + bytes, guest: this.caller, kind, ctx, owner, data: null };
    this.#ranges.push(r);
    if (kind === 'alloc') this.#g(this.caller).deviceBytes += bytes;
    return start;
  }

  // --- device memory contents ---

  #devWrite(addr: number, src: Uint8Array | null, len: number, fill?: (u8: Uint8Array) => void): void {
    const hit = this.#ranges.find((x) => x.start <= addr && addr < x.end);
    if (!hit || hit.end - hit.start > BACKED_MAX || addr + len > hit.end) return;
    hit.data ??= new Uint8Array(hit.end - hit.start);
    const dst = hit.data.subarray(addr - hit.start, addr - hit.start + len);
    if (fill) fill(dst);
    else if (src) dst.set(src.subarray(0, len));
  }

  #devRead(addr: number, dst: Uint8Array | null, len: number): void {
    if (!dst) return;
    const hit = this.#ranges.find((x) => x.start <= addr && addr < x.end);
    if (!hit || !hit.data || addr + len > hit.end) {
      dst.fill(0, 0, len);
      return;
    }
    dst.set(hit.data.subarray(addr - hit.start, addr - hit.start + len));
  }

  // --- teardown checks ---

  /** After the guest's session was released: nothing of it may remain. */
  assertReleased(id: number): void {
    const g = this.#g(id);
    const left: string[] = [];
    for (const [h, o] of this.#objs) if (o.guest === id) left.push(`${o.kind} 0x${h.toString(16)}`);
    for (const r of this.#ranges) if (r.guest === id) left.push(`${r.kind} range 0x${r.start.toString(16)}+${r.end - r.start}`);
    for (const r of this.#reservations) if (r.guest === id) left.push(`reservation 0x${r.start.toString(16)}`);
    for (const r of this.#regs) if (r.guest === id) left.push(`host registration 0x${r.addr.toString(16)}+${r.bytes}`);
    if (left.length > 0 || g.deviceBytes !== 0) {
      throw new OracleViolation(`guest ${id} released, but the driver still holds ${g.deviceBytes} device bytes and: ${left.slice(0, 8).join(', ')}${left.length > 8 ? ` (+${left.length - 8})` : ''}`);
    }
  }

  /** Forgets a released guest's history, so the next input starts from the same state. */
  resetGuest(id: number): void {
    const g = this.#g(id);
    g.current = 0;
    g.nextVa = g.vaBase;
    g.deviceBytes = 0;
    g.session = null;
    this.#overQuota = 0;
    this.#dead.clear();
  }

  // --- the driver API ---

  asDriver(): CudaDriver {
    const d = {
      path: 'oracle',
      cuInit: () => SUCCESS,
      cuDriverGetVersion: (v: N) => { this.#step(); this.#w32(v, 13000, 'cuDriverGetVersion'); return SUCCESS; },
      cuDeviceGet: (dev: N) => { this.#w32(dev, ORACLE_DEVICE, 'cuDeviceGet'); return SUCCESS; },
      cuDeviceGetCount: (c: N) => { this.#w32(c, 1, 'cuDeviceGetCount'); return SUCCESS; },
      cuDeviceGetName: (name: N, len: N, dev: N) => {
        this.#step();
        this.#dev(dev);
        const dv = this.#out(name, this.#len(len, 'name length'), 'cuDeviceGetName');
        const text = Buffer.from('Oracle GPU\0');
        new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength).set(text.subarray(0, Math.min(text.length, dv.byteLength)));
        return SUCCESS;
      },
      cuDeviceGetUuid_v2: (uuid: N, dev: N) => { this.#step(); this.#dev(dev); this.#out(uuid, 16, 'uuid'); return SUCCESS; },
      cuDeviceTotalMem_v2: (b: N, dev: N) => { this.#dev(dev); this.#w64(b, ORACLE_TOTAL_MEM, 'totalMem'); return SUCCESS; },
      cuDeviceGetAttribute: (v: N, a: N, dev: N) => { this.#step(); this.#dev(dev); this.#w32(v, n(a) * 3, 'attribute'); return n(a) < 150 ? SUCCESS : INVALID_VALUE; },
      cuDeviceGetPCIBusId: (id: N, len: N, dev: N) => {
        this.#step();
        this.#dev(dev);
        const dv = this.#out(id, this.#len(len, 'bus id length'), 'cuDeviceGetPCIBusId');
        new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength).set(Buffer.from('0000:00:00.0\0').subarray(0, dv.byteLength));
        return SUCCESS;
      },
      cuGetErrorName: (e: N, str: N) => this.#errorString(e, str),
      cuGetErrorString: (e: N, str: N) => this.#errorString(e, str),
      cuDevicePrimaryCtxRetain: () => this.#fail('the real primary context must never be used for a guest'),

      cuCtxCreate_v4: (pctx: N, params: N, flags: N, dev: N) => {
        this.#step();
        if (n(params) !== 0) this.#fail('cuCtxCreate_v4 with creation parameters (pointers) from the guest');
        this.#dev(dev);
        this.#uint(flags, 'ctx flags');
        const id = this.#new('ctx', 0);
        this.#g(this.caller).current = id;
        this.#w64(pctx, id, 'cuCtxCreate');
        return SUCCESS;
      },
      cuCtxDestroy_v2: (ctx: N) => {
        this.#step();
        const id = n(ctx);
        this.#obj(id, 'ctx', 'cuCtxDestroy');
        this.#killContext(id);
        return SUCCESS;
      },
      cuCtxSetCurrent: (ctx: N) => {
        this.#step();
        const id = n(ctx);
        if (id !== 0) this.#obj(id, 'ctx', 'cuCtxSetCurrent');
        this.#g(this.caller).current = id;
        return SUCCESS;
      },
      cuCtxSynchronize: () => this.#needCtx(),
      cuCtxSetFlags: (f: N) => { this.#uint(f, 'flags'); return this.#needCtx(); },
      cuCtxGetFlags: (f: N) => { const r = this.#needCtx(); if (r === SUCCESS) this.#w32(f, 8, 'flags'); return r; },
      // A limit is a driver setting, not a memory range: any size_t (the driver judges it); but the
      // malloc heap and the thread stacks are device memory set aside for the context, counted in
      // the guest's device bytes (its quota) until lowered or the context goes.
      cuCtxSetLimit: (l: N, v: N) => {
        const value = this.#uint(v, 'limit value');
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        const limit = n(l);
        if (limit !== LIMIT_STACK && limit !== LIMIT_HEAP) return SUCCESS;
        if (limit === LIMIT_STACK && value > STACK_MAX) this.#fail(`a thread stack of ${value} bytes (at most ${STACK_MAX})`);
        const key = limit === LIMIT_STACK ? 'stack' : 'heap';
        const bytes = limit === LIMIT_STACK ? value * RESIDENT_THREADS : value;
        const ctx = this.#ctx();
        const held = this.#limits.get(ctx) ?? { heap: 0, stack: 0 };
        this.#g(this.caller).deviceBytes += bytes - held[key];
        held[key] = bytes;
        this.#limits.set(ctx, held);
        this.#quota(0, false);
        return SUCCESS;
      },
      cuCtxGetLimit: (v: N) => { const r = this.#needCtx(); if (r === SUCCESS) this.#w64(v, 1024, 'limit'); return r; },
      cuCtxGetId: (ctx: N, id: N) => { this.#step(); this.#obj(ctx, 'ctx', 'cuCtxGetId'); this.#w64(id, n(ctx), 'ctx id'); return SUCCESS; },
      cuCtxGetApiVersion: (ctx: N, v: N) => { this.#step(); this.#obj(ctx, 'ctx', 'cuCtxGetApiVersion'); this.#w32(v, 3020, 'api version'); return SUCCESS; },
      cuCtxGetStreamPriorityRange: (a: N, b: N) => { const r = this.#needCtx(); if (r === SUCCESS) { this.#w32(a, 0, 'least'); this.#w32(b, -5, 'greatest'); } return r; },
      cuCtxGetCacheConfig: (c: N) => { const r = this.#needCtx(); if (r === SUCCESS) this.#w32(c, 0, 'cache config'); return r; },
      cuCtxSetCacheConfig: () => this.#needCtx(),

      cuMemAlloc_v2: (dptr: N, bytes: N) => this.#alloc(dptr, bytes, 0, false),
      cuMemAllocPitch_v2: (dptr: N, pitch: N, width: N, height: N, elem: N) => {
        this.#step();
        const w = this.#len(width, 'pitch width');
        const h = this.#len(height, 'pitch height');
        const e = n(elem);
        if (e !== 4 && e !== 8 && e !== 16) return INVALID_VALUE;
        if (w === 0 || h === 0) return INVALID_VALUE;
        const p = Math.ceil(w / 512) * 512;
        this.#w64(pitch, p, 'pitch');
        return this.#alloc(dptr, p * h, 0, true);
      },
      cuMemFree_v2: (dptr: N) => this.#free(dptr),
      cuMemGetInfo_v2: (free: N, total: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#w64(free, ORACLE_TOTAL_MEM / 2, 'free');
        this.#w64(total, ORACLE_TOTAL_MEM, 'total');
        return SUCCESS;
      },
      cuMemAllocAsync: (dptr: N, bytes: N, stream: N) => { this.#stream(stream, 'cuMemAllocAsync'); return this.#alloc(dptr, bytes, 0, false); },
      cuMemFreeAsync: (dptr: N, stream: N) => { this.#stream(stream, 'cuMemFreeAsync'); return this.#free(dptr); },
      cuMemcpyHtoD_v2: (dst: N, src: N, bytes: N) => this.#htod(dst, src, bytes, 0),
      cuMemcpyDtoH_v2: (dst: N, src: N, bytes: N) => this.#dtoh(dst, src, bytes, 0),
      cuMemcpyDtoD_v2: (dst: N, src: N, bytes: N) => this.#dtod(dst, src, bytes, 0),
      cuMemcpyHtoDAsync_v2: (dst: N, src: N, bytes: N, st: N) => this.#htod(dst, src, bytes, st),
      cuMemcpyDtoHAsync_v2: (dst: N, src: N, bytes: N, st: N) => this.#dtoh(dst, src, bytes, st),
      cuMemcpyDtoDAsync_v2: (dst: N, src: N, bytes: N, st: N) => this.#dtod(dst, src, bytes, st),
      cuMemcpy2D_v2: (copy: N) => this.#copy2d(copy, 0),
      cuMemcpy2DAsync_v2: (copy: N, st: N) => this.#copy2d(copy, st),
      cuMemsetD8Async: (dst: N, v: N, count: N, st: N) => this.#memset(dst, 0, v, count, 1, 1, st),
      cuMemsetD16Async: (dst: N, v: N, count: N, st: N) => this.#memset(dst, 0, v, count, 1, 2, st),
      cuMemsetD32Async: (dst: N, v: N, count: N, st: N) => this.#memset(dst, 0, v, count, 1, 4, st),
      cuMemsetD2D8Async: (dst: N, pitch: N, v: N, w: N, h: N, st: N) => this.#memset(dst, pitch, v, w, h, 1, st),
      cuMemsetD2D16Async: (dst: N, pitch: N, v: N, w: N, h: N, st: N) => this.#memset(dst, pitch, v, w, h, 2, st),
      cuMemsetD2D32Async: (dst: N, pitch: N, v: N, w: N, h: N, st: N) => this.#memset(dst, pitch, v, w, h, 4, st),

      cuMemGetAllocationGranularity: (gran: N, prop: N, _opt: N) => {
        this.#step();
        this.#checkProp(prop);
        this.#w64(gran, 2 << 20, 'granularity');
        return SUCCESS;
      },
      cuMemCreate: (handle: N, size: N, prop: N, flags: N) => {
        this.#step();
        const bytes = this.#len(size, 'cuMemCreate size');
        this.#checkProp(prop);
        if (n(flags) !== 0) return INVALID_VALUE;
        if (bytes === 0 || bytes % (2 << 20) !== 0) return INVALID_VALUE;
        const id = this.#new('vmm', 0, 0, { bytes, refs: 1, maps: 0 });
        this.#g(this.caller).deviceBytes += bytes;
        this.#quota(id, false);
        this.#w64(handle, id, 'cuMemCreate');
        return SUCCESS;
      },
      cuMemRelease: (handle: N) => {
        this.#step();
        const o = this.#obj(handle, 'vmm', 'cuMemRelease');
        if (o.refs! <= 0) this.#fail(`cuMemRelease of 0x${n(handle).toString(16)}: released more often than created/retained`);
        o.refs!--;
        this.#vmmGone(n(handle), o);
        return SUCCESS;
      },
      cuMemAddressReserve: (ptr: N, size: N, align: N, _addr: N, flags: N) => {
        this.#step();
        const bytes = this.#len(size, 'reserve size');
        // An alignment is the driver's to judge (a power of two it can honour), not a range: any size_t.
        const al = this.#uint(align, 'reserve alignment');
        if (n(flags) !== 0 || bytes === 0 || bytes % (2 << 20) !== 0) return INVALID_VALUE;
        if (al !== 0 && (al > 2 ** 40 || (al & (al - 1)) !== 0)) return INVALID_VALUE;
        const start = this.#va(bytes, Math.max(al, 2 << 20));
        this.#reservations.push({ start, end: start + bytes, guest: this.caller });
        this.#w64(ptr, start, 'cuMemAddressReserve');
        return SUCCESS;
      },
      cuMemAddressFree: (ptr: N, size: N) => {
        this.#step();
        const a = n(ptr);
        const bytes = this.#len(size, 'address free size');
        const i = this.#reservations.findIndex((r) => r.start === a);
        if (i < 0) this.#fail(`cuMemAddressFree of 0x${a.toString(16)}: not a reservation (freed twice or never reserved)`);
        const r = this.#reservations[i]!;
        if (r.guest !== this.caller) this.#fail(`cuMemAddressFree: reservation of guest ${r.guest}`);
        if (r.end - r.start !== bytes) return INVALID_VALUE;
        if (this.#ranges.some((m) => m.kind === 'vmm' && m.start < r.end && m.end > r.start)) return INVALID_VALUE;
        this.#reservations.splice(i, 1);
        return SUCCESS;
      },
      cuMemMap: (ptr: N, size: N, offset: N, handle: N, flags: N) => {
        this.#step();
        const a = this.#uint(ptr, 'map address');
        const bytes = this.#len(size, 'map size');
        const off = this.#len(offset, 'map offset');
        const o = this.#obj(handle, 'vmm', 'cuMemMap');
        if (o.refs! <= 0) this.#fail('cuMemMap of a released allocation handle');
        if (n(flags) !== 0) return INVALID_VALUE;
        const res = this.#reservations.find((r) => r.start <= a && a < r.end);
        if (!res) this.#fail(`cuMemMap at 0x${a.toString(16)}: not inside any reservation`);
        if (res.guest !== this.caller) this.#fail(`cuMemMap into guest ${res.guest}'s reservation`);
        if (bytes === 0 || a + bytes > res.end) return INVALID_VALUE;
        if (a % (2 << 20) !== 0 || bytes % (2 << 20) !== 0 || off % (2 << 20) !== 0 || off + bytes > o.bytes!) return INVALID_VALUE;
        if (this.#ranges.some((m) => m.start < a + bytes && m.end > a)) return NOT_SUPPORTED;
        this.#addAlloc(bytes, 'vmm', 0, n(handle), a);
        o.maps!++;
        return SUCCESS;
      },
      cuMemUnmap: (ptr: N, size: N) => {
        this.#step();
        const a = this.#uint(ptr, 'unmap address');
        const bytes = this.#len(size, 'unmap size');
        const hit = this.#ranges.filter((m) => m.start < a + bytes && m.end > a);
        for (const m of hit) {
          if (m.guest !== this.caller) this.#fail(`cuMemUnmap reaches guest ${m.guest}'s memory`);
          if (m.kind !== 'vmm') this.#fail(`cuMemUnmap over a ${m.kind} range`);
          if (m.start < a || m.end > a + bytes) return INVALID_VALUE;
        }
        if (hit.length === 0) return INVALID_VALUE;
        for (const m of hit) {
          this.#ranges.splice(this.#ranges.indexOf(m), 1);
          const o = this.#objs.get(m.owner)!;
          o.maps!--;
          this.#vmmGone(m.owner, o);
        }
        return SUCCESS;
      },
      cuMemSetAccess: (ptr: N, size: N, desc: N, count: N) => {
        this.#step();
        const a = this.#uint(ptr, 'access address');
        const bytes = this.#len(size, 'access size');
        const c = n(count);
        if (c < 1 || c > 64) this.#fail(`cuMemSetAccess with ${c} descriptors`);
        const dv = this.#struct(desc, c * 12, 'CUmemAccessDesc[]');
        for (let i = 0; i < c; i++) if (dv.getInt32(i * 12 + 4, true) !== ORACLE_DEVICE) this.#fail('cuMemSetAccess names another device');
        const res = this.#reservations.find((r) => r.start <= a && a + bytes <= r.end);
        if (!res) this.#fail(`cuMemSetAccess on [0x${a.toString(16)}, +${bytes}): not inside one reservation`);
        if (res.guest !== this.caller) this.#fail(`cuMemSetAccess on guest ${res.guest}'s reservation`);
        return SUCCESS;
      },
      cuMemGetAccess: (flags: N, loc: N, ptr: N) => {
        this.#step();
        this.#struct(loc, 8, 'CUmemLocation');
        const a = this.#uint(ptr, 'access address');
        const res = this.#reservations.find((r) => r.start <= a && a < r.end);
        if (!res) this.#fail(`cuMemGetAccess at 0x${a.toString(16)}: not reserved`);
        if (res.guest !== this.caller) this.#fail(`cuMemGetAccess on guest ${res.guest}'s reservation`);
        this.#w64(flags, 3, 'access flags');
        return SUCCESS;
      },
      cuMemGetAllocationPropertiesFromHandle: (prop: N, handle: N) => {
        this.#step();
        const o = this.#obj(handle, 'vmm', 'cuMemGetAllocationPropertiesFromHandle');
        if (o.refs! <= 0) this.#fail('properties of a released allocation handle');
        const dv = this.#struct(prop, 32, 'CUmemAllocationProp');
        dv.setUint32(0, 1, true);
        dv.setUint32(8, 1, true);
        dv.setInt32(12, ORACLE_DEVICE, true);
        return SUCCESS;
      },
      cuMemRetainAllocationHandle: (handle: N, addr: N) => {
        this.#step();
        const a = this.#uint(addr, 'retain address');
        const m = this.#ranges.find((r) => r.kind === 'vmm' && r.start <= a && a < r.end);
        if (!m) return INVALID_VALUE;
        if (m.guest !== this.caller) this.#fail(`cuMemRetainAllocationHandle on guest ${m.guest}'s mapping`);
        const o = this.#objs.get(m.owner)!;
        o.refs!++;
        this.#w64(handle, m.owner, 'retained handle');
        return SUCCESS;
      },
      cuMemExportToShareableHandle: (sh: N, handle: N, type: N) => {
        this.#step();
        const o = this.#obj(handle, 'vmm', 'cuMemExportToShareableHandle');
        if (o.refs! <= 0) this.#fail('export of a released allocation handle');
        if (n(type) !== 1) return INVALID_VALUE;
        this.#w32(sh, openDevNull(), 'exported fd');
        return SUCCESS;
      },
      cuMemHostRegister_v2: (p: N, bytes: N, flags: N) => this.#register(p, bytes, flags),
      cuMemHostUnregister: (p: N) => {
        this.#step();
        const a = n(p);
        const i = this.#regs.findIndex((r) => r.addr === a);
        if (i < 0) this.#fail(`cuMemHostUnregister of 0x${a.toString(16)}: not registered (unregistered twice, or died with its context)`);
        const r = this.#regs[i]!;
        if (r.guest !== this.caller) this.#fail(`cuMemHostUnregister of guest ${r.guest}'s memory`);
        this.#regs.splice(i, 1);
        this.#dropRanges((x) => x.kind === 'hostmem' && x.owner === a);
        return SUCCESS;
      },
      cuMemHostGetDevicePointer_v2: (dptr: N, p: N, flags: N) => {
        this.#step();
        if (n(flags) !== 0) return INVALID_VALUE;
        const a = n(p);
        const r = this.#regs.find((x) => x.addr <= a && a < x.addr + x.bytes);
        if (!r || !(r.flags & DEVICEMAP)) return INVALID_VALUE;
        if (r.guest !== this.caller) this.#fail(`device pointer of guest ${r.guest}'s host memory`);
        this.#w64(dptr, r.dev + (a - r.addr), 'host device pointer');
        return SUCCESS;
      },

      cuModuleLoadDataEx: (mod: N, image: N, count: N, opts: N, vals: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#image(image);
        this.#jit(count, opts, vals);
        this.#w64(mod, this.#new('module', this.#ctx()), 'module');
        return SUCCESS;
      },
      cuModuleUnload: (mod: N) => {
        this.#step();
        const o = this.#obj(mod, 'module', 'cuModuleUnload');
        if (o.parent !== 0) this.#fail('cuModuleUnload of a module that belongs to a library');
        this.#kill(n(mod), 'unloaded');
        return SUCCESS;
      },
      cuModuleGetFunction: (fn: N, mod: N, name: N) => {
        this.#step();
        const o = this.#obj(mod, 'module', 'cuModuleGetFunction');
        const text = this.#cstring(name, 'function name');
        if (text.startsWith('missing')) return NOT_FOUND;
        this.#w64(fn, this.#new('function', o.ctx, n(mod)), 'function');
        return SUCCESS;
      },
      cuModuleGetGlobal_v2: (dptr: N, bytes: N, mod: N, name: N) => {
        this.#step();
        const o = this.#obj(mod, 'module', 'cuModuleGetGlobal');
        return this.#global(dptr, bytes, n(mod), o.ctx, this.#cstring(name, 'global name'));
      },
      cuModuleGetLoadingMode: (m: N) => { this.#step(); this.#w32(m, 1, 'loading mode'); return SUCCESS; },
      cuLibraryLoadData: (lib: N, code: N, jo: N, jv: N, nj: N, lo: N, lv: N, nl: N) => {
        this.#step();
        this.#image(code);
        this.#jit(nj, jo, jv);
        if (n(lo) !== 0 || n(lv) !== 0 || n(nl) !== 0) this.#fail('cuLibraryLoadData with library options');
        this.#w64(lib, this.#new('library', 0, 0, { libModules: new Map() }), 'library');
        return SUCCESS;
      },
      cuLibraryUnload: (lib: N) => {
        this.#step();
        this.#obj(lib, 'library', 'cuLibraryUnload');
        this.#kill(n(lib), 'unloaded');
        return SUCCESS;
      },
      cuLibraryGetKernel: (k: N, lib: N, name: N) => {
        this.#step();
        this.#obj(lib, 'library', 'cuLibraryGetKernel');
        if (this.#cstring(name, 'kernel name').startsWith('missing')) return NOT_FOUND;
        this.#w64(k, this.#new('kernel', 0, n(lib)), 'kernel');
        return SUCCESS;
      },
      cuLibraryGetModule: (mod: N, lib: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        const o = this.#obj(lib, 'library', 'cuLibraryGetModule');
        const ctx = this.#ctx();
        let m = o.libModules!.get(ctx);
        if (m === undefined || !this.#objs.has(m)) {
          m = this.#new('module', ctx, n(lib));
          o.libModules!.set(ctx, m);
        }
        this.#w64(mod, m, 'library module');
        return SUCCESS;
      },
      cuLibraryGetGlobal: (dptr: N, bytes: N, lib: N, name: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#obj(lib, 'library', 'cuLibraryGetGlobal');
        return this.#global(dptr, bytes, n(lib), this.#ctx(), this.#cstring(name, 'global name'));
      },
      cuKernelGetFunction: (fn: N, k: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        const o = this.#obj(k, 'kernel', 'cuKernelGetFunction');
        this.#w64(fn, this.#new('function', this.#ctx(), o.parent), 'kernel function');
        return SUCCESS;
      },
      cuKernelGetAttribute: (v: N, a: N, k: N, dev: N) => { this.#step(); this.#dev(dev); this.#obj(k, 'kernel', 'cuKernelGetAttribute'); this.#w32(v, n(a), 'attr'); return SUCCESS; },
      cuKernelSetAttribute: (_a: N, _v: N, k: N, dev: N) => { this.#step(); this.#dev(dev); this.#obj(k, 'kernel', 'cuKernelSetAttribute'); return SUCCESS; },
      cuFuncGetAttribute: (v: N, a: N, f: N) => { this.#step(); this.#obj(f, 'function', 'cuFuncGetAttribute'); this.#w32(v, n(a) + 1, 'attr'); return SUCCESS; },
      cuFuncSetAttribute: (f: N) => { this.#step(); this.#obj(f, 'function', 'cuFuncSetAttribute'); return SUCCESS; },
      cuFuncSetCacheConfig: (f: N) => { this.#step(); this.#obj(f, 'function', 'cuFuncSetCacheConfig'); return SUCCESS; },
      cuFuncGetParamInfo: (f: N, i: N, off: N, size: N) => {
        this.#step();
        this.#obj(f, 'function', 'cuFuncGetParamInfo');
        const idx = n(i);
        if (idx >= 3) return INVALID_VALUE;
        this.#w64(off, idx * 8, 'param offset');
        this.#w64(size, 8, 'param size');
        return SUCCESS;
      },
      cuLaunchKernel: (f: N, _gx: N, _gy: N, _gz: N, _bx: N, _by: N, _bz: N, _sh: N, st: N, params: N, extra: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#launchable(f);
        this.#stream(st, 'cuLaunchKernel');
        if (n(params) !== 0) this.#fail('cuLaunchKernel with kernelParams (pointers)');
        this.#extra(extra);
        return SUCCESS;
      },
      cuLaunchKernelEx: (config: N, f: N, params: N, extra: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#launchable(f);
        if (n(params) !== 0) this.#fail('cuLaunchKernelEx with kernelParams (pointers)');
        this.#config(config);
        this.#extra(extra);
        return SUCCESS;
      },
      cuLaunchCooperativeKernel: () => this.#fail('cuLaunchCooperativeKernel is not reached by any op'),
      cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags: (out: N, f: N, _b: N, dsmem: N) => {
        this.#step();
        this.#obj(f, 'function', 'occupancy');
        this.#uint(dsmem, 'dynamic shared memory'); // a value the driver judges, not a range
        this.#w32(out, 4, 'blocks');
        return SUCCESS;
      },
      cuOccupancyAvailableDynamicSMemPerBlock: (out: N, f: N) => { this.#step(); this.#obj(f, 'function', 'occupancy'); this.#w64(out, 49152, 'dsmem'); return SUCCESS; },
      cuOccupancyMaxActiveClusters: (out: N, f: N, cfg: N) => { this.#step(); this.#launchable(f); this.#config(cfg); this.#w32(out, 2, 'clusters'); return SUCCESS; },
      cuOccupancyMaxPotentialClusterSize: (out: N, f: N, cfg: N) => { this.#step(); this.#launchable(f); this.#config(cfg); this.#w32(out, 8, 'cluster size'); return SUCCESS; },

      cuStreamCreateWithPriority: (st: N, flags: N, _p: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#uint(flags, 'stream flags');
        this.#w64(st, this.#new('stream', this.#ctx()), 'stream');
        return SUCCESS;
      },
      cuStreamDestroy_v2: (st: N) => { this.#step(); this.#obj(st, 'stream', 'cuStreamDestroy'); this.#kill(n(st), 'destroyed'); return SUCCESS; },
      cuStreamSynchronize: (st: N) => { this.#step(); this.#stream(st, 'cuStreamSynchronize'); return SUCCESS; },
      cuStreamQuery: (st: N) => { this.#step(); this.#stream(st, 'cuStreamQuery'); return SUCCESS; },
      cuStreamIsCapturing: (st: N, status: N) => {
        this.#step();
        this.#stream(st, 'cuStreamIsCapturing');
        const o = this.#objs.get(n(st));
        this.#w32(status, o?.capturing ? 1 : 0, 'capture status');
        return SUCCESS;
      },
      cuStreamWaitEvent: (st: N, ev: N) => { this.#step(); this.#stream(st, 'cuStreamWaitEvent'); this.#obj(ev, 'event', 'cuStreamWaitEvent'); return SUCCESS; },
      cuStreamWaitValue32_v2: (st: N, addr: N) => {
        this.#step();
        this.#stream(st, 'cuStreamWaitValue32');
        const a = this.#uint(addr, 'wait address');
        const reg = this.#regs.find((r) => r.dev !== 0 && r.dev <= a && a + 4 <= r.dev + r.bytes);
        if (!reg) this.#fail(`cuStreamWaitValue32 on 0x${a.toString(16)}: not a device-mapped page`);
        if (reg.guest !== this.caller) this.#fail(`cuStreamWaitValue32 on guest ${reg.guest}'s page`);
        return SUCCESS;
      },
      cuEventCreate: (ev: N, flags: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#uint(flags, 'event flags');
        this.#w64(ev, this.#new('event', this.#ctx()), 'event');
        return SUCCESS;
      },
      cuEventDestroy_v2: (ev: N) => { this.#step(); this.#obj(ev, 'event', 'cuEventDestroy'); this.#kill(n(ev), 'destroyed'); return SUCCESS; },
      cuEventRecordWithFlags: (ev: N, st: N) => { this.#step(); this.#obj(ev, 'event', 'cuEventRecord'); this.#stream(st, 'cuEventRecord'); return SUCCESS; },
      cuEventSynchronize: (ev: N) => { this.#step(); this.#obj(ev, 'event', 'cuEventSynchronize'); return SUCCESS; },
      cuEventQuery: (ev: N) => { this.#step(); this.#obj(ev, 'event', 'cuEventQuery'); return SUCCESS; },
      cuEventElapsedTime_v2: (ms: N, a: N, b: N) => {
        this.#step();
        this.#obj(a, 'event', 'cuEventElapsedTime');
        this.#obj(b, 'event', 'cuEventElapsedTime');
        this.#out(ms, 4, 'elapsed').setFloat32(0, 1.5, true);
        return SUCCESS;
      },
      cuStreamBeginCapture_v2: (st: N, mode: N) => {
        this.#step();
        const v = this.#stream(st, 'cuStreamBeginCapture');
        if (v <= 2 || n(mode) > 2) return INVALID_VALUE;
        const o = this.#objs.get(v)!;
        if (o.capturing) return ILLEGAL_STATE;
        o.capturing = true;
        return SUCCESS;
      },
      cuStreamEndCapture: (st: N, graph: N) => {
        this.#step();
        const v = this.#stream(st, 'cuStreamEndCapture');
        const o = this.#objs.get(v);
        if (!o?.capturing) return ILLEGAL_STATE;
        o.capturing = false;
        const into = o.captureInto;
        o.captureInto = undefined;
        this.#w64(graph, into !== undefined && this.#objs.has(into) ? into : this.#new('graph', 0), 'graph');
        return SUCCESS;
      },
      cuStreamBeginCaptureToGraph: (st: N, graph: N, deps: N, edges: N, count: N, mode: N) => {
        this.#step();
        const v = this.#stream(st, 'cuStreamBeginCaptureToGraph');
        this.#obj(graph, 'graph', 'cuStreamBeginCaptureToGraph');
        this.#deps(graph, deps, count);
        if (n(edges) !== 0) this.#fail('cuStreamBeginCaptureToGraph with edge data');
        if (v <= 2 || n(mode) > 2) return INVALID_VALUE;
        const o = this.#objs.get(v)!;
        if (o.capturing) return ILLEGAL_STATE;
        o.capturing = true;
        o.captureInto = n(graph);
        return SUCCESS;
      },
      cuThreadExchangeStreamCaptureMode: (mode: N) => {
        this.#step();
        const dv = this.#out(mode, 4, 'capture mode');
        if (dv.getUint32(0, true) > 2) return INVALID_VALUE;
        dv.setUint32(0, 0, true);
        return SUCCESS;
      },
      cuStreamGetCaptureInfo_v3: (st: N, status: N, id: N, graph: N, deps: N, edges: N, nd: N) => {
        this.#step();
        const v = this.#stream(st, 'cuStreamGetCaptureInfo');
        if (n(graph) || n(deps) || n(edges) || n(nd)) this.#fail('cuStreamGetCaptureInfo with pointer outputs the proxy does not own');
        this.#w32(status, this.#objs.get(v)?.capturing ? 1 : 0, 'capture status');
        this.#w64(id, v, 'capture id');
        return SUCCESS;
      },
      cuGraphInstantiateWithFlags: (exec: N, graph: N, flags: N) => {
        const r = this.#needCtx();
        if (r !== SUCCESS) return r;
        this.#obj(graph, 'graph', 'cuGraphInstantiate');
        this.#uint(flags, 'instantiate flags');
        this.#w64(exec, this.#new('graphExec', this.#ctx()), 'graph exec');
        return SUCCESS;
      },
      cuGraphLaunch: (exec: N, st: N) => { this.#step(); this.#obj(exec, 'graphExec', 'cuGraphLaunch'); this.#stream(st, 'cuGraphLaunch'); return SUCCESS; },
      cuGraphUpload: (exec: N, st: N) => { this.#step(); this.#obj(exec, 'graphExec', 'cuGraphUpload'); this.#stream(st, 'cuGraphUpload'); return SUCCESS; },
      cuGraphDestroy: (g: N) => { this.#step(); this.#obj(g, 'graph', 'cuGraphDestroy'); this.#kill(n(g), 'destroyed'); return SUCCESS; },
      cuGraphGetNodes: (g: N, nodes: N, count: N) => {
        this.#step();
        this.#obj(g, 'graph', 'cuGraphGetNodes');
        const all = [...this.#objs].filter(([, o]) => o.kind === 'graphNode' && o.parent === n(g)).map(([id]) => id);
        return this.#nodeList(all, nodes, count);
      },
      cuGraphCreate: (g: N, flags: N) => {
        this.#step();
        if (n(flags) !== 0) this.#fail(`cuGraphCreate flags ${n(flags)}`);
        this.#w64(g, this.#new('graph', 0), 'graph');
        return SUCCESS;
      },
      cuGraphDestroyNode: (node: N) => { this.#step(); this.#obj(node, 'graphNode', 'cuGraphDestroyNode'); this.#kill(n(node), 'destroyed'); return SUCCESS; },
      cuGraphAddEmptyNode: (node: N, g: N, deps: N, count: N) => this.#addNode(node, g, deps, count, () => undefined),
      cuGraphAddKernelNode_v2: (node: N, g: N, deps: N, count: N, params: N) => this.#addNode(node, g, deps, count, () => this.#kernelNode(params)),
      cuGraphAddMemsetNode: (node: N, g: N, deps: N, count: N, params: N, ctx: N) =>
        this.#addNode(node, g, deps, count, () => { this.#nodeCtx(ctx); return this.#memsetNode(params); }),
      cuGraphAddMemcpyNode: (node: N, g: N, deps: N, count: N, params: N, ctx: N) =>
        this.#addNode(node, g, deps, count, () => { this.#nodeCtx(ctx); this.#memcpyNode(params); }),
      cuGraphAddChildGraphNode: (node: N, g: N, deps: N, count: N, child: N) =>
        this.#addNode(node, g, deps, count, () => { this.#obj(child, 'graph', 'child graph'); }),
      cuGraphAddEventRecordNode: (node: N, g: N, deps: N, count: N, ev: N) =>
        this.#addNode(node, g, deps, count, () => { this.#obj(ev, 'event', 'event record node'); }),
      cuGraphAddEventWaitNode: (node: N, g: N, deps: N, count: N, ev: N) =>
        this.#addNode(node, g, deps, count, () => { this.#obj(ev, 'event', 'event wait node'); }),
      cuGraphExecKernelNodeSetParams_v2: (e: N, node: N, params: N) => this.#setNode(e, node, () => this.#kernelNode(params)),
      cuGraphExecMemsetNodeSetParams: (e: N, node: N, params: N, ctx: N) => this.#setNode(e, node, () => { this.#nodeCtx(ctx); return this.#memsetNode(params); }),
      cuGraphExecMemcpyNodeSetParams: (e: N, node: N, params: N, ctx: N) => this.#setNode(e, node, () => { this.#nodeCtx(ctx); this.#memcpyNode(params); }),
      cuGraphExecChildGraphNodeSetParams: (e: N, node: N, child: N) => this.#setNode(e, node, () => { this.#obj(child, 'graph', 'child graph'); }),
      cuGraphExecEventRecordNodeSetEvent: (e: N, node: N, ev: N) => this.#setNode(e, node, () => { this.#obj(ev, 'event', 'event record node'); }),
      cuGraphExecEventWaitNodeSetEvent: (e: N, node: N, ev: N) => this.#setNode(e, node, () => { this.#obj(ev, 'event', 'event wait node'); }),
      cuGraphNodeSetEnabled: (e: N, node: N, on: N) => this.#setNode(e, node, () => (n(on) > 1 ? INVALID_VALUE : undefined)),
      cuGraphNodeGetDependencies_v2: (node: N, deps: N, edges: N, count: N) => {
        this.#step();
        this.#obj(node, 'graphNode', 'cuGraphNodeGetDependencies');
        if (n(edges) !== 0) this.#fail('cuGraphNodeGetDependencies with edge data');
        return this.#nodeList([], deps, count);
      },
      cuGraphExecDestroy: (e: N) => { this.#step(); this.#obj(e, 'graphExec', 'cuGraphExecDestroy'); this.#kill(n(e), 'destroyed'); return SUCCESS; },
    };
    return d satisfies CudaDriver;
  }

  // --- helpers of the API ---

  #dev(dev: N): void {
    if (n(dev) !== ORACLE_DEVICE) this.#fail(`device ordinal ${n(dev)} is not the device guests share`);
  }

  #needCtx(): number {
    this.#step();
    return this.#ctx() === 0 ? INVALID_CONTEXT : SUCCESS;
  }

  #errorString(e: N, str: N): number {
    const code = n(e);
    if (code > 1000 || code % 7 !== 0) return INVALID_VALUE;
    this.#w64(str, this.#strings.addr, 'error string');
    return SUCCESS;
  }

  #alloc(dptr: N, bytes: N, ctx0: number, pitched: boolean): number {
    if (!pitched) this.#step();
    const b = this.#len(bytes, 'allocation size');
    if (this.#ctx() === 0) return INVALID_CONTEXT;
    if (b === 0) return INVALID_VALUE;
    void ctx0;
    const start = this.#addAlloc(b, 'alloc', this.#ctx(), 0);
    this.#quota(start, pitched);
    this.#w64(dptr, start, 'allocation');
    return SUCCESS;
  }

  #free(dptr: N): number {
    const a = n(dptr);
    if (this.#overQuota === a) this.#overQuota = 0;
    this.#step();
    const i = this.#ranges.findIndex((r) => r.start === a && r.kind === 'alloc');
    if (i < 0) this.#fail(`cuMemFree of 0x${a.toString(16)}: not a live allocation (freed twice, died with its context, or never allocated)`);
    const r = this.#ranges[i]!;
    if (r.guest !== this.caller) {
      this.#g(r.guest).touchedByOthers++;
      this.#fail(`cuMemFree of guest ${r.guest}'s allocation`);
    }
    this.#ranges.splice(i, 1);
    this.#g(r.guest).deviceBytes -= r.end - r.start;
    return SUCCESS;
  }

  #htod(dst: N, src: N, bytes: N, st: N): number {
    const r = this.#needCtx();
    this.#stream(st, 'cuMemcpyHtoD');
    const len = this.#len(bytes, 'copy length');
    this.#device(dst, len, 'cuMemcpyHtoD');
    const host = this.#host(src, len, ['arena', 'segment'], 'cuMemcpyHtoD source');
    if (r !== SUCCESS) return r;
    this.#devWrite(n(dst), host, len);
    return SUCCESS;
  }

  #dtoh(dst: N, src: N, bytes: N, st: N): number {
    const r = this.#needCtx();
    this.#stream(st, 'cuMemcpyDtoH');
    const len = this.#len(bytes, 'copy length');
    this.#device(src, len, 'cuMemcpyDtoH');
    const host = this.#host(dst, len, ['arena', 'segment'], 'cuMemcpyDtoH destination');
    if (r !== SUCCESS) return r;
    this.#devRead(n(src), host, len);
    return SUCCESS;
  }

  #dtod(dst: N, src: N, bytes: N, st: N): number {
    const r = this.#needCtx();
    this.#stream(st, 'cuMemcpyDtoD');
    const len = this.#len(bytes, 'copy length');
    this.#device(dst, len, 'cuMemcpyDtoD destination');
    this.#device(src, len, 'cuMemcpyDtoD source');
    if (r !== SUCCESS) return r;
    if (len <= BACKED_MAX) {
      const tmp = new Uint8Array(len);
      this.#devRead(n(src), tmp, len);
      this.#devWrite(n(dst), tmp, len);
    }
    return SUCCESS;
  }

  #memset(dst: N, pitch: N, value: N, width: N, height: N, elem: number, st: N): number {
    const r = this.#needCtx();
    this.#stream(st, 'cuMemset');
    const w = this.#len(width, 'memset width');
    const h = this.#len(height, 'memset height');
    const p = this.#len(pitch, 'memset pitch');
    this.#uint(value, 'memset value');
    if (h === 0) return r;
    const span = h === 1 && p === 0 ? w * elem : (h - 1) * p + w * elem;
    if (h > 1 && p < w * elem) return INVALID_VALUE;
    this.#len(span, 'memset span');
    this.#device(dst, span, 'cuMemset');
    if (r !== SUCCESS) return r;
    if (elem === 1 && (h === 1)) this.#devWrite(n(dst), null, span, (u8) => u8.fill(n(value) & 0xff));
    return SUCCESS;
  }

  /** CUDA_MEMCPY2D (128 bytes) in the caller's scratch: both sides checked. */
  #copy2d(copy: N, st: N): number {
    const r = this.#needCtx();
    this.#stream(st, 'cuMemcpy2D');
    const dv = this.#struct(copy, 128, 'CUDA_MEMCPY2D');
    const u64 = (o: number): number => Number(dv.getBigUint64(o, true));
    const width = this.#len(u64(112), '2-D width');
    const height = this.#len(u64(120), '2-D height');
    if (width === 0 || height === 0) return INVALID_VALUE;
    for (const [base, name] of [[0, 'source'], [56, 'destination']] as const) {
      const x = u64(base);
      const y = u64(base + 8);
      const type = dv.getUint32(base + 16, true);
      const pitch = this.#len(u64(base + 48), `2-D ${name} pitch`);
      if (u64(base + 40) !== 0) this.#fail(`2-D ${name}: an array handle`);
      if (height > 1 && pitch < width) return INVALID_VALUE;
      const span = this.#len((height - 1) * pitch + width, `2-D ${name} span`);
      if (type === 1) {
        if (x !== 0 || y !== 0) this.#fail(`2-D ${name}: host side with an offset (the proxy sends the first byte)`);
        this.#host(u64(base + 24), span, ['arena', 'segment'], `2-D ${name} host`);
      } else if (type === 2) {
        const first = this.#len(u64(base + 32) + y * pitch + x, `2-D ${name} first byte`);
        this.#device(first, span, `2-D ${name}`);
      } else this.#fail(`2-D ${name}: memory type ${type}`);
    }
    return r;
  }

  #checkProp(prop: N): void {
    const dv = this.#struct(prop, 32, 'CUmemAllocationProp');
    if (dv.getUint32(8, true) !== 1 || dv.getInt32(12, true) !== ORACLE_DEVICE) this.#fail('CUmemAllocationProp names a location other than the device');
    if (dv.getBigUint64(16, true) !== 0n) this.#fail('CUmemAllocationProp carries a win32 metadata pointer');
  }

  #vmmGone(id: number, o: Obj): void {
    if (o.refs! > 0 || o.maps! > 0) return;
    this.#g(o.guest).deviceBytes -= o.bytes!;
    this.#kill(id, 'released');
  }

  #register(p: N, bytes: N, flags: N): number {
    this.#step();
    const a = this.#uint(p, 'register address');
    const len = this.#len(bytes, 'register length');
    const f = n(flags);
    if (len === 0) return INVALID_VALUE;
    this.#host(a, len, ['arena', 'segment'], 'cuMemHostRegister');
    let guestMemory = false;
    for (const [start, stop, owner, name] of this.#hostBlocks()) {
      if (a >= stop || a + len <= start || owner !== this.caller) continue;
      guestMemory = true;
      if (name === 'arena' && (a !== start || len !== stop - start)) this.#fail('the arena registered partly');
      if (f & PORTABLE) this.#fail(`the guest's ${name} registered PORTABLE (other contexts would map it)`);
    }
    // Unattributed memory: a host segment the proxy has just mapped (not yet in the session's table), registered
    // in the guest's context; or the proxy's host-function page (one page, PORTABLE).  Nothing else is registered.
    if (!guestMemory && f & PORTABLE && len !== 4096) this.#fail(`proxy memory of ${len} bytes registered PORTABLE (only the one-page host-function counters are)`);
    if (!guestMemory && !(f & PORTABLE)) guestMemory = true;
    if (this.#regs.some((r) => r.addr < a + len && a < r.addr + r.bytes)) return ALREADY_REGISTERED;
    const ctx = f & PORTABLE ? 0 : this.#ctx();
    if (!(f & PORTABLE) && ctx === 0) return INVALID_CONTEXT;
    let dev = 0;
    if (f & DEVICEMAP) {
      if (guestMemory) dev = this.#addAlloc(len, 'hostmem', ctx, a);
      else {
        dev = this.#proxyVa;
        this.#proxyVa += len + GUARD;
      }
    }
    this.#regs.push({ addr: a, bytes: len, flags: f, guest: this.caller, ctx, dev });
    return SUCCESS;
  }

  #image(image: N): void {
    const s = this.#g(this.caller).session!;
    const a = n(image);
    if (a === 0 || a !== s.stage.addr) this.#fail(`image at 0x${a.toString(16)} is not the guest's staging buffer`);
    const len = s.stage.length;
    if (len === 0) this.#fail('empty image');
    const term = new Uint8Array(koffi.view(BigInt(a + len), 1));
    if (term[0] !== 0) this.#fail('image not NUL-terminated');
  }

  #jit(count: N, opts: N, vals: N): void {
    const c = n(count);
    if (c > 64) this.#fail(`${c} JIT options`);
    if (c === 0) return;
    const ids = this.#struct(opts, c * 4, 'JIT option ids');
    const v = this.#struct(vals, c * 8, 'JIT option values');
    const s = this.#g(this.caller).session!;
    for (let i = 0; i < c; i++) {
      const opt = ids.getUint32(i * 4, true);
      if ([17, 18, 25, 27].includes(opt) || opt >= 35) this.#fail(`JIT option ${opt} (a pointer or unknown) reached the driver`);
      if (opt === 3 || opt === 5) {
        const at = Number(v.getBigUint64(i * 8, true));
        if (at < s.opMem.addr || at >= s.opMem.addr + s.opMem.size) this.#fail('JIT log buffer outside the proxy\'s scratch');
      }
    }
  }

  #global(dptr: N, bytes: N, owner: number, ctx: number, name: string): number {
    if (name.startsWith('missing')) return NOT_FOUND;
    const key = `${owner}:${ctx}:${name}`;
    let r = this.#ranges.find((x) => x.kind === 'global' && x.owner === owner && x.ctx === ctx && globalNames.get(x) === key);
    if (!r) {
      const size = 64 + (name.length % 4) * 64;
      const start = this.#addAlloc(size, 'global', ctx, owner);
      r = this.#ranges.find((x) => x.start === start)!;
      globalNames.set(r, key);
    }
    this.#w64(dptr, r.start, 'global address');
    this.#w64(bytes, r.end - r.start, 'global size');
    return SUCCESS;
  }

  #launchable(f: N): void {
    const o = this.#obj(f, ['function', 'kernel'], 'launch');
    if (o.kind === 'function' && o.ctx !== 0 && o.ctx !== this.#ctx()) {
      // The driver refuses a function of another context; not an isolation breach within one guest.
    }
  }

  #extra(extra: N): void {
    if (n(extra) === 0) return;
    const dv = this.#struct(extra, 40, 'launch extra');
    const s = this.#g(this.caller).session!;
    if (dv.getBigUint64(0, true) !== 1n || dv.getBigUint64(16, true) !== 2n || dv.getBigUint64(32, true) !== 0n) this.#fail('launch extra array is not BUFFER_POINTER, BUFFER_SIZE, END');
    const sizeAt = this.#struct(Number(dv.getBigUint64(24, true)), 8, 'parameter size');
    const size = this.#len(Number(sizeAt.getBigUint64(0, true)), 'parameter size');
    const buf = Number(dv.getBigUint64(8, true));
    const inside = (m: { addr: number; size: number }): boolean => buf >= m.addr && buf + size <= m.addr + m.size;
    if (!inside(s.opMem) && !inside(s.graphMem)) this.#fail('kernel parameter buffer outside the proxy\'s scratch');
  }

  /** A node added to graph g after `count` dependencies (real nodes of g, in the caller's scratch); check() checks the parameters. */
  #addNode(node: N, g: N, deps: N, count: N, check: () => number | undefined | void): number {
    this.#step();
    this.#obj(g, 'graph', 'cuGraphAdd*Node');
    this.#deps(g, deps, count);
    const r = check();
    if (typeof r === 'number' && r !== SUCCESS) return r;
    this.#w64(node, this.#new('graphNode', 0, n(g)), 'graph node');
    return SUCCESS;
  }

  #setNode(e: N, node: N, check: () => number | undefined | void): number {
    this.#step();
    this.#obj(e, 'graphExec', 'cuGraphExec*SetParams');
    this.#obj(node, 'graphNode', 'cuGraphExec*SetParams');
    const r = check();
    return typeof r === 'number' ? r : SUCCESS;
  }

  #deps(g: N, deps: N, count: N): void {
    const k = this.#len(count, 'dependency count');
    if (k === 0) return;
    if (k > 1024) this.#fail(`${k} dependencies`);
    const dv = this.#struct(deps, k * 8, 'dependencies');
    for (let i = 0; i < k; i++) {
      const o = this.#obj(Number(dv.getBigUint64(i * 8, true)), 'graphNode', 'dependency');
      if (o.parent !== n(g)) this.#fail('a dependency from another graph');
    }
  }

  /** Answers a node list: the count with a null array, else up to the capacity at `count`, in the caller's scratch. */
  #nodeList(all: number[], nodes: N, count: N): number {
    if (n(nodes) === 0) {
      this.#w64(count, all.length, 'node count');
      return SUCCESS;
    }
    const cap = this.#len(Number(this.#struct(count, 8, 'node count').getBigUint64(0, true)), 'node capacity');
    const dv = this.#struct(nodes, cap * 8, 'node array');
    const k = Math.min(cap, all.length);
    for (let i = 0; i < k; i++) dv.setBigUint64(i * 8, BigInt(all[i]!), true);
    this.#w64(count, k, 'node count');
    return SUCCESS;
  }

  #nodeCtx(ctx: N): void {
    if (n(ctx) !== 0) this.#obj(ctx, 'ctx', 'graph node context');
  }

  /** CUDA_KERNEL_NODE_PARAMS in the caller's scratch: a function or kernel, no kernelParams, a checked extra. */
  #kernelNode(params: N): void {
    const K = A.CUDA_KERNEL_NODE_PARAMS;
    const dv = this.#struct(params, K.SIZE, 'CUDA_KERNEL_NODE_PARAMS');
    const fn = Number(dv.getBigUint64(K.func, true));
    this.#launchable(fn !== 0 ? fn : Number(dv.getBigUint64(K.kern, true)));
    if (dv.getBigUint64(K.kernelParams, true) !== 0n) this.#fail('a kernel node with kernelParams (pointers)');
    if (dv.getBigUint64(K.ctx, true) !== 0n) this.#obj(Number(dv.getBigUint64(K.ctx, true)), 'ctx', 'kernel node context');
    this.#extra(Number(dv.getBigUint64(K.extra, true)));
  }

  /** CUDA_MEMSET_NODE_PARAMS: the bytes it will write are the caller's. */
  #memsetNode(params: N): number | undefined {
    const M = A.CUDA_MEMSET_NODE_PARAMS;
    const dv = this.#struct(params, M.SIZE, 'CUDA_MEMSET_NODE_PARAMS');
    const u64 = (o: number): number => Number(dv.getBigUint64(o, true));
    const elem = dv.getUint32(M.elementSize, true);
    if (elem !== 1 && elem !== 2 && elem !== 4) return INVALID_VALUE;
    const w = this.#len(u64(M.width), 'memset node width');
    const h = this.#len(u64(M.height), 'memset node height');
    const p = this.#len(u64(M.pitch), 'memset node pitch');
    if (h === 0 || w === 0) return INVALID_VALUE;
    if (h > 1 && p < w * elem) return INVALID_VALUE;
    this.#device(u64(M.dst), this.#len(h === 1 ? w * elem : (h - 1) * p + w * elem, 'memset node span'), 'memset node');
    return undefined;
  }

  /** CUDA_MEMCPY3D: device to device, one row, both sides the caller's. */
  #memcpyNode(params: N): void {
    const M = A.CUDA_MEMCPY3D;
    const dv = this.#struct(params, M.SIZE, 'CUDA_MEMCPY3D');
    const u64 = (o: number): number => Number(dv.getBigUint64(o, true));
    if (dv.getUint32(M.srcMemoryType, true) !== 2 || dv.getUint32(M.dstMemoryType, true) !== 2) this.#fail('a copy node with a side that is not device memory');
    if (u64(M.srcHost) || u64(M.dstHost) || u64(M.srcArray) || u64(M.dstArray)) this.#fail('a copy node naming host memory or an array');
    if (u64(M.Height) !== 1 || u64(M.Depth) !== 1) this.#fail('a copy node of more than one row');
    const bytes = this.#len(u64(M.WidthInBytes), 'copy node width');
    this.#device(u64(M.srcDevice) + u64(M.srcXInBytes), bytes, 'copy node source');
    this.#device(u64(M.dstDevice) + u64(M.dstXInBytes), bytes, 'copy node destination');
  }

  #config(config: N): void {
    const dv = this.#struct(config, 56, 'CUlaunchConfig');
    this.#stream(Number(dv.getBigUint64(32, true)), 'launch config stream');
    const count = dv.getUint32(48, true);
    if (count > 32) this.#fail(`${count} launch attributes`);
    if (count === 0) return;
    const attrs = this.#struct(Number(dv.getBigUint64(40, true)), count * 72, 'launch attributes');
    for (let i = 0; i < count; i++) {
      const id = attrs.getUint32(i * 72, true);
      if (id === 7 || id === 12) this.#obj(Number(attrs.getBigUint64(i * 72 + 8, true)), 'event', 'launch attribute event');
      else if (![0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 14, 16].includes(id)) this.#fail(`launch attribute ${id} reached the driver`);
    }
  }

  #killContext(ctx: number): void {
    const limits = this.#limits.get(ctx);
    if (limits) this.#g(this.caller).deviceBytes -= limits.heap + limits.stack;
    this.#limits.delete(ctx);
    for (const [id, o] of [...this.#objs]) if (o.ctx === ctx && this.#objs.has(id)) this.#kill(id, 'destroyed with its context');
    this.#dropRanges((r) => r.ctx === ctx && r.kind !== 'vmm');
    for (let i = this.#regs.length - 1; i >= 0; i--) if (this.#regs[i]!.ctx === ctx) this.#regs.splice(i, 1);
    this.#kill(ctx, 'destroyed');
    const g = this.#g(this.caller);
    if (g.current === ctx) g.current = 0;
  }
}

const globalNames = new WeakMap<object, string>();

function s_arena(s: Session, addr: number, len: number): Uint8Array {
  const off = addr - s.region.arenaAddr;
  return s.region.arena.subarray(off, off + len);
}

/** A real descriptor for an exported handle (the proxy closes it). */
function openDevNull(): number {
  return C.open('/dev/null', C.O_CLOEXEC, 0) as number;
}
