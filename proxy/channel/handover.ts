// The shm transport's hand-over: a guest connects, sends vgpu_hello with its
// region (a sealed memfd) and the eventfd that wakes the proxy; the proxy
// checks both, maps the region and answers vgpu_welcome.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { ChannelFault } from './errors.js';
import { Region } from './region.js';
import { closeAll, PeerCred, peerCred, recvWithFds, sendAll, waitReadable } from './unix-socket.js';

const HELLO_TIMEOUT_MS = 10_000;
const DATA_OFF = 256;

export interface Handover {
  region: Region;
  regionFd: number;
  wakeFd: number;
  cred: PeerCred;
  client: string;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('utf8').replace(/[^\x20-\x7e]/g, '?');
}

/** Size of a memfd, after checking it is sealed against shrinking. */
export function sealedSize(fd: number, what: string): number {
  const seals = C.fcntl(fd, C.F_GET_SEALS, 0);
  if (seals < 0 || (seals & C.F_SEAL_SHRINK) === 0) {
    throw new ChannelFault('handover_failed', `${what} is not a memfd sealed against shrinking (seals ${seals}); the proxy would fault if it shrank`);
  }
  const size = Number(C.lseek(fd, 0, C.SEEK_END));
  if (!(size > 0)) throw new ChannelFault('handover_failed', `${what} has no size`);
  return size;
}

export function mapShared(fd: number, size: number, what: string): number {
  const addr = C.mmap(0, size, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, fd, 0) as number;
  if (addr === C.MAP_FAILED || addr === -1) throw new ChannelFault('handover_failed', `cannot map ${what} (${size} bytes): errno ${C.errno()}`);
  return addr;
}

export function acceptHandover(sock: number, scratch: C.NativeMemory): Handover {
  const cred = peerCred(sock, scratch);
  const state = waitReadable(sock, HELLO_TIMEOUT_MS, scratch);
  if (state !== 'readable') throw new ChannelFault('bad_hello', state === 'timeout' ? `no hello within ${HELLO_TIMEOUT_MS} ms` : 'peer closed before its hello');
  const got = recvWithFds(sock, scratch, DATA_OFF, W.Hello.SIZE);
  const fds = got.fds;
  let mapped = 0;
  let mappedSize = 0;
  try {
    if (got.bytes !== W.Hello.SIZE) throw new ChannelFault('bad_hello', `hello of ${got.bytes} bytes, want ${W.Hello.SIZE}`);
    if (got.truncated || fds.length !== 2) throw new ChannelFault('bad_hello', `hello carries ${fds.length} descriptors, want 2 (region, eventfd)`);
    const dv = new DataView(scratch.u8.buffer, DATA_OFF, W.Hello.SIZE);
    if (dv.getUint32(W.Hello.magic, true) !== W.HELLO_MAGIC) throw new ChannelFault('bad_hello', 'hello magic is wrong: not a libvgpu client');
    const major = dv.getUint16(W.Hello.version_major, true);
    if (major !== W.VERSION_MAJOR) throw new ChannelFault('bad_version', `guest speaks wire version ${major}, this proxy ${W.VERSION_MAJOR}`);
    const client = cString(scratch.u8.subarray(DATA_OFF + W.Hello.client, DATA_OFF + W.Hello.client + 64));
    const [regionFd, wakeFd] = fds as [number, number];
    mappedSize = sealedSize(regionFd, 'the region');
    if (mappedSize > W.CTRL_SIZE + 2 * W.RING_MAX + W.ARENA_MAX) throw new ChannelFault('bad_layout', `region of ${mappedSize} bytes is larger than any valid layout`);
    mapped = mapShared(regionFd, mappedSize, 'the region');
    const region = Region.map(mapped, mappedSize);
    return { region, regionFd, wakeFd, cred, client };
  } catch (err) {
    if (mapped) C.munmap(mapped, mappedSize);
    closeAll(fds);
    throw err;
  }
}

export function sendWelcome(sock: number, scratch: C.NativeMemory, status: number, guestId: number, message: string): boolean {
  const dv = new DataView(scratch.u8.buffer, DATA_OFF, W.Welcome.SIZE);
  scratch.u8.fill(0, DATA_OFF, DATA_OFF + W.Welcome.SIZE);
  dv.setUint32(W.Welcome.magic, W.HELLO_MAGIC, true);
  dv.setInt32(W.Welcome.status, status, true);
  dv.setUint32(W.Welcome.guest_id, guestId, true);
  const text = Buffer.from(message).subarray(0, 239);
  scratch.u8.set(text, DATA_OFF + W.Welcome.message);
  return sendAll(sock, scratch, DATA_OFF, W.Welcome.SIZE);
}
