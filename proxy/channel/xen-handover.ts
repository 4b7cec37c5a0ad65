// The xen transport's hand-over, in the guest's server (a process of its own
// by default): vgpu-proxy's main process found a guest's offer in xenstore
// (xen-rendezvous.ts) and passes it here over a private unix socket; this
// side checks the offer, maps the guest's granted pages with gntdev, binds
// its event channel, and from then on the region is served exactly as a shm
// guest's is (serve-loop.ts, session.ts, ops/).
//
// The guest is hostile: every number of the offer is checked before use, the
// directory of grant refs is mapped read-only and copied once, refs that
// cannot be its own region (reserved, repeated) are refused, and a ref the
// hypervisor will not map for us fails the map: a fault of that guest's
// channel, never of the proxy.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { EventChannel, GrantMapper, PAGE, XenDeviceError } from '../native/xen.js';
import { ChannelFault } from './errors.js';
import { XenLink } from './link.js';
import { Region } from './region.js';
import { PeerCred, peerCred, waitReadable } from './unix-socket.js';

/** What the main process read from xenstore: strings, exactly as the guest wrote them. */
export interface XenOfferText {
  domid: number;
  chan: string;
  regionPages: string;
  grefDir: string;
  eventChannel: string;
  client: string;
  /** device-memory quota Dom0 set for this domain, bytes ('0': the proxy's default) */
  memQuota: string;
}

export const XEN_HELLO_MAGIC = 0x4e455856; // "VXEN"
/** Grant refs below this belong to the toolstack (console and xenstore pages). */
export const RESERVED_REFS = 8;
export const REFS_PER_DIR = PAGE / 4;
/** Largest region any valid layout has, in pages. */
export const MAX_REGION_PAGES = (W.CTRL_SIZE + 2 * W.RING_MAX + W.ARENA_MAX) / PAGE;
const HELLO_MAX = 16384;
const HELLO_TIMEOUT_MS = 10_000;

export interface XenHandover {
  region: Region;
  link: XenLink;
  cred: PeerCred;
  client: string;
  domid: number;
  memQuota: number;
}

/** Frames an offer for the private socket: magic, length, JSON. */
export function encodeXenHello(offer: XenOfferText): Buffer {
  const body = Buffer.from(JSON.stringify(offer), 'utf8');
  const h = Buffer.alloc(8);
  h.writeUInt32LE(XEN_HELLO_MAGIC, 0);
  h.writeUInt32LE(body.length, 4);
  return Buffer.concat([h, body]);
}

function recvExact(sock: number, scratch: C.NativeMemory, off: number, len: number): void {
  let got = 0;
  while (got < len) {
    const st = waitReadable(sock, HELLO_TIMEOUT_MS, scratch);
    if (st !== 'readable') throw new ChannelFault('bad_hello', `xen hand-over: ${st === 'timeout' ? 'no offer in time' : 'socket closed'}`);
    const n = C.recv(sock, scratch.addr + off + got, len - got, C.MSG_DONTWAIT) as number;
    if (n === 0) throw new ChannelFault('bad_hello', 'xen hand-over: socket closed mid-offer');
    if (n < 0) {
      if (C.errno() === C.EAGAIN || C.errno() === C.EINTR) continue;
      throw new ChannelFault('bad_hello', `xen hand-over: recv errno ${C.errno()}`);
    }
    got += n;
  }
}

const DECIMAL = /^(0|[1-9][0-9]{0,9})$/;

/** A decimal number the guest wrote, within [min, max]; anything else is its fault. */
export function guestNumber(text: string, what: string, min: number, max: number): number {
  if (typeof text !== 'string' || !DECIMAL.test(text)) throw new ChannelFault('bad_offer', `${what} "${String(text).slice(0, 40)}" is not a decimal number`);
  const v = Number(text);
  if (v < min || v > max) throw new ChannelFault('bad_offer', `${what} ${v} is outside ${min}..${max}`);
  return v;
}

/**
 * Checks the offer's numbers: returns the region's page count, the
 * directory's grant refs, and the guest's event-channel port.
 */
export function checkOffer(o: XenOfferText): { pages: number; dirRefs: number[]; port: number } {
  const pages = guestNumber(o.regionPages, 'region-pages', 1, MAX_REGION_PAGES);
  const words = typeof o.grefDir === 'string' ? o.grefDir.split(' ') : [];
  const ndir = Math.ceil(pages / REFS_PER_DIR);
  if (words.length !== ndir) throw new ChannelFault('bad_offer', `gref-dir names ${words.length} directory pages; ${pages} region pages need ${ndir}`);
  const dirRefs = words.map((w, i) => guestNumber(w, `gref-dir[${i}]`, RESERVED_REFS, 0xffffffff));
  const port = guestNumber(o.eventChannel, 'event-channel', 1, 0xfffff);
  return { pages, dirRefs, port };
}

/** Checks the region's refs (copied out of the directory): no reserved ref, none twice. */
export function checkRegionRefs(refs: Uint32Array): void {
  const seen = new Set<number>();
  for (let i = 0; i < refs.length; i++) {
    const r = refs[i]!;
    if (r < RESERVED_REFS) throw new ChannelFault('bad_grant', `region page ${i} names reserved grant ref ${r} (the toolstack's)`);
    if (seen.has(r)) throw new ChannelFault('bad_grant', `region page ${i} repeats grant ref ${r}: two pages of the region on one frame`);
    seen.add(r);
  }
}

function grantFault(err: unknown, what: string): ChannelFault {
  if (err instanceof ChannelFault) return err;
  const msg = err instanceof XenDeviceError ? err.message : String(err);
  return new ChannelFault('bad_grant', `${what}: ${msg}`);
}

export function acceptXenHandover(sock: number, scratch: C.NativeMemory): XenHandover {
  const cred = peerCred(sock, scratch);
  // Only vgpu-proxy's own main process (or, in thread mode, this process) hands xen guests over.
  const proxyPid = Number(process.env.VGPU_PROXY_PID ?? process.pid);
  if (cred.pid !== proxyPid && cred.pid !== process.pid) throw new ChannelFault('bad_hello', `xen offers come only from vgpu-proxy (pid ${proxyPid}), not pid ${cred.pid}`);
  if (scratch.size < 8 + HELLO_MAX + 256) throw new Error('acceptXenHandover: scratch too small');
  const OFF = 256;
  recvExact(sock, scratch, OFF, 8);
  if (scratch.dv.getUint32(OFF, true) !== XEN_HELLO_MAGIC) throw new ChannelFault('bad_hello', 'not a xen offer');
  const len = scratch.dv.getUint32(OFF + 4, true);
  if (len > HELLO_MAX) throw new ChannelFault('bad_hello', `xen offer of ${len} bytes`);
  recvExact(sock, scratch, OFF + 8, len);
  const offer = JSON.parse(Buffer.from(scratch.u8.subarray(OFF + 8, OFF + 8 + len)).toString('utf8')) as XenOfferText;
  const domid = offer.domid;
  if (!Number.isInteger(domid) || domid <= 0 || domid >= 0x7ff0) throw new ChannelFault('bad_hello', `xen offer for domain ${domid}`);
  const { pages, dirRefs, port } = checkOffer(offer);
  const memQuota = /^[0-9]{1,16}$/.test(offer.memQuota ?? '') ? Number(offer.memQuota) : 0;

  const mapper = new GrantMapper(Math.max(pages, dirRefs.length));
  let evtchn: EventChannel | null = null;
  let mapping: { addr: number; index: number; size: number } | null = null;
  try {
    // The directory, read-only, copied once; only the copy is used from here on.
    let dir;
    try {
      dir = mapper.map(domid, dirRefs, false);
    } catch (err) {
      throw grantFault(err, 'the grant directory cannot be mapped');
    }
    const refs = new Uint32Array(pages);
    refs.set(new Uint32Array(C.viewAt(dir.addr, dir.size).u8.buffer, 0, pages));
    mapper.unmap(dir);
    checkRegionRefs(refs);
    try {
      mapping = mapper.map(domid, refs, true);
    } catch (err) {
      throw grantFault(err, 'the region cannot be mapped writable');
    }
    // Same checks as shm from here: the layout against the pages really mapped.
    const region = Region.map(mapping.addr, mapping.size);
    if (region.layout.regionSize !== mapping.size) {
      throw new ChannelFault('bad_layout', `layout of ${region.layout.regionSize} bytes in ${pages} offered pages (${mapping.size} bytes): they must match`);
    }
    try {
      evtchn = new EventChannel(domid, port);
    } catch (err) {
      throw new ChannelFault('bad_event_channel', (err as Error).message);
    }
    // If this process dies, the kernel clears proxy_state's low byte (ALIVE -> ABSENT) and tells the guest.
    const notifyOffset = W.Ctrl.proxy_state;
    mapper.setUnmapNotify(mapping.index, notifyOffset, evtchn.port);
    const link = new XenLink(region, mapper, mapping, evtchn, sock, notifyOffset);
    const client = String(offer.client ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
    return { region, link, cred, client, domid, memQuota };
  } catch (err) {
    evtchn?.close();
    if (mapping) mapper.unmap(mapping);
    mapper.close();
    throw err;
  }
}
