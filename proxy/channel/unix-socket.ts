// Unix-socket plumbing through libc: listen, accept, messages that carry
// descriptors (SCM_RIGHTS), peer credentials.  Node.js cannot pass
// descriptors, so this goes through koffi.
import * as fs from 'node:fs';
import * as C from '../native/libc.js';

const SUN_PATH_MAX = 108;

/** Creates a listening unix socket at path (replacing a stale socket file). */
export function listenUnix(path: string, scratch: C.NativeMemory, mode = 0o660): number {
  if (Buffer.byteLength(path) >= SUN_PATH_MAX) throw new Error(`socket path ${path} is longer than ${SUN_PATH_MAX - 1} bytes`);
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const fd = C.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket(): errno ${C.errno()}`);
  scratch.u8.fill(0, 0, 2 + SUN_PATH_MAX);
  scratch.dv.setUint16(0, C.AF_UNIX, true);
  scratch.u8.set(Buffer.from(path), 2);
  if (C.bind(fd, scratch.addr, 2 + SUN_PATH_MAX) < 0) {
    const e = C.errno();
    C.close(fd);
    throw new Error(`cannot bind ${path}: errno ${e} (is another vgpu-proxy running, or is the folder missing?)`);
  }
  fs.chmodSync(path, mode);
  if (C.listen(fd, 128) < 0) {
    const e = C.errno();
    C.close(fd);
    throw new Error(`listen on ${path}: errno ${e}`);
  }
  return fd;
}

/** Blocks until a peer connects; returns its descriptor, or -1 once the listener is shut down. */
export function acceptBlocking(listenFd: number): number {
  for (;;) {
    const fd = C.accept4(listenFd, 0, 0, C.SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    const e = C.errno();
    if (e === C.EINTR || e === C.EAGAIN || e === 103 /* ECONNABORTED */) continue;
    return -1;
  }
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export function peerCred(fd: number, scratch: C.NativeMemory): PeerCred {
  scratch.dv.setUint32(16, 12, true);
  if (C.getsockopt(fd, C.SOL_SOCKET, C.SO_PEERCRED, scratch.addr, scratch.addr + 16) < 0) return { pid: 0, uid: -1, gid: -1 };
  return { pid: scratch.dv.getInt32(0, true), uid: scratch.dv.getUint32(4, true), gid: scratch.dv.getUint32(8, true) };
}

/** Waits up to timeoutMs for fd to become readable (or hang up). */
export function waitReadable(fd: number, timeoutMs: number, scratch: C.NativeMemory): 'readable' | 'timeout' | 'closed' {
  scratch.dv.setInt32(0, fd, true);
  scratch.dv.setInt16(4, C.POLLIN, true);
  scratch.dv.setInt16(6, 0, true);
  const r = C.poll(scratch.addr, 1, timeoutMs);
  if (r === 0) return 'timeout';
  if (r < 0) return C.errno() === C.EINTR ? 'timeout' : 'closed';
  const rev = scratch.dv.getInt16(6, true);
  if (rev & (C.POLLERR | C.POLLNVAL)) return 'closed';
  return 'readable';
}

export interface Received {
  bytes: number;
  fds: number[];
  truncated: boolean;
}

const CONTROL_SPACE = 64;
/** Where recvWithFds lays its message out in scratch. */
const RECV = { msg: 0, iov: C.Msghdr.SIZE, control: C.Msghdr.SIZE + C.Iovec.SIZE } as const;

/**
 * Receives one message of at most maxBytes into scratch (at offset dataOff)
 * with any descriptors it carries.  Descriptors arrive close-on-exec.
 */
export function recvWithFds(fd: number, scratch: C.NativeMemory, dataOff: number, maxBytes: number): Received {
  const dv = scratch.dv;
  if (dataOff < RECV.control + CONTROL_SPACE || dataOff + maxBytes > scratch.size) throw new Error('recvWithFds: scratch too small');
  scratch.u8.fill(0, 0, RECV.control + CONTROL_SPACE);
  C.writeMsghdr(dv, scratch.addr, RECV, scratch.addr + dataOff, maxBytes, CONTROL_SPACE);
  let n: number;
  for (;;) {
    n = C.recvmsg(fd, scratch.addr + RECV.msg, C.MSG_CMSG_CLOEXEC | C.MSG_DONTWAIT);
    if (n >= 0 || C.errno() !== C.EINTR) break;
  }
  if (n < 0) return { bytes: -1, fds: [], truncated: false };
  const flags = dv.getInt32(RECV.msg + C.Msghdr.flags, true);
  const fds = C.decodeFds(dv, RECV.control, C.controlLength(dv, RECV.msg), CONTROL_SPACE);
  return { bytes: n, fds, truncated: (flags & C.MSG_CTRUNC) !== 0 };
}

/** Sends all of scratch[dataOff, dataOff+len) on fd; false when the peer is gone. */
export function sendAll(fd: number, scratch: C.NativeMemory, dataOff: number, len: number): boolean {
  let sent = 0;
  while (sent < len) {
    const n = C.send(fd, scratch.addr + dataOff + sent, len - sent, C.MSG_NOSIGNAL);
    if (n < 0) {
      if (C.errno() === C.EINTR) continue;
      return false;
    }
    sent += n;
  }
  return true;
}

export function closeAll(fds: number[]): void {
  for (const fd of fds) if (fd >= 0) C.close(fd);
}
