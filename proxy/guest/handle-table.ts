// A guest's handles: the ids it may name, each bound to one real driver
// object of one kind.  Ids are issued here, never chosen by the guest, and
// never reused within a guest, so a stale id cannot alias a newer object.
import { FIRST_ID } from '../wire/layout.js';

export type HandleKind = 'ctx' | 'stream' | 'event' | 'module' | 'library' | 'function' | 'kernel' | 'hostmem' | 'graph' | 'graphExec' | 'graphNode' | 'vmm';

export interface Handle {
  readonly kind: HandleKind;
  /** The real driver handle (or address). */
  ptr: number;
  /** Context id the object lives in; 0 for context-free objects (contexts, libraries, kernels). */
  readonly ctx: number;
  /**
   * The module or library id the object came from (functions, globals'
   * modules, kernels, a library's modules); 0 for none.  Unloading the parent
   * destroys it in the driver, so its id must go with it.
   */
  readonly parent: number;
}

export class HandleTable {
  #next = FIRST_ID;
  readonly #map = new Map<number, Handle>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.#map.size;
  }

  /** Issues an id for a new object; -1 when the guest already holds `limit` handles. */
  add(kind: HandleKind, ptr: number, ctx: number, parent = 0): number {
    if (this.#map.size >= this.limit) return -1;
    const id = this.#next;
    this.#next = (this.#next + 1) >>> 0;
    this.#map.set(id, { kind, ptr, ctx, parent });
    return id;
  }

  /** Forgets every object that came from module or library `parent` (it was unloaded); returns their ids. */
  dropChildren(parent: number): number[] {
    const dropped: number[] = [];
    for (const [id, h] of this.#map) {
      if (h.parent === parent) {
        dropped.push(id);
        this.#map.delete(id);
      }
    }
    return dropped;
  }

  /** The object behind id if it is of that kind; undefined otherwise (another kind, never issued, or gone). */
  get(id: number, kind: HandleKind): Handle | undefined {
    const h = this.#map.get(id);
    return h !== undefined && h.kind === kind ? h : undefined;
  }

  delete(id: number): void {
    this.#map.delete(id);
  }

  /** Forgets every object that lived in context ctx (the context itself was destroyed); returns their ids. */
  dropContext(ctx: number): number[] {
    const dropped: number[] = [];
    for (const [id, h] of this.#map) {
      if (h.ctx === ctx && h.kind !== 'ctx') {
        dropped.push(id);
        this.#map.delete(id);
      }
    }
    return dropped;
  }

  /** Forgets every handle and issues ids from the first again: as new, for a renewed session (Session.renew). */
  clear(): void {
    this.#map.clear();
    this.#next = FIRST_ID;
  }

  *entries(kind: HandleKind): IterableIterator<[number, Handle]> {
    for (const e of this.#map) if (e[1].kind === kind) yield e;
  }
}
