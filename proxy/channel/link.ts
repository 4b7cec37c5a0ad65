// What a transport gives the serve loop besides the region: how the guest
// wakes the proxy, how the proxy wakes guest threads, and how the proxy
// learns that the guest has gone.  The rings, the checks and the ops are the
// same for every transport (serve-loop.ts, session.ts, ops/); only this
// differs between shm (eventfd, futex, unix socket) and xen (event channel,
// event channel, xenstore via the hand-over socket).
import * as C from '../native/libc.js';
import type { EventChannel, GrantMapper } from '../native/xen.js';
import type { Region } from './region.js';

export interface GuestLink {
  readonly transport: 'shm' | 'xen';
  /** Readable when the guest kicked the proxy. */
  readonly wakeFd: number;
  /**
   * The hand-over socket: it hangs up when the guest has gone (shm: the guest
   * process; xen: vgpu-proxy's main process closes it when the guest's
   * domain or channel disappears from xenstore).  shm guests also send
   * host-memory descriptors on it.
   */
  readonly sock: number;
  /** Consumes the kicks once wakeFd polled readable. */
  drainWake(scratch: C.NativeMemory): void;
  /** Wakes guest threads asleep on wake_word (the word was bumped before). */
  wakeGuest(): void;
  /** Unmaps the region and closes the transport's descriptors (not sock). */
  close(): void;
}

/** shm: a sealed memfd region, an eventfd the guest writes, a futex word the proxy wakes. */
export class ShmLink implements GuestLink {
  readonly transport = 'shm';

  constructor(readonly region: Region, readonly regionFd: number, readonly wakeFd: number, readonly sock: number) {}

  drainWake(scratch: C.NativeMemory): void {
    C.read(this.wakeFd, scratch.addr + 128, 8);
  }

  wakeGuest(): void {
    C.futexWakeAll(this.region.wakeWordAddr);
  }

  close(): void {
    C.munmap(this.region.mem.addr, this.region.mem.size);
    C.close(this.regionFd);
    C.close(this.wakeFd);
  }
}

/** xen: granted pages mapped with gntdev, one interdomain event channel both ways. */
export class XenLink implements GuestLink {
  readonly transport = 'xen';

  constructor(
    readonly region: Region,
    readonly mapper: GrantMapper,
    readonly mapping: { addr: number; index: number; size: number },
    readonly evtchn: EventChannel,
    readonly sock: number,
    /** offset of proxy_state in the region: the byte the kernel clears if this process dies */
    readonly notifyOffset: number,
  ) {}

  get wakeFd(): number {
    return this.evtchn.fd;
  }

  drainWake(): void {
    this.evtchn.drain();
  }

  wakeGuest(): void {
    this.evtchn.notify();
  }

  close(): void {
    // Orderly: proxy_state says CLOSED or FAULTED already; the kernel must not rewrite it on unmap.
    this.mapper.clearUnmapNotify(this.mapping.index, this.notifyOffset);
    this.mapper.unmap(this.mapping);
    this.mapper.close();
    this.evtchn.close();
  }
}
