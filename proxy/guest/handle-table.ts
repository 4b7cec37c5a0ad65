// A guest's handles: the ids it may name, each bound to one real driver
// object of one kind.  Ids are issued here, never chosen by the guest, and
// never reused within a guest, so a stale id cannot alias a newer object.
import { FIRST_ID } from '../wire/layout.js';

export type HandleKind = 'ctx' | 'stream' | 'event' | 'module' | 'library' | 'function' | 'kernel' | 'hostmem' | 'graph' | 'graphExec' | 'vmm';

export interface Handle {
  readonly kind: HandleKind;
  /** The real driver handle (or address). */
  ptr: number;
  /** Context id the object lives in; 0 for context-free objects (contexts, libraries, kernels). */
  readonly ctx: number;
}

export class HandleTable {
  #next = FIRST_ID;
  readonly #map = new Map<number, Handle>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.#map.size;
  }

  /** Issues an id for a new object; -1 when the guest already holds `limit` handles. */
  add(kind: HandleKind, ptr: number, ctx: number): number {
    if (this.#map.size >= this.limit) return -1;
    const id = this.#next;
    this.#next = (this.#next + 1) >>> 0;
    this.#map.set(id, { kind, ptr, ctx });
    return id;
  }

  /** The object behind id if it is of that kind; undefined otherwise (another kind, never issued, or gone). */
  get(id: number, kind: HandleKind): Handle | undefined {
    const h = this.#map.get(id);
    return h !== undefined && h.kind === kind ? h : undefined;
  }

  delete(id: number): void {
    this.#map.delete(id);
  }

  /** Forgets every object that lived in context ctx (the context itself was destroyed). */
  dropContext(ctx: number): Handle[] {
    const dropped: Handle[] = [];
    for (const [id, h] of this.#map) {
      if (h.ctx === ctx && h.kind !== 'ctx') {
        dropped.push(h);
        this.#map.delete(id);
      }
    }
    return dropped;
  }

  *entries(kind: HandleKind): IterableIterator<[number, Handle]> {
    for (const e of this.#map) if (e[1].kind === kind) yield e;
  }
}
