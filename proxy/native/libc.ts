// The proxy's side of libc: the shared bindings (src/native/libc.ts, bound
// once for the project) plus what only the proxy uses: futex wake, views of
// native memory at known addresses, private scratch, and u64 fields that fit
// a JS number.
import koffi from 'koffi';
import { errno, mapAnonymous, syscall, SYS_futex } from '../../src/native/libc.js';

export * from '../../src/native/libc.js';

const FUTEX_WAKE = 1;

/** Wakes every thread sleeping on the 32-bit futex word at addr (any process sharing the page). */
export function futexWakeAll(addr: number): void {
  syscall(SYS_futex, addr, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
}

/** A view of native memory at a known address, for building and reading C structs. */
export interface NativeMemory {
  readonly addr: number;
  readonly size: number;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly u32: Uint32Array;
}

export function viewAt(addr: number, size: number): NativeMemory {
  const ab = koffi.view(BigInt(addr), size);
  return { addr, size, u8: new Uint8Array(ab), dv: new DataView(ab), u32: new Uint32Array(ab, 0, Math.floor(size / 4)) };
}

/** Private anonymous memory, for out-parameters and message buffers. */
export function allocScratch(size: number): NativeMemory {
  const addr = mapAnonymous(size);
  if (addr === -1) throw new Error(`mmap of ${size} bytes of scratch memory failed: errno ${errno()}`);
  return viewAt(addr, size);
}

/** Reads a little-endian uint64 that is known to fit a JS number (addresses, sizes below 2^53). */
export function readU64(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 0x1_0000_0000;
}

export function writeU64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
}
