// The few libc calls the proxy needs that Node.js does not offer: unix
// sockets with descriptor passing, poll, mmap, eventfd reads and futex wake.
// Bound with koffi; addresses travel as plain numbers (user-space addresses
// fit in 47 bits).
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const SCM_RIGHTS = 1;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const MSG_CTRUNC = 0x8;
export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const MAP_PRIVATE = 2;
export const MAP_ANONYMOUS = 0x20;
export const MAP_FAILED = 2 ** 64 - 1;
export const F_GET_SEALS = 1034;
export const F_SEAL_SHRINK = 0x2;
export const SEEK_END = 2;
export const EINTR = 4;
export const EAGAIN = 11;
const SYS_futex = 202;
const FUTEX_WAKE = 1;

export const socket = libc.func('int socket(int domain, int type, int protocol)');
export const bind = libc.func('int bind(int fd, uintptr_t addr, uint32_t len)');
export const listen = libc.func('int listen(int fd, int backlog)');
export const accept4 = libc.func('int accept4(int fd, uintptr_t addr, uintptr_t len, int flags)');
export const close = libc.func('int close(int fd)');
export const recvmsg = libc.func('intptr_t recvmsg(int fd, uintptr_t msg, int flags)');
export const send = libc.func('intptr_t send(int fd, uintptr_t buf, size_t len, int flags)');
export const recv = libc.func('intptr_t recv(int fd, uintptr_t buf, size_t len, int flags)');
export const poll = libc.func('int poll(uintptr_t fds, unsigned long nfds, int timeout)');
export const read = libc.func('intptr_t read(int fd, uintptr_t buf, size_t len)');
const mmapRaw = libc.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)');
/**
 * mmap; returns -1 on failure.  koffi hands back MAP_FAILED ((void *)-1) as a BigInt (it does not
 * fit a JS number), so a failure is any answer that is not a number.
 */
export function mmap(addr: number, len: number, prot: number, flags: number, fd: number, off: number): number {
  const r = mmapRaw(addr, len, prot, flags, fd, off) as number | bigint;
  return typeof r === 'number' ? r : -1;
}
export const munmap = libc.func('int munmap(uintptr_t addr, size_t len)');
export const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
export const lseek = libc.func('int64_t lseek(int fd, int64_t off, int whence)');
export const getsockopt = libc.func('int getsockopt(int fd, int level, int name, uintptr_t val, uintptr_t len)');
export const shutdown = libc.func('int shutdown(int fd, int how)');
export const prctl = libc.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
export const getppid = libc.func('int getppid()');
export const PR_SET_PDEATHSIG = 1;
export const SIGKILL = 9;
const errnoLocation = libc.func('int *__errno_location()');
const syscall6 = libc.func('long syscall(long nr, uintptr_t a, long b, long c, uintptr_t d, uintptr_t e, long f)');

/** errno of the last failed libc call on this thread. */
export function errno(): number {
  const p = errnoLocation();
  return koffi.decode(p, 'int') as number;
}

/** Wakes every thread sleeping on the 32-bit futex word at addr (any process sharing the page). */
export function futexWakeAll(addr: number): void {
  syscall6(SYS_futex, addr, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
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
  const addr = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) as number;
  if (addr === MAP_FAILED || addr === -1) throw new Error(`mmap of ${size} bytes of scratch memory failed: errno ${errno()}`);
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
