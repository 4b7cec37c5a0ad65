// What a guest holds through the virtual-memory API (cuMemCreate,
// cuMemAddressReserve, cuMemMap): its physical allocations, its reserved
// address ranges and the mappings between them.  Pure bookkeeping, no
// driver calls: the ops in ops/vmm.ts ask it whether a request names only
// what the guest owns, call the driver, then record the outcome here.
//
// The rules it keeps, the driver's own:
// - A physical allocation lives while the guest holds a reference to its
//   handle (cuMemCreate, cuMemRetainAllocationHandle, an import) or while it
//   is mapped anywhere; its bytes count against the guest's device-memory
//   quota for all that time, exactly like cuMemAlloc's.
// - A mapping lies inside one reservation of the guest and overlaps no other
//   mapping.  Mapped ranges are device memory the guest owns (DeviceRanges,
//   kind 'vmm'), so copies and memsets may name them.
// - A reservation is freed whole, and only once nothing is mapped in it.
import type { DeviceRanges } from './device-ranges.js';

export interface PhysicalAllocation {
  /** The guest's handle: an id of the guest's handle table. */
  readonly id: number;
  /** The real CUmemGenericAllocationHandle while refs > 0 (the proxy holds one driver reference for all of the guest's). */
  real: bigint;
  readonly bytes: number;
  /** References the guest holds (create, retain, import), each released by one cuMemRelease. */
  refs: number;
  /** Of those, the ones held through the handle cuMemCreate gave (create, retain); the others are imports' own. */
  ownRefs: number;
  /** Mappings of it. */
  maps: number;
}

export interface Reservation {
  readonly start: number;
  readonly end: number;
}

export interface Mapping {
  readonly start: number;
  readonly end: number;
  readonly alloc: PhysicalAllocation;
  readonly offset: number;
}

/** Index of the last entry whose start <= addr, or -1 (entries sorted by start). */
function lastAtOrBefore<T extends { start: number }>(list: readonly T[], addr: number): number {
  let lo = 0;
  let hi = list.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.start <= addr) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

function insertSorted<T extends { start: number }>(list: T[], item: T): void {
  list.splice(lastAtOrBefore(list, item.start) + 1, 0, item);
}

export class VmmTable {
  readonly #allocs = new Map<number, PhysicalAllocation>();
  /**
   * Handles from cuMemImportFromShareableHandle: an id of their own for an
   * allocation the guest already holds (the driver too hands out a new handle,
   * whose properties show no requested handle types).  Each holds one of the
   * allocation's references.
   */
  readonly #imported = new Map<number, PhysicalAllocation>();
  readonly #reservations: Reservation[] = [];
  readonly #mappings: Mapping[] = [];
  #physicalBytes = 0;
  #reservedBytes = 0;

  constructor(readonly ranges: DeviceRanges) {}

  /** Device memory held through physical allocations, bytes (counts against the quota). */
  get physicalBytes(): number {
    return this.#physicalBytes;
  }

  /** Virtual address space reserved, bytes. */
  get reservedBytes(): number {
    return this.#reservedBytes;
  }

  get counts(): { allocations: number; reservations: number; mappings: number } {
    return { allocations: this.#allocs.size, reservations: this.#reservations.length, mappings: this.#mappings.length };
  }

  // --- physical allocations ---

  addAllocation(id: number, real: bigint, bytes: number): PhysicalAllocation {
    const a: PhysicalAllocation = { id, real, bytes, refs: 1, ownRefs: 1, maps: 0 };
    this.#allocs.set(id, a);
    this.#physicalBytes += bytes;
    return a;
  }

  /** The allocation behind a handle the guest still holds a reference to (its own or an imported one). */
  held(id: number): PhysicalAllocation | undefined {
    const imported = this.#imported.get(id);
    if (imported !== undefined) return imported;
    const a = this.#allocs.get(id);
    // The creator's handle is gone with its own references, though an import may still hold the memory.
    return a !== undefined && a.ownRefs > 0 ? a : undefined;
  }

  /** Whether id is a handle from an import (not the one cuMemCreate gave). */
  isImported(id: number): boolean {
    return this.#imported.has(id);
  }

  /** A new handle id for an allocation the guest holds, from an import: one more reference. */
  addImport(id: number, a: PhysicalAllocation): void {
    this.#imported.set(id, a);
    a.refs++;
  }

  /**
   * Drops one of the guest's references.  Returns whether the proxy must now
   * release its driver reference (the guest's last one went), and whether the
   * allocation is gone (nothing maps it either); undefined when the guest holds none.
   * An imported handle is gone with its one reference (its id is free again).
   */
  release(id: number): { releaseReal: boolean; gone: boolean } | undefined {
    const a = this.held(id);
    if (!a) return undefined;
    if (!this.#imported.delete(id)) a.ownRefs--;
    a.refs--;
    if (a.refs > 0) return { releaseReal: false, gone: false };
    return { releaseReal: true, gone: this.#forgetIfUnused(a) };
  }

  #forgetIfUnused(a: PhysicalAllocation): boolean {
    if (a.refs > 0 || a.maps > 0) return false;
    this.#allocs.delete(a.id);
    this.#physicalBytes -= a.bytes;
    return true;
  }

  // --- reservations ---

  addReservation(start: number, bytes: number): void {
    insertSorted(this.#reservations, { start, end: start + bytes });
    this.#reservedBytes += bytes;
  }

  /** The reservation that holds all of [addr, addr + bytes), if the guest made one. */
  reservationHolding(addr: number, bytes: number): Reservation | undefined {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(bytes) || bytes <= 0) return undefined;
    const i = lastAtOrBefore(this.#reservations, addr);
    const r = i >= 0 ? this.#reservations[i] : undefined;
    return r !== undefined && addr + bytes <= r.end ? r : undefined;
  }

  /** Why [start, start + bytes) cannot be freed ('not-reserved', 'mapped'), or null when it can. */
  whyNotFreeable(start: number, bytes: number): 'not-reserved' | 'mapped' | null {
    const r = this.reservationHolding(start, bytes);
    if (!r || r.start !== start || r.end !== start + bytes) return 'not-reserved';
    return this.mappingsIn(start, bytes).length > 0 ? 'mapped' : null;
  }

  removeReservation(start: number): void {
    const i = lastAtOrBefore(this.#reservations, start);
    const r = i >= 0 ? this.#reservations[i] : undefined;
    if (!r || r.start !== start) return;
    this.#reservations.splice(i, 1);
    this.#reservedBytes -= r.end - r.start;
  }

  // --- mappings ---

  /** The mappings that intersect [addr, addr + bytes), in address order. */
  mappingsIn(addr: number, bytes: number): Mapping[] {
    const out: Mapping[] = [];
    const end = addr + bytes;
    let i = Math.max(0, lastAtOrBefore(this.#mappings, addr));
    for (; i < this.#mappings.length; i++) {
      const m = this.#mappings[i]!;
      if (m.start >= end) break;
      if (m.end > addr) out.push(m);
    }
    return out;
  }

  /** The mapping that holds addr. */
  mappingAt(addr: number): Mapping | undefined {
    const i = lastAtOrBefore(this.#mappings, addr);
    const m = i >= 0 ? this.#mappings[i] : undefined;
    return m !== undefined && addr < m.end ? m : undefined;
  }

  addMapping(start: number, bytes: number, alloc: PhysicalAllocation, offset: number): void {
    insertSorted(this.#mappings, { start, end: start + bytes, alloc, offset });
    alloc.maps++;
    this.ranges.add(start, bytes, 'vmm', 0);
  }

  /**
   * Forgets the mappings that intersect [addr, addr + bytes) (the driver has
   * unmapped them); returns the allocations that went with them.
   */
  removeMappings(addr: number, bytes: number): PhysicalAllocation[] {
    const gone: PhysicalAllocation[] = [];
    for (const m of this.mappingsIn(addr, bytes)) {
      this.#mappings.splice(this.#mappings.indexOf(m), 1);
      this.ranges.remove(m.start);
      m.alloc.maps--;
      if (this.#forgetIfUnused(m.alloc)) gone.push(m.alloc);
    }
    return gone;
  }

  /** Takes a reference again on a mapped allocation (cuMemRetainAllocationHandle); true when the proxy needs a driver reference anew. */
  retain(a: PhysicalAllocation): boolean {
    a.refs++;
    a.ownRefs++;
    return a.refs === 1;
  }

  /** Everything, for the release of a guest that left: mappings, allocations still referenced, reservations. */
  takeAll(): { mappings: Mapping[]; referenced: PhysicalAllocation[]; reservations: Reservation[] } {
    const mappings = this.#mappings.splice(0);
    for (const m of mappings) this.ranges.remove(m.start);
    const referenced = [...this.#allocs.values()].filter((a) => a.refs > 0);
    const reservations = this.#reservations.splice(0);
    this.#allocs.clear();
    this.#imported.clear();
    this.#physicalBytes = 0;
    this.#reservedBytes = 0;
    return { mappings, referenced, reservations };
  }
}
