// One GPU's memory as the kubelet's devices: the memory left after the
// reserve, cut into units of a whole number of MiB, one device id per unit.
// A container that gets N of them is allowed N units, which the shim reads
// from the annotations Allocate answers (the same ones a GPU pod would carry).
import { ANN_VGPU, ANN_VGPU_MEMORY, formatMiB } from '../src/gpu-annotations.js';

export interface Capacity {
  /** the GPU's ordinal, part of each device id */
  gpu: number;
  /** the GPU's device memory, MiB */
  totalMiB: number;
  /** MiB kept back (the driver's own use, other tenants) */
  reserveMiB: number;
  /** MiB per device */
  unitMiB: number;
}

const PREFIX = (gpu: number) => `gpu${gpu}-mem-`;

/** How many units the GPU offers: whole units of what is left after the reserve. */
export function unitCount(c: Capacity): number {
  if (!(c.unitMiB > 0)) throw new RangeError(`the unit must be more than 0 MiB, not ${c.unitMiB}`);
  const left = c.totalMiB - c.reserveMiB;
  if (left < 0) throw new RangeError(`the reserve (${c.reserveMiB} MiB) is more than the GPU's memory (${c.totalMiB} MiB)`);
  return Math.floor(left / c.unitMiB);
}

/** The device ids, "gpu0-mem-0" .. (at most 63 characters, as the API asks). */
export function deviceIds(c: Capacity): string[] {
  return Array.from({ length: unitCount(c) }, (_, i) => `${PREFIX(c.gpu)}${i}`);
}

/** Whether `id` names one of this GPU's units. */
export function isDeviceId(c: Capacity, id: string): boolean {
  const p = PREFIX(c.gpu);
  if (!id.startsWith(p)) return false;
  const n = id.slice(p.length);
  return /^(0|[1-9][0-9]{0,8})$/.test(n) && Number(n) < unitCount(c);
}

/** What Allocate answers for `units` units: the annotations the shim reads (src/gpu-annotations.ts). */
export function allocationAnnotations(units: number, unitMiB: number): Record<string, string> {
  return { [ANN_VGPU]: 'true', [ANN_VGPU_MEMORY]: formatMiB(units * unitMiB) };
}

/**
 * GetPreferredAllocation: the units must-include first, then the lowest
 * available ids (units are interchangeable; keeping to the low ids keeps the
 * kubelet's checkpoint readable).  Never more than `size`.
 */
export function preferredAllocation(available: string[], mustInclude: string[], size: number): string[] {
  const out = [...new Set(mustInclude)];
  const byIndex = (a: string, b: string) => Number(a.slice(a.lastIndexOf('-') + 1)) - Number(b.slice(b.lastIndexOf('-') + 1)) || a.localeCompare(b);
  for (const id of [...new Set(available)].sort(byIndex)) {
    if (out.length >= size) break;
    if (!out.includes(id)) out.push(id);
  }
  return out.slice(0, Math.max(size, 0));
}
