// The few Linux calls the shim needs that Node.js does not offer: becoming a
// child subreaper (so container processes that runc leaves behind are ours
// to wait for), waiting for a given pid, pipes, receiving the pty master
// that runc sends over its console socket, and a pty's window size.
// The calls are bound once, in src/native/libc.ts; this file keeps the
// shim's page of scratch memory (mmap'ed, addressed as a number).
import koffi from 'koffi';
import * as C from '../../src/native/libc.js';

export const { close, EAGAIN, ECHILD, errno } = C;

// One page of private scratch memory for out-parameters (single-threaded use only).
const SCRATCH = 4096;
const scratchAddr = C.mapAnonymous(SCRATCH);
const scratch = new DataView(koffi.view(BigInt(scratchAddr), SCRATCH));
const scratchU8 = new Uint8Array(scratch.buffer);

/** Makes this process the reaper of its orphaned descendants (runc's container processes). */
export function becomeSubreaper(): void {
  if (C.prctl(C.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_CHILD_SUBREAPER): errno ${errno()}`);
}

export type WaitResult = { pid: number; status: number } | null;

/**
 * Reaps pid if it has ended (never blocks).  status is the shell's exit
 * status: the exit code, or 128 + the signal that ended it.  null while it
 * still runs; { pid: -1 } when it is not our child (ECHILD).
 */
export function reap(pid: number): WaitResult {
  const r = C.waitpid(pid, scratchAddr, C.WNOHANG) as number;
  if (r === 0) return null;
  if (r < 0) return errno() === ECHILD ? { pid: -1, status: 0 } : null;
  const raw = scratch.getInt32(0, true);
  const sig = raw & 0x7f;
  return { pid: r, status: sig === 0 ? (raw >> 8) & 0xff : 128 + sig };
}

/** pid's children (all threads), from /proc; empty where the kernel lacks CONFIG_PROC_CHILDREN. */
export { childrenOf } from './proc.js';

/** A pipe, both ends close-on-exec: [read, write]. */
export function pipe(): [number, number] {
  if (C.pipe2(scratchAddr, C.O_CLOEXEC) !== 0) throw new Error(`pipe2: errno ${errno()}`);
  return [scratch.getInt32(0, true), scratch.getInt32(4, true)];
}

export function dup(fd: number): number {
  const r = C.dup(fd) as number;
  if (r < 0) throw new Error(`dup(${fd}): errno ${errno()}`);
  return r;
}

export function setBlocking(fd: number): void {
  const fl = C.fcntl(fd, C.F_GETFL, 0) as number;
  if (fl >= 0) C.fcntl(fd, C.F_SETFL, fl & ~C.O_NONBLOCK);
}

/** A listening, non-blocking unix socket at path (runc's --console-socket). */
export function listenUnixNonblocking(path: string): number {
  const p = Buffer.from(path);
  if (p.length >= 108) throw new Error(`console socket path ${path} is longer than 107 bytes`);
  const fd = C.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0) as number;
  if (fd < 0) throw new Error(`socket: errno ${errno()}`);
  scratchU8.fill(0, 0, 110);
  scratch.setUint16(0, C.AF_UNIX, true);
  scratchU8.set(p, 2);
  if (C.bind(fd, scratchAddr, 110) < 0 || C.listen(fd, 1) < 0) {
    const e = errno();
    close(fd);
    throw new Error(`listen on ${path}: errno ${e}`);
  }
  return fd;
}

/** accept() without blocking: the connection's fd, or -1 when none is waiting. */
export function tryAccept(fd: number): number {
  const r = C.accept4(fd, 0, 0, C.SOCK_CLOEXEC) as number;
  if (r >= 0) return r;
  const e = errno();
  if (e === EAGAIN) return -1;
  throw new Error(`accept: errno ${e}`);
}

/** Where tryRecvFd lays its message out in the scratch page. */
const RECV_FD = { msg: 0, iov: 64, control: 128, controlLen: 64, data: 256, dataLen: 1024 } as const;

/**
 * Receives one message carrying a descriptor (runc sends the pty master this
 * way) without blocking: the descriptor, -1 when nothing has arrived yet.
 */
export function tryRecvFd(fd: number): number {
  scratchU8.fill(0, 0, RECV_FD.data);
  C.writeMsghdr(scratch, scratchAddr, RECV_FD, scratchAddr + RECV_FD.data, RECV_FD.dataLen, RECV_FD.controlLen);
  const n = C.recvmsg(fd, scratchAddr + RECV_FD.msg, C.MSG_DONTWAIT | C.MSG_CMSG_CLOEXEC) as number;
  if (n < 0) {
    const e = errno();
    if (e === EAGAIN) return -1;
    throw new Error(`recvmsg on the console socket: errno ${e}`);
  }
  const fds = C.decodeFds(scratch, RECV_FD.control, C.controlLength(scratch, RECV_FD.msg), RECV_FD.controlLen);
  if (fds.length === 0) throw new Error('console socket: the message carried no descriptor');
  return fds[0]!;
}

/** Sets a pty's window size (columns, rows). */
export function setWindowSize(fd: number, cols: number, rows: number): void {
  scratch.setUint16(0, rows, true);
  scratch.setUint16(2, cols, true);
  scratch.setUint32(4, 0, true);
  if (C.ioctl(fd, C.TIOCSWINSZ, scratchAddr) < 0) throw new Error(`ioctl(TIOCSWINSZ): errno ${errno()}`);
}
