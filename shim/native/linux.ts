// The few Linux calls the shim needs that Node.js does not offer: becoming a
// child subreaper (so container processes that runc leaves behind are ours
// to wait for), waiting for a given pid, pipes, receiving the pty master
// that runc sends over its console socket, and a pty's window size.
// Bound with koffi; scratch memory is mmap'ed and addressed as numbers.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

const prctl = libc.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
const waitpidC = libc.func('int waitpid(int pid, uintptr_t status, int options)');
const pipe2C = libc.func('int pipe2(uintptr_t fds, int flags)');
const socketC = libc.func('int socket(int domain, int type, int protocol)');
const bindC = libc.func('int bind(int fd, uintptr_t addr, uint32_t len)');
const listenC = libc.func('int listen(int fd, int backlog)');
const accept4C = libc.func('int accept4(int fd, uintptr_t addr, uintptr_t len, int flags)');
const recvmsgC = libc.func('intptr_t recvmsg(int fd, uintptr_t msg, int flags)');
const ioctlC = libc.func('int ioctl(int fd, unsigned long req, uintptr_t arg)');
const fcntlC = libc.func('int fcntl(int fd, int cmd, int arg)');
const dupC = libc.func('int dup(int fd)');
export const close = libc.func('int close(int fd)');
const mmapC = libc.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)');
const errnoLocation = libc.func('int *__errno_location()');

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;
const TIOCSWINSZ = 0x5414;
const F_GETFL = 3;
const F_SETFL = 4;
export const EAGAIN = 11;
export const ECHILD = 10;

export function errno(): number {
  return koffi.decode(errnoLocation(), 'int') as number;
}

// One page of private scratch memory for out-parameters (single-threaded use only).
const SCRATCH = 4096;
const scratchAddr = mmapC(0, SCRATCH, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0) as number;
const scratch = new DataView(koffi.view(BigInt(scratchAddr), SCRATCH));
const scratchU8 = new Uint8Array(scratch.buffer);

/** Makes this process the reaper of its orphaned descendants (runc's container processes). */
export function becomeSubreaper(): void {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_CHILD_SUBREAPER): errno ${errno()}`);
}

export type WaitResult = { pid: number; status: number } | null;

/**
 * Reaps pid if it has ended (never blocks).  status is the shell's exit
 * status: the exit code, or 128 + the signal that ended it.  null while it
 * still runs; { pid: -1 } when it is not our child (ECHILD).
 */
export function reap(pid: number): WaitResult {
  const r = waitpidC(pid, scratchAddr, WNOHANG) as number;
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
  if (pipe2C(scratchAddr, O_CLOEXEC) !== 0) throw new Error(`pipe2: errno ${errno()}`);
  return [scratch.getInt32(0, true), scratch.getInt32(4, true)];
}

export function dup(fd: number): number {
  const r = dupC(fd) as number;
  if (r < 0) throw new Error(`dup(${fd}): errno ${errno()}`);
  return r;
}

export function setBlocking(fd: number): void {
  const fl = fcntlC(fd, F_GETFL, 0) as number;
  if (fl >= 0) fcntlC(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/** A listening, non-blocking unix socket at path (runc's --console-socket). */
export function listenUnixNonblocking(path: string): number {
  const p = Buffer.from(path);
  if (p.length >= 108) throw new Error(`console socket path ${path} is longer than 107 bytes`);
  const fd = socketC(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
  if (fd < 0) throw new Error(`socket: errno ${errno()}`);
  scratchU8.fill(0, 0, 110);
  scratch.setUint16(0, AF_UNIX, true);
  scratchU8.set(p, 2);
  if (bindC(fd, scratchAddr, 110) < 0 || listenC(fd, 1) < 0) {
    const e = errno();
    close(fd);
    throw new Error(`listen on ${path}: errno ${e}`);
  }
  return fd;
}

/** accept() without blocking: the connection's fd, or -1 when none is waiting. */
export function tryAccept(fd: number): number {
  const r = accept4C(fd, 0, 0, SOCK_CLOEXEC) as number;
  if (r >= 0) return r;
  const e = errno();
  if (e === EAGAIN) return -1;
  throw new Error(`accept: errno ${e}`);
}

/**
 * Receives one message carrying a descriptor (runc sends the pty master this
 * way) without blocking: the descriptor, -1 when nothing has arrived yet.
 */
export function tryRecvFd(fd: number): number {
  // msghdr at 0 (56 bytes), iovec at 64 (16), control at 128 (64), data at 256 (1024).
  const msg = 0;
  const iov = 64;
  const control = 128;
  const data = 256;
  scratchU8.fill(0, 0, 256);
  const w64 = (off: number, v: number): void => {
    scratch.setUint32(off, v >>> 0, true);
    scratch.setUint32(off + 4, Math.floor(v / 2 ** 32), true);
  };
  w64(iov, scratchAddr + data);
  w64(iov + 8, 1024);
  w64(msg + 16, scratchAddr + iov);
  w64(msg + 24, 1);
  w64(msg + 32, scratchAddr + control);
  w64(msg + 40, 64);
  const n = recvmsgC(fd, scratchAddr + msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) as number;
  if (n < 0) {
    const e = errno();
    if (e === EAGAIN) return -1;
    throw new Error(`recvmsg on the console socket: errno ${e}`);
  }
  // cmsghdr: len (8), level (4), type (4), then the descriptors.
  const level = scratch.getInt32(control + 8, true);
  const type = scratch.getInt32(control + 12, true);
  if (level !== SOL_SOCKET || type !== SCM_RIGHTS) throw new Error('console socket: the message carried no descriptor');
  return scratch.getInt32(control + 16, true);
}

/** Sets a pty's window size (columns, rows). */
export function setWindowSize(fd: number, cols: number, rows: number): void {
  scratch.setUint16(0, rows, true);
  scratch.setUint16(2, cols, true);
  scratch.setUint32(4, 0, true);
  if (ioctlC(fd, TIOCSWINSZ, scratchAddr) < 0) throw new Error(`ioctl(TIOCSWINSZ): errno ${errno()}`);
}
