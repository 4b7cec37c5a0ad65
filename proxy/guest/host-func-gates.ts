// Host functions on streams (cuLaunchHostFunc, cuStreamAddCallback): the
// guest runs them, the proxy keeps the stream's order around them.
//
// For each host function the proxy records an event behind the work before
// it, then makes the stream wait (cuStreamWaitValue32, GEQ) on a counter word
// of that stream in a page only the proxy writes, page-locked and mapped for
// the device.  The guest polls the event (HOST_FUNC_QUERY), runs the
// function, and says HOST_FUNC_DONE; the proxy then bumps the counter and the
// stream goes on.  The k-th host function of a stream waits for counter >= k,
// and a stream's host functions are done in order (the guest runs them so),
// so the counter is always the number done.
//
// A gate must never outlive its guest: before a context is destroyed (which
// waits for its streams) and when the guest leaves, every gate of it opens.
import type { Logger } from 'pino';
import * as C from '../native/libc.js';
import * as A from '../wire/cuda-abi.js';
import {
  type CudaDriver,
  CUDA_ERROR_INVALID_VALUE,
  CUDA_ERROR_OUT_OF_MEMORY,
  CUDA_SUCCESS,
} from '../native/cuda.js';
import { HOST_FUNC_PENDING_MAX } from '../wire/layout.js';

const PAGE = 4096;
/** Streams that may carry host functions at once: one 32-bit counter each in the page. */
const SLOTS = PAGE / 4;

interface Slot {
  readonly index: number;
  /** The guest context the stream lives in. */
  readonly ctx: number;
  /** Host functions enqueued on the stream so far (the next one waits for this + 1). */
  enqueued: number;
}

interface Pending {
  readonly event: number;
  readonly slot: Slot;
}

export class HostFuncGates {
  #page: C.NativeMemory | null = null;
  #devicePage = 0;
  // By context and real stream handle: the default streams (0, legacy, per-thread) have one value in
  // every context, and a gate's event belongs to its context (found by proxy-ring: an event outlived its
  // context when two contexts shared the default stream's slot, and was destroyed after it).
  readonly #slots = new Map<string, Slot>();
  readonly #pending = new Map<number, Pending>(); // by the guest's token

  constructor(readonly cuda: CudaDriver, readonly log: Logger) {}

  get pending(): number {
    return this.#pending.size;
  }

  /** The counter page, page-locked and mapped in every context of this process (it holds counters only). */
  #pageReady(out: C.NativeMemory): number {
    if (this.#page) return CUDA_SUCCESS;
    const page = C.allocScratch(PAGE);
    let r = this.cuda.cuMemHostRegister_v2(page.addr, PAGE, A.CU_MEMHOSTREGISTER_PORTABLE | A.CU_MEMHOSTREGISTER_DEVICEMAP);
    if (r === CUDA_SUCCESS) {
      r = this.cuda.cuMemHostGetDevicePointer_v2(out.addr, page.addr, 0);
      if (r !== CUDA_SUCCESS) this.cuda.cuMemHostUnregister(page.addr);
    }
    if (r !== CUDA_SUCCESS) {
      C.munmap(page.addr, PAGE);
      return r;
    }
    this.#devicePage = C.readU64(out.dv, 0);
    this.#page = page;
    return CUDA_SUCCESS;
  }

  #slotOf(stream: number, ctx: number): Slot | null {
    const key = `${ctx}/${stream}`;
    const known = this.#slots.get(key);
    if (known) return known;
    if (this.#slots.size >= SLOTS) return null;
    const used = new Set([...this.#slots.values()].map((s) => s.index));
    let index = 0;
    while (used.has(index)) index++;
    const slot: Slot = { index, ctx, enqueued: 0 };
    // A new stream handle may reuse a destroyed stream's value: its counter and count carry on together.
    this.#page!.u32[index] = 0;
    this.#slots.set(key, slot);
    return slot;
  }

  /** Records the event and closes the gate behind it; the current context must be the stream's. A CUresult. */
  enqueue(stream: number, ctx: number, token: number, out: C.NativeMemory): number {
    if (this.#pending.has(token) || this.#pending.size >= HOST_FUNC_PENDING_MAX) return CUDA_ERROR_INVALID_VALUE;
    let r = this.#pageReady(out);
    if (r !== CUDA_SUCCESS) return r;
    const slot = this.#slotOf(stream, ctx);
    if (!slot) return CUDA_ERROR_OUT_OF_MEMORY;
    r = this.cuda.cuEventCreate(out.addr, A.CU_EVENT_DISABLE_TIMING);
    if (r !== CUDA_SUCCESS) return r;
    const event = C.readU64(out.dv, 0);
    r = this.cuda.cuEventRecordWithFlags(event, stream, 0);
    // The device address is the counter's, inside the proxy's own page.
    if (r === CUDA_SUCCESS) r = this.cuda.cuStreamWaitValue32_v2(stream, this.#devicePage + slot.index * 4, (slot.enqueued + 1) >>> 0, A.CU_STREAM_WAIT_VALUE_GEQ);
    if (r !== CUDA_SUCCESS) {
      this.cuda.cuEventDestroy_v2(event);
      return r;
    }
    slot.enqueued = (slot.enqueued + 1) >>> 0;
    this.#pending.set(token, { event, slot });
    return CUDA_SUCCESS;
  }

  /** Whether the work before the host function is done: 0, NOT_READY, or the stream's error. */
  query(token: number): number {
    const p = this.#pending.get(token);
    return p ? this.cuda.cuEventQuery(p.event) : CUDA_ERROR_INVALID_VALUE;
  }

  /** The guest ran the host function: the stream goes on. */
  done(token: number): number {
    const p = this.#pending.get(token);
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    this.#pending.delete(token);
    Atomics.add(this.#page!.u32, p.slot.index, 1);
    this.cuda.cuEventDestroy_v2(p.event);
    return CUDA_SUCCESS;
  }

  /** Opens every gate of context ctx (0: of all contexts), so nothing waits for a guest that will not answer. */
  openAll(ctx = 0): number {
    let opened = 0;
    for (const [token, p] of [...this.#pending]) {
      if (ctx !== 0 && p.slot.ctx !== ctx) continue;
      this.#pending.delete(token);
      this.cuda.cuEventDestroy_v2(p.event);
      opened++;
    }
    for (const [key, slot] of [...this.#slots]) {
      if (ctx !== 0 && slot.ctx !== ctx) continue;
      Atomics.store(this.#page!.u32, slot.index, slot.enqueued);
      if (ctx !== 0) this.#slots.delete(key);
    }
    return opened;
  }

  /** After every context is gone: the page itself. */
  close(): void {
    if (!this.#page) return;
    this.openAll();
    this.cuda.cuMemHostUnregister(this.#page.addr);
    C.munmap(this.#page.addr, PAGE);
    this.#page = null;
    this.#slots.clear();
  }
}
