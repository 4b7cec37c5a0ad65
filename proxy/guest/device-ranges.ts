// The device address ranges a guest owns (its allocations, module globals,
// mapped host memory, its mappings of the virtual-memory API).  Every device address a guest names in a copy or a
// memset must lie inside one of them: the driver itself would accept any
// address of the process, another guest's included.
export type RangeKind = 'alloc' | 'global' | 'hostmem' | 'vmm';

export interface DeviceRange {
  readonly start: number;
  readonly end: number;
  readonly kind: RangeKind;
  readonly ctx: number;
  /** The module or library id a global belongs to (0: none): unloading it frees the global's memory. */
  readonly owner: number;
}

export class DeviceRanges {
  /** Sorted by start, non-overlapping. */
  readonly #ranges: DeviceRange[] = [];
  #allocBytes = 0;

  /** Bytes of device memory the guest holds through allocations. */
  get allocatedBytes(): number {
    return this.#allocBytes;
  }

  /** Ranges held. */
  get size(): number {
    return this.#ranges.length;
  }

  #index(addr: number): number {
    let lo = 0;
    let hi = this.#ranges.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#ranges[mid]!.start <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  add(start: number, bytes: number, kind: RangeKind, ctx: number, owner = 0): void {
    const at = this.#index(start) + 1;
    const prev = this.#ranges[at - 1];
    // Globals of one module may be asked for twice: the same range, nothing to add.
    if (prev && prev.start === start && prev.end === start + bytes) return;
    this.#ranges.splice(at, 0, { start, end: start + bytes, kind, ctx, owner });
    if (kind === 'alloc') this.#allocBytes += bytes;
  }

  /** The range that starts exactly at start, if the guest owns one. */
  at(start: number): DeviceRange | undefined {
    const i = this.#index(start);
    const r = i >= 0 ? this.#ranges[i] : undefined;
    return r && r.start === start ? r : undefined;
  }

  remove(start: number): DeviceRange | undefined {
    const i = this.#index(start);
    const r = i >= 0 ? this.#ranges[i] : undefined;
    if (!r || r.start !== start) return undefined;
    this.#ranges.splice(i, 1);
    if (r.kind === 'alloc') this.#allocBytes -= r.end - r.start;
    return r;
  }

  /**
   * True when [addr, addr + bytes) lies inside ranges the guest owns: one, or
   * several that follow one another without a gap (virtual-memory mappings
   * side by side, as PyTorch's expandable segments grow).
   */
  covers(addr: number, bytes: number): boolean {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(bytes) || bytes < 0) return false;
    let i = this.#index(addr);
    if (i < 0) return false;
    let r = this.#ranges[i]!;
    const end = addr + bytes;
    if (addr >= r.end && bytes > 0) return false;
    // Each step moves to the next range, so the walk ends within the list.
    while (end > r.end) {
      const next = this.#ranges[++i];
      if (next === undefined || next.start !== r.end) return false;
      r = next;
    }
    return true;
  }

  /** Forgets the globals of an unloaded module or library. */
  dropOwner(owner: number): void {
    for (let i = this.#ranges.length - 1; i >= 0; i--) {
      const r = this.#ranges[i]!;
      if (r.owner === owner) this.#ranges.splice(i, 1);
    }
  }

  /** Forgets the ranges of a destroyed context. */
  dropContext(ctx: number): void {
    for (let i = this.#ranges.length - 1; i >= 0; i--) {
      const r = this.#ranges[i]!;
      if (r.ctx === ctx) {
        this.#ranges.splice(i, 1);
        if (r.kind === 'alloc') this.#allocBytes -= r.end - r.start;
      }
    }
  }
}
