// libc, bound once for the whole project (the proxy, the shim and the test
// harnesses import it; none loads libc.so.6 itself): the calls Node.js does
// not offer, one koffi signature each, their constants, and the msghdr and
// SCM_RIGHTS layouts for passing descriptors over unix sockets.
// Addresses travel as plain numbers (user-space addresses fit in 47 bits);
// a call's memory is the caller's (proxy/native/libc.ts has the proxy's
// scratch views, shim/native/linux.ts the shim's page).
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

// --- constants (x86-64 and aarch64 Linux agree on all of these) ---
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
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
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_ADD_SEALS = 1033;
export const F_GET_SEALS = 1034;
export const F_SEAL_SHRINK = 0x2;
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
export const SEEK_END = 2;
export const WNOHANG = 1;
export const PR_SET_PDEATHSIG = 1;
export const PR_SET_CHILD_SUBREAPER = 36;
export const SIGKILL = 9;
export const TIOCSWINSZ = 0x5414;
export const EINTR = 4;
export const ECHILD = 10;
export const EAGAIN = 11;
export const SYS_futex = 202;

// --- calls, one signature each ---
export const socket = libc.func('int socket(int domain, int type, int protocol)');
export const socketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
export const bind = libc.func('int bind(int fd, uintptr_t addr, uint32_t len)');
export const listen = libc.func('int listen(int fd, int backlog)');
export const accept4 = libc.func('int accept4(int fd, uintptr_t addr, uintptr_t len, int flags)');
export const close = libc.func('int close(int fd)');
export const recvmsg = libc.func('intptr_t recvmsg(int fd, uintptr_t msg, int flags)');
export const sendmsg = libc.func('intptr_t sendmsg(int fd, uintptr_t msg, int flags)');
export const send = libc.func('intptr_t send(int fd, uintptr_t buf, size_t len, int flags)');
export const recv = libc.func('intptr_t recv(int fd, uintptr_t buf, size_t len, int flags)');
export const getsockopt = libc.func('int getsockopt(int fd, int level, int name, uintptr_t val, uintptr_t len)');
export const shutdown = libc.func('int shutdown(int fd, int how)');
/** poll(2) on struct pollfd { int fd; short events; short revents; } at fds (also called .async, on libuv's pool). */
export const poll = libc.func('int poll(uintptr_t fds, unsigned long nfds, int timeout)');
/** open(2); mode matters only with O_CREAT (pass 0). */
export const open = libc.func('int open(const char *path, int flags, int mode)');
export const read = libc.func('intptr_t read(int fd, uintptr_t buf, size_t len)');
export const write = libc.func('intptr_t write(int fd, uintptr_t buf, size_t len)');
export const ioctl = libc.func('int ioctl(int fd, unsigned long req, uintptr_t arg)');
export const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
export const dup = libc.func('int dup(int fd)');
export const pipe2 = libc.func('int pipe2(uintptr_t fds, int flags)');
export const lseek = libc.func('int64_t lseek(int fd, int64_t off, int whence)');
export const ftruncate = libc.func('int ftruncate(int fd, int64_t len)');
export const memfdCreate = libc.func('int memfd_create(const char *name, unsigned int flags)');
const mmapRaw = libc.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t off)');
export const munmap = libc.func('int munmap(uintptr_t addr, size_t len)');
export const waitpid = libc.func('int waitpid(int pid, uintptr_t status, int options)');
export const prctl = libc.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
export const getppid = libc.func('int getppid()');
export const syscall = libc.func('long syscall(long nr, uintptr_t a, long b, long c, uintptr_t d, uintptr_t e, long f)');
const errnoLocation = libc.func('int *__errno_location()');

/** errno of the last failed libc call on this thread. */
export function errno(): number {
  return koffi.decode(errnoLocation(), 'int') as number;
}

/**
 * mmap; returns -1 on failure.  koffi hands back MAP_FAILED ((void *)-1) as a BigInt (it does not
 * fit a JS number), so a failure is any answer that is not a number.
 */
export function mmap(addr: number, len: number, prot: number, flags: number, fd: number, off: number): number {
  const r = mmapRaw(addr, len, prot, flags, fd, off) as number | bigint;
  return typeof r === 'number' ? r : -1;
}

/** Private anonymous read-write memory of size bytes: its address, or -1 (errno says why). */
export function mapAnonymous(size: number): number {
  const addr = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return addr === MAP_FAILED ? -1 : addr;
}

// --- messages that carry descriptors (LP64 layouts of <sys/socket.h>) ---

/** struct msghdr */
export const Msghdr = { SIZE: 56, name: 0, namelen: 8, iov: 16, iovlen: 24, control: 32, controllen: 40, flags: 48 } as const;
/** struct iovec */
export const Iovec = { SIZE: 16, base: 0, len: 8 } as const;
/** struct cmsghdr; its data follows at SIZE, and each message is padded to 8 bytes. */
export const Cmsghdr = { SIZE: 16, len: 0, level: 8, type: 12 } as const;

const setU64 = (dv: DataView, off: number, v: number): void => dv.setBigUint64(off, BigInt(v), true);
const getU64 = (dv: DataView, off: number): number => Number(dv.getBigUint64(off, true));

/** Where one message's parts lie in a caller's memory (dv at address addr): offsets from addr. */
export interface MsgAt {
  msg: number;
  iov: number;
  control: number;
}

/**
 * Fills a zeroed msghdr at.msg for one data buffer (dataAddr, dataLen) and a
 * control area of controlLen bytes at at.control (none when 0).
 */
export function writeMsghdr(dv: DataView, addr: number, at: MsgAt, dataAddr: number, dataLen: number, controlLen: number): void {
  setU64(dv, at.iov + Iovec.base, dataAddr);
  setU64(dv, at.iov + Iovec.len, dataLen);
  setU64(dv, at.msg + Msghdr.iov, addr + at.iov);
  setU64(dv, at.msg + Msghdr.iovlen, 1);
  setU64(dv, at.msg + Msghdr.control, controlLen ? addr + at.control : 0);
  setU64(dv, at.msg + Msghdr.controllen, controlLen);
}

/** Writes one SCM_RIGHTS message carrying fds at off (zeroed beforehand); returns the control length it takes (CMSG_SPACE). */
export function encodeFds(dv: DataView, off: number, fds: readonly number[]): number {
  const len = Cmsghdr.SIZE + 4 * fds.length;
  setU64(dv, off + Cmsghdr.len, len);
  dv.setInt32(off + Cmsghdr.level, SOL_SOCKET, true);
  dv.setInt32(off + Cmsghdr.type, SCM_RIGHTS, true);
  fds.forEach((fd, i) => dv.setInt32(off + Cmsghdr.SIZE + 4 * i, fd, true));
  return (len + 7) & ~7;
}

/**
 * The descriptors of every SCM_RIGHTS message in the control area at off
 * (controlLen bytes as the kernel reported, space bytes as the caller
 * provided); a malformed message ends the walk.
 */
export function decodeFds(dv: DataView, off: number, controlLen: number, space: number): number[] {
  const fds: number[] = [];
  let at = 0;
  while (at + Cmsghdr.SIZE <= controlLen && at + Cmsghdr.SIZE <= space) {
    const clen = getU64(dv, off + at + Cmsghdr.len);
    const level = dv.getInt32(off + at + Cmsghdr.level, true);
    const type = dv.getInt32(off + at + Cmsghdr.type, true);
    if (clen < Cmsghdr.SIZE || at + clen > space) break;
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = Cmsghdr.SIZE; p + 4 <= clen; p += 4) fds.push(dv.getInt32(off + at + p, true));
    }
    at += (clen + 7) & ~7;
  }
  return fds;
}

/** The controllen the kernel wrote back into the msghdr at msg. */
export function controlLength(dv: DataView, msg: number): number {
  return getU64(dv, msg + Msghdr.controllen);
}
