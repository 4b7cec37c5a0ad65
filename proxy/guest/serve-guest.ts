// Serving one guest process: take the hand-over, open the real driver, serve
// the guest's rings until it leaves, then release everything it held.  Runs
// in a process of its own (guest-process.ts, the default) or in a worker
// thread of vgpu-proxy (guest-thread.ts).
import pino from 'pino';
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CudaDriver, CUDA_ERROR_INVALID_VALUE, CUDA_SUCCESS, loadCudaDriver } from '../native/cuda.js';
import { ChannelFault } from '../channel/errors.js';
import { acceptHandover, Handover, sendWelcome } from '../channel/handover.js';
import { CtrlWord } from '../channel/region.js';
import type { ProxyConfig } from '../config.js';
import { opTable } from '../ops/index.js';
import { EndReason, ServeLoop } from './serve-loop.js';
import { ModuleCache } from './module-cache.js';
import { DeviceFacts, Session } from './session.js';

export interface GuestWorkerData {
  fd: number;
  guestId: number;
  config: ProxyConfig;
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

export function serveGuest(data: GuestWorkerData): GuestEnded {
  const { fd, guestId, config } = data;
  const baseLog = pino({ level: config.logLevel, base: { service: 'vgpu-proxy', guest: guestId } }, pino.destination({ dest: 1, sync: true }));
  const scratch = C.allocScratch(4096);
  let handover: Handover;
  try {
    handover = acceptHandover(fd, scratch);
  } catch (err) {
    const msg = (err as Error).message;
    const code = err instanceof ChannelFault ? err.code : 'handover_failed';
    baseLog.warn({ code, reason: msg }, 'guest refused at hand-over');
    sendWelcome(fd, scratch, CUDA_ERROR_INVALID_VALUE, guestId, `${code}: ${msg}`);
    C.close(fd);
    return { guestId, reason: 'refused', served: 0 };
  }
  const log = baseLog.child({ guest_pid: handover.cred.pid, guest_uid: handover.cred.uid, client: handover.client });
  const driver = openDriver(config, scratch);
  if (!driver.cuda) log.warn({ reason: driver.why }, 'no GPU for this guest: CUDA requests will fail with CUDA_ERROR_NO_DEVICE');
  const { region } = handover;
  const session = new Session(guestId, log, driver.cuda, driver.device, region, {
    memQuota: config.memQuota,
    pinnedQuota: config.pinnedQuota,
    maxImage: config.maxImage,
    maxHandles: config.maxHandles,
  }, fd);
  if (config.moduleCacheDir) {
    try {
      session.moduleCache = new ModuleCache(config.moduleCacheDir, config.moduleCacheMax, log);
    } catch (err) {
      log.warn({ err: (err as Error).message, dir: config.moduleCacheDir }, 'module cache unusable: every image will be sent');
    }
  }
  Atomics.store(region.ctrl, CtrlWord.proxyState, W.PEER_ALIVE);
  sendWelcome(fd, scratch, 0, guestId, '');
  log.info({ arena: region.layout.arenaSize, req_ring: region.layout.reqRingSize, rsp_ring: region.layout.rspRingSize }, 'guest connected');

  const loop = new ServeLoop(session, handover.wakeFd, opTable(), { spinMicros: config.spinMicros, stop: new Int32Array(data.stop) });
  const reason = loop.run();
  if (loop.fault) log.warn({ code: loop.fault.code, reason: loop.fault.message }, 'guest broke the channel protocol: channel closed');
  const released = session.releaseAll();
  Atomics.store(region.ctrl, CtrlWord.proxyState, reason === 'fault' ? W.PEER_FAULTED : W.PEER_CLOSED);
  Atomics.add(region.ctrl, CtrlWord.wakeWord, 1);
  C.futexWakeAll(region.wakeWordAddr);
  C.munmap(region.mem.addr, region.mem.size);
  C.close(handover.regionFd);
  C.close(handover.wakeFd);
  C.close(fd);
  C.munmap(scratch.addr, scratch.size);
  log.info({ reason, served: loop.served, ...released }, 'guest disconnected: everything it held is released');
  return { guestId, reason, served: loop.served };
}
