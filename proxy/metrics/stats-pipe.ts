// The guest server process's end of its figures' pipe (descriptor 4, which
// vgpu-proxy opens as the child's fifth stdio entry): fixed-size snapshots
// (guest-stats.ts) written without blocking.  A full pipe (the main process
// not reading) skips a snapshot rather than stall the guest; a snapshot
// written in part is finished before the next begins, so the main process
// can cut the byte stream every SNAP_BYTES.
import * as fs from 'node:fs';
import * as C from '../native/libc.js';
import type { StatsSink } from './guest-stats.js';

export const STATS_FD = 4;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

export function pipeSink(fd: number = STATS_FD): StatsSink {
  C.fcntl(fd, F_SETFL, C.fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  let rest: Uint8Array | null = null;
  /** Writes what it can of bytes; returns what is left (null when all went). */
  const write = (bytes: Uint8Array): Uint8Array | null => {
    let n = 0;
    try {
      n = fs.writeSync(fd, bytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    return n === bytes.length ? null : bytes.slice(n);
  };
  return (snap) => {
    if (rest) {
      rest = write(rest);
      if (rest) return; // still full: this snapshot is skipped, a later one carries its counts
    }
    const bytes = new Uint8Array(snap.buffer, snap.byteOffset, snap.byteLength);
    const left = write(bytes);
    // Nothing written: skip it whole. Part written: the rest must follow, or the stream loses its frame.
    if (left && left.length < bytes.length) rest = left;
  };
}
