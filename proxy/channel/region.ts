// A guest's shared region, mapped in the proxy, with its sizes checked once
// and kept privately (the guest can rewrite the control page at any time).
import * as W from '../wire/layout.js';
import { NativeMemory, viewAt } from '../native/libc.js';
import { ChannelFault } from './errors.js';

export interface RegionLayout {
  readonly reqRingSize: number;
  readonly rspRingSize: number;
  readonly arenaSize: number;
  readonly regionSize: number;
}

const isPow2 = (v: number): boolean => v > 0 && (v & (v - 1)) === 0;

/** Reads and checks the guest's setup words; the result is the proxy's private copy. */
export function checkLayout(ctrl: DataView, mappedSize: number): RegionLayout {
  const magic = ctrl.getUint32(W.Ctrl.magic, true);
  if (magic !== W.MAGIC) throw new ChannelFault('bad_magic', `control page magic is 0x${magic.toString(16)}, want 0x${W.MAGIC.toString(16)}`);
  const major = ctrl.getUint16(W.Ctrl.version_major, true);
  if (major !== W.VERSION_MAJOR) throw new ChannelFault('bad_version', `guest speaks wire version ${major}, this proxy ${W.VERSION_MAJOR}: upgrade libvgpu or the proxy so both match`);
  const ctrlSize = ctrl.getUint32(W.Ctrl.ctrl_size, true);
  const reqRingSize = ctrl.getUint32(W.Ctrl.req_ring_size, true);
  const rspRingSize = ctrl.getUint32(W.Ctrl.rsp_ring_size, true);
  const arenaSize = ctrl.getUint32(W.Ctrl.arena_size, true);
  const regionLo = ctrl.getUint32(W.Ctrl.region_size, true);
  const regionHi = ctrl.getUint32(W.Ctrl.region_size + 4, true);
  if (ctrlSize !== W.CTRL_SIZE) throw new ChannelFault('bad_layout', `control page size ${ctrlSize}, want ${W.CTRL_SIZE}`);
  for (const [name, v, min, max] of [
    ['request ring', reqRingSize, W.RING_MIN, W.RING_MAX],
    ['response ring', rspRingSize, W.RING_MIN, W.RING_MAX],
    ['arena', arenaSize, W.ARENA_MIN, W.ARENA_MAX],
  ] as const) {
    if (!isPow2(v) || v < min || v > max) throw new ChannelFault('bad_layout', `${name} size ${v} is not a power of two in ${min}..${max}`);
  }
  const regionSize = W.CTRL_SIZE + reqRingSize + rspRingSize + arenaSize;
  if (regionHi !== 0 || regionLo !== regionSize) throw new ChannelFault('bad_layout', `region size field ${regionHi * 2 ** 32 + regionLo} does not match the layout (${regionSize})`);
  if (regionSize > mappedSize) throw new ChannelFault('bad_layout', `layout needs ${regionSize} bytes but the shared memory has ${mappedSize}`);
  return { reqRingSize, rspRingSize, arenaSize, regionSize };
}

/** Typed views of one mapped region. */
export class Region {
  readonly ctrl: Uint32Array;
  readonly ctrlView: DataView;
  readonly reqRing: Uint8Array;
  readonly rspRing: Uint8Array;
  readonly arena: Uint8Array;
  /** Native address of the first arena byte, for the driver's copies. */
  readonly arenaAddr: number;
  /** Native address of the control page's wake word (the guest's futex). */
  readonly wakeWordAddr: number;

  constructor(readonly mem: NativeMemory, readonly layout: RegionLayout) {
    this.ctrl = new Uint32Array(mem.u8.buffer, 0, W.CTRL_SIZE / 4);
    this.ctrlView = new DataView(mem.u8.buffer, 0, W.CTRL_SIZE);
    this.reqRing = new Uint8Array(mem.u8.buffer, W.CTRL_SIZE, layout.reqRingSize);
    this.rspRing = new Uint8Array(mem.u8.buffer, W.CTRL_SIZE + layout.reqRingSize, layout.rspRingSize);
    const arenaOff = W.CTRL_SIZE + layout.reqRingSize + layout.rspRingSize;
    this.arena = new Uint8Array(mem.u8.buffer, arenaOff, layout.arenaSize);
    this.arenaAddr = mem.addr + arenaOff;
    this.wakeWordAddr = mem.addr + W.Ctrl.wake_word;
  }

  static map(addr: number, mappedSize: number): Region {
    const mem = viewAt(addr, mappedSize);
    const layout = checkLayout(new DataView(mem.u8.buffer, 0, W.CTRL_SIZE), mappedSize);
    return new Region(mem, layout);
  }
}

/** Index of a control-page word in Region.ctrl. */
export const CtrlWord = {
  reqTail: W.Ctrl.req_tail / 4,
  rspHead: W.Ctrl.rsp_head / 4,
  guestState: W.Ctrl.guest_state / 4,
  guestWaiting: W.Ctrl.guest_waiting / 4,
  reqHead: W.Ctrl.req_head / 4,
  rspTail: W.Ctrl.rsp_tail / 4,
  proxyState: W.Ctrl.proxy_state / 4,
  proxyWaiting: W.Ctrl.proxy_waiting / 4,
  arenaDone: W.Ctrl.arena_done / 4,
  doneSeq: W.Ctrl.done_seq / 4,
  wakeWord: W.Ctrl.wake_word / 4,
} as const;
