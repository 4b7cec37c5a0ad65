// Serving one guest process: take the hand-over, open the real driver, serve
// the guest's rings until it leaves, then release everything it held.  Runs
// in a process of its own (guest-process.ts, the default) or in a worker
// thread of vgpu-proxy (guest-thread.ts).
//
// Both transports end up here: a shm guest's hand-over (a memfd over a unix
// socket) or a xen guest's (granted pages, passed on by vgpu-proxy's main
// process from xenstore) yields a Region and a GuestLink; from then on the
// Session, the ServeLoop and the ops are the same code for both.
import pino from 'pino';
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CudaDriver, CUDA_ERROR_INVALID_VALUE, CUDA_SUCCESS, loadCudaDriver } from '../native/cuda.js';
import { ChannelFault } from '../channel/errors.js';
import { acceptHandover, sendWelcome } from '../channel/handover.js';
import { GuestLink, ShmLink } from '../channel/link.js';
import { CtrlWord, Region } from '../channel/region.js';
import type { PeerCred } from '../channel/unix-socket.js';
import { acceptXenHandover } from '../channel/xen-handover.js';
import type { ProxyConfig } from '../config.js';
import { opTable } from '../ops/index.js';
import { EndReason, ServeLoop } from './serve-loop.js';
import { ModuleCache } from './module-cache.js';
import { DeviceFacts, Session } from './session.js';
import { GuestStats, StatsSink, GuestIdentity } from '../metrics/guest-stats.js';
import { containerOfPid } from '../metrics/container.js';

export interface GuestWorkerData {
  fd: number;
  guestId: number;
  config: ProxyConfig;
  /** the registered pod whose socket the guest came through ('' for the proxy's own socket) */
  pod: string;
  /** Set non-zero to make the loop finish (thread mode). */
  stop: SharedArrayBuffer;
}

export interface GuestEnded {
  guestId: number;
  reason: EndReason | 'refused';
  served: number;
}

interface Driver {
  cuda: CudaDriver | null;
  device: DeviceFacts | null;
  why: string;
}

/** Opens the real driver and the device guests share; without one, guests get only the diagnostic ops. */
function openDriver(config: ProxyConfig, out: C.NativeMemory): Driver {
  let cuda: CudaDriver;
  try {
    cuda = loadCudaDriver(config.libcuda);
  } catch (err) {
    return { cuda: null, device: null, why: (err as Error).message };
  }
  const steps: [string, () => number][] = [
    ['cuInit', () => cuda.cuInit(0)],
    [`cuDeviceGet(${config.device})`, () => cuda.cuDeviceGet(out.addr, config.device)],
  ];
  for (const [name, call] of steps) {
    const r = call();
    if (r !== CUDA_SUCCESS) return { cuda: null, device: null, why: `${name} returned CUresult ${r}: no usable GPU for guests` };
  }
  const cuDevice = out.dv.getInt32(0, true);
  const r = cuda.cuDeviceTotalMem_v2(out.addr, cuDevice);
  if (r !== CUDA_SUCCESS) return { cuda: null, device: null, why: `cuDeviceTotalMem returned ${r}` };
  return { cuda, device: { cuDevice, totalMem: C.readU64(out.dv, 0) }, why: '' };
}

interface Accepted {
  region: Region;
  link: GuestLink;
  cred: PeerCred;
  client: string;
  /** log fields that say where the guest is */
  where: Record<string, unknown>;
  memQuota: number;
  /** whom the guest's figures describe */
  who: GuestIdentity;
}

/** The transport's hand-over: shm on the proxy's sockets, xen on the private socket of xen-rendezvous.ts. */
function accept(fd: number, scratch: C.NativeMemory, config: ProxyConfig): Accepted {
  if (config.xenHandover) {
    const h = acceptXenHandover(fd, scratch);
    return {
      region: h.region, link: h.link, cred: h.cred, client: h.client, where: { transport: 'xen', domid: h.domid }, memQuota: h.memQuota || config.memQuota,
      who: { guestId: 0, pid: 0, domid: h.domid, transport: 'xen', client: h.client },
    };
  }
  const h = acceptHandover(fd, scratch);
  return {
    region: h.region,
    link: new ShmLink(h.region, h.regionFd, h.wakeFd, fd),
    cred: h.cred,
    client: h.client,
    where: { transport: 'shm', guest_pid: h.cred.pid, guest_uid: h.cred.uid },
    memQuota: config.memQuota,
    who: { guestId: 0, pid: h.cred.pid, domid: -1, transport: 'shm', client: h.client },
  };
}

/**
 * Serves one guest until it leaves.  sink receives the guest's figures
 * (proxy/metrics/guest-stats.ts) every second and as it ends; the caller
 * passes them to vgpu-proxy's main process.
 */
export function serveGuest(data: GuestWorkerData, sink: StatsSink | null = null): GuestEnded {
  const { fd, guestId, config } = data;
  const base: Record<string, unknown> = { service: 'vgpu-proxy', guest: guestId };
  if (data.pod) base.pod = data.pod;
  const baseLog = pino({ level: config.logLevel, base }, pino.destination({ dest: 1, sync: true }));
  const scratch = C.allocScratch(32768);
  let handover: Accepted;
  try {
    handover = accept(fd, scratch, config);
  } catch (err) {
    const msg = (err as Error).message;
    const code = err instanceof ChannelFault ? err.code : 'handover_failed';
    baseLog.warn({ code, reason: msg }, 'guest refused at hand-over');
    sendWelcome(fd, scratch, CUDA_ERROR_INVALID_VALUE, guestId, `${code}: ${msg}`);
    C.close(fd);
    if (sink) {
      const stats = new GuestStats();
      stats.attach(sink, { guestId, pid: 0, domid: -1, transport: config.xenHandover ? 'xen' : 'shm', client: '' });
      stats.finish('refused', code, null);
    }
    return { guestId, reason: 'refused', served: 0 };
  }
  // The container, when the guest's pid tells it (shm guests of runc containers): refusals name it.
  const container = containerOfPid(handover.who.pid);
  const log = baseLog.child({ ...handover.where, client: handover.client, ...(container ? { container } : {}) });
  const driver = openDriver(config, scratch);
  if (!driver.cuda) log.warn({ reason: driver.why }, 'no GPU for this guest: CUDA requests will fail with CUDA_ERROR_NO_DEVICE');
  const { region, link } = handover;
  const session = new Session(guestId, log, driver.cuda, driver.device, region, {
    memQuota: handover.memQuota,
    pinnedQuota: config.pinnedQuota,
    maxImage: config.maxImage,
    maxHandles: config.maxHandles,
    maxGraphNodes: config.maxGraphNodes,
  }, fd, config.pinArena);
  if (config.moduleCacheDir) {
    try {
      session.moduleCache = new ModuleCache(config.moduleCacheDir, config.moduleCacheMax, log);
    } catch (err) {
      log.warn({ err: (err as Error).message, dir: config.moduleCacheDir }, 'module cache unusable: every image will be sent');
    }
  }
  if (sink) {
    session.stats.attach(sink, { ...handover.who, guestId });
    session.stats.publish(performance.now(), 0, handover.memQuota, session.pinnedBytes, config.pinnedQuota);
  }
  Atomics.store(region.ctrl, CtrlWord.proxyState, W.PEER_ALIVE);
  sendWelcome(fd, scratch, 0, guestId, '');
  log.info({ arena: region.layout.arenaSize, req_ring: region.layout.reqRingSize, rsp_ring: region.layout.rspRingSize }, 'guest connected');

  const loop = new ServeLoop(session, link, opTable(), { spinMicros: config.spinMicros, stop: new Int32Array(data.stop) });
  const reason = loop.run();
  if (loop.fault) log.warn({ code: loop.fault.code, reason: loop.fault.message }, 'guest broke the channel protocol: channel closed');
  const released = session.releaseAll();
  session.refusals.flush(performance.now(), true);
  session.stats.finish(reason, loop.fault?.code ?? null, released);
  Atomics.store(region.ctrl, CtrlWord.proxyState, reason === 'fault' ? W.PEER_FAULTED : W.PEER_CLOSED);
  Atomics.add(region.ctrl, CtrlWord.wakeWord, 1);
  link.wakeGuest();
  link.close();
  C.close(fd);
  C.munmap(scratch.addr, scratch.size);
  log.info({ reason, served: loop.served, sleeps: loop.sleeps, late_wakes: loop.lateWakes, arena_held: session.arena.heldUses, ...released }, 'guest disconnected: everything it held is released');
  return { guestId, reason, served: loop.served };
}
