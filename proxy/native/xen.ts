// Dom0's ends of grant tables and event channels, through the kernel's
// devices /dev/xen/gntdev and /dev/xen/evtchn (ioctls bound with koffi; the
// structs are the kernel's uapi: <xen/gntdev.h>, <xen/evtchn.h>).  No Xen
// user-space library is needed.
import * as C from './libc.js';

const { ioctl, O_RDWR, O_CLOEXEC, O_NONBLOCK } = C;
const IOC = (type: number, nr: number, size: number): number => (size << 16) | (type << 8) | nr;
const G = 0x47; // 'G'
const E = 0x45; // 'E'
// struct ioctl_gntdev_map_grant_ref { u32 count; u32 pad; u64 index; struct { u32 domid; u32 ref; } refs[1]; }
const GNTDEV_MAP_GRANT_REF = IOC(G, 0, 24);
// struct ioctl_gntdev_unmap_grant_ref { u64 index; u32 count; u32 pad; }
const GNTDEV_UNMAP_GRANT_REF = IOC(G, 1, 16);
// struct ioctl_gntdev_unmap_notify { u64 index; u32 action; u32 event_channel_port; }
const GNTDEV_SET_UNMAP_NOTIFY = IOC(G, 7, 16);
export const UNMAP_NOTIFY_CLEAR_BYTE = 0x1;
export const UNMAP_NOTIFY_SEND_EVENT = 0x2;
// struct ioctl_evtchn_bind_interdomain { unsigned remote_domain, remote_port; }
const EVTCHN_BIND_INTERDOMAIN = IOC(E, 1, 8);
const EVTCHN_UNBIND = IOC(E, 3, 4);
const EVTCHN_NOTIFY = IOC(E, 4, 4);

export const PAGE = 4096;

export class XenDeviceError extends Error {
  constructor(message: string, readonly errno: number) {
    super(message);
    this.name = 'XenDeviceError';
  }
}

function openDevice(path: string, extra = 0): number {
  const fd = C.open(path, O_RDWR | O_CLOEXEC | extra, 0) as number;
  if (fd < 0) throw new XenDeviceError(`cannot open ${path}: errno ${C.errno()} (is this Dom0, with the xen-gntdev and xen-evtchn modules loaded?)`, C.errno());
  return fd;
}

/** Foreign pages mapped through one /dev/xen/gntdev descriptor. */
export class GrantMapper {
  readonly fd: number;
  readonly #scratch: C.NativeMemory;

  constructor(maxRefs: number) {
    this.fd = openDevice('/dev/xen/gntdev');
    const bytes = (16 + 8 * Math.max(1, maxRefs) + PAGE - 1) & ~(PAGE - 1);
    this.#scratch = C.allocScratch(bytes);
  }

  /**
   * Maps refs (granted by domid) as one contiguous range; returns the mapping
   * and the gntdev index it lives at.  A ref the domain did not grant to us,
   * or not writable when writable is asked, makes the whole map fail.
   */
  map(domid: number, refs: ArrayLike<number>, writable: boolean): { addr: number; index: number; size: number } {
    const n = refs.length;
    const m = this.#scratch;
    if (16 + 8 * n > m.size) throw new XenDeviceError(`${n} grant refs is more than this mapper was made for`, 0);
    m.dv.setUint32(0, n, true);
    m.dv.setUint32(4, 0, true);
    C.writeU64(m.dv, 8, 0);
    for (let i = 0; i < n; i++) {
      m.dv.setUint32(16 + 8 * i, domid, true);
      m.dv.setUint32(16 + 8 * i + 4, refs[i]! >>> 0, true);
    }
    if ((ioctl(this.fd, GNTDEV_MAP_GRANT_REF, m.addr) as number) < 0) {
      throw new XenDeviceError(`gntdev refused ${n} grant refs of domain ${domid}: errno ${C.errno()}`, C.errno());
    }
    const index = C.readU64(m.dv, 8);
    const size = n * PAGE;
    // The hypervisor maps the grants here: any ref that is not ours to map fails the whole mmap.
    // (MAP_FAILED, (void *)-1, comes back from koffi as a BigInt: no address here needs one.)
    const raw = C.mmap(0, size, writable ? C.PROT_READ | C.PROT_WRITE : C.PROT_READ, C.MAP_SHARED, this.fd, index) as number | bigint;
    const addr = typeof raw === 'bigint' ? -1 : raw;
    if (addr === C.MAP_FAILED || addr === -1) {
      const e = C.errno();
      this.#unmapIndex(index, n);
      throw new XenDeviceError(`mapping ${n} ${writable ? 'writable' : 'read-only'} grants of domain ${domid} failed: errno ${e}`, e);
    }
    return { addr, index, size };
  }

  /** When this mapping goes away (this process dies included), clear the byte at index+offset and notify port. */
  setUnmapNotify(index: number, offset: number, port: number): void {
    const m = this.#scratch;
    C.writeU64(m.dv, 0, index + offset);
    m.dv.setUint32(8, UNMAP_NOTIFY_CLEAR_BYTE | UNMAP_NOTIFY_SEND_EVENT, true);
    m.dv.setUint32(12, port, true);
    if ((ioctl(this.fd, GNTDEV_SET_UNMAP_NOTIFY, m.addr) as number) < 0) throw new XenDeviceError(`gntdev unmap notification: errno ${C.errno()}`, C.errno());
  }

  /** Clears a notification set before (an orderly close must not look like a crash). */
  clearUnmapNotify(index: number, offset: number): void {
    const m = this.#scratch;
    C.writeU64(m.dv, 0, index + offset);
    m.dv.setUint32(8, 0, true);
    m.dv.setUint32(12, 0, true);
    ioctl(this.fd, GNTDEV_SET_UNMAP_NOTIFY, m.addr);
  }

  unmap(mapping: { addr: number; index: number; size: number }): void {
    C.munmap(mapping.addr, mapping.size);
    this.#unmapIndex(mapping.index, mapping.size / PAGE);
  }

  #unmapIndex(index: number, count: number): void {
    const m = this.#scratch;
    C.writeU64(m.dv, 0, index);
    m.dv.setUint32(8, count, true);
    m.dv.setUint32(12, 0, true);
    ioctl(this.fd, GNTDEV_UNMAP_GRANT_REF, m.addr);
  }

  close(): void {
    C.close(this.fd);
    C.munmap(this.#scratch.addr, this.#scratch.size);
  }
}

/** One interdomain event channel bound through its own /dev/xen/evtchn descriptor (poll it for events). */
export class EventChannel {
  readonly fd: number;
  readonly port: number;
  readonly #scratch = C.allocScratch(PAGE);

  constructor(readonly remoteDomid: number, readonly remotePort: number) {
    // Non-blocking: drain() must never wait.
    this.fd = openDevice('/dev/xen/evtchn', O_NONBLOCK);
    const m = this.#scratch;
    m.dv.setUint32(0, remoteDomid, true);
    m.dv.setUint32(4, remotePort, true);
    const port = ioctl(this.fd, EVTCHN_BIND_INTERDOMAIN, m.addr) as number;
    if (port < 0) {
      const e = C.errno();
      C.close(this.fd);
      C.munmap(m.addr, m.size);
      throw new XenDeviceError(`cannot bind event channel ${remotePort} of domain ${remoteDomid}: errno ${e} (not a port that domain offered to Dom0)`, e);
    }
    this.port = port;
  }

  notify(): void {
    const m = this.#scratch;
    m.dv.setUint32(0, this.port, true);
    ioctl(this.fd, EVTCHN_NOTIFY, m.addr);
  }

  /** After poll() said readable: reads the fired ports and unmasks them (the device masks a port as it fires). */
  drain(): void {
    const m = this.#scratch;
    const n = C.read(this.fd, m.addr + 64, 64) as number;
    if (n > 0) C.write(this.fd, m.addr + 64, n);
  }

  close(): void {
    const m = this.#scratch;
    m.dv.setUint32(0, this.port, true);
    ioctl(this.fd, EVTCHN_UNBIND, m.addr);
    C.close(this.fd);
    C.munmap(m.addr, m.size);
  }
}
