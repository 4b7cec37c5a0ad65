// Driver and device facts, fetched once by the guest and answered locally
// there ever after: version, the virtual device's identity and every
// attribute, the error strings.
import koffi from 'koffi';
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CudaDriver, CUDA_ERROR_INVALID_DEVICE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NO_DEVICE, CUDA_SUCCESS } from '../native/cuda.js';
import type { Session } from '../guest/session.js';
import { op, OpSpec, P } from './op.js';

const ATTR_REFUSED = -0x8000_0000;
const MAX_ATTRS = 1024;
const MAX_ERROR_CODE = 1000;

/** Reads the C string whose address the driver wrote at out[off]. */
export function decodeStringAt(out: C.NativeMemory, off: number): string {
  return koffi.decode(BigInt(out.addr + off), 'const char *') as string;
}

let errorTable: Uint8Array | null = null;

function buildErrorTable(cuda: CudaDriver, out: C.NativeMemory): Uint8Array {
  const parts: Buffer[] = [];
  let count = 0;
  for (let code = 0; code <= MAX_ERROR_CODE; code++) {
    if (cuda.cuGetErrorName(code, out.addr) !== CUDA_SUCCESS) continue;
    const name = Buffer.from(decodeStringAt(out, 0));
    const text = cuda.cuGetErrorString(code, out.addr) === CUDA_SUCCESS ? Buffer.from(decodeStringAt(out, 0)) : Buffer.alloc(0);
    const entry = Buffer.alloc((8 + name.length + text.length + 3) & ~3);
    entry.writeInt32LE(code, 0);
    entry.writeUInt16LE(name.length, 4);
    entry.writeUInt16LE(text.length, 6);
    name.copy(entry, 8);
    text.copy(entry, 8 + name.length);
    parts.push(entry);
    count++;
  }
  const head = Buffer.alloc(W.RspErrorTable.SIZE);
  head.writeUInt32LE(count, W.RspErrorTable.count);
  return new Uint8Array(Buffer.concat([head, ...parts]));
}

function writeCString(u8: Uint8Array, off: number, cap: number, text: string): void {
  const b = Buffer.from(text).subarray(0, cap - 1);
  u8.set(b, off);
  u8[off + b.length] = 0;
}

function deviceInfo(s: Session, cuda: CudaDriver, attrCount: number, out: { u8: Uint8Array; dv: DataView }): number {
  const dev = s.device!.cuDevice;
  const m = s.out;
  if (cuda.cuDeviceGetName(m.addr, 256, dev) !== CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
  writeCString(out.u8, W.RspDeviceInfo.name, 256, Buffer.from(m.u8.subarray(0, 256)).toString('utf8').split('\0')[0]!);
  if (cuda.cuDeviceGetUuid_v2(m.addr, dev) === CUDA_SUCCESS) out.u8.set(m.u8.subarray(0, 16), W.RspDeviceInfo.uuid);
  if (cuda.cuDeviceGetPCIBusId(m.addr, 32, dev) === CUDA_SUCCESS) {
    writeCString(out.u8, W.RspDeviceInfo.pci_bus_id, 32, Buffer.from(m.u8.subarray(0, 32)).toString('utf8').split('\0')[0]!);
  }
  C.writeU64(out.dv, W.RspDeviceInfo.total_mem, Math.min(s.device!.totalMem, s.limits.memQuota));
  out.dv.setUint32(W.RspDeviceInfo.attr_count, attrCount, true);
  const base = W.RspDeviceInfo.SIZE;
  for (let a = 0; a < attrCount; a++) {
    const r = a === 0 ? -1 : cuda.cuDeviceGetAttribute(m.addr, a, dev);
    out.dv.setInt32(base + a * 4, r === CUDA_SUCCESS ? m.dv.getInt32(0, true) : ATTR_REFUSED, true);
  }
  return CUDA_SUCCESS;
}

export const deviceOps: OpSpec[] = [
  op(W.Op.DRIVER_INFO, 0, (s, _req, out) => {
    const cuda = s.driver();
    if (!cuda || !s.device) return CUDA_ERROR_NO_DEVICE;
    if (cuda.cuDriverGetVersion(s.out.addr) !== CUDA_SUCCESS) return CUDA_ERROR_NO_DEVICE;
    const dv = out.size(W.RspDriverInfo.SIZE);
    dv.setInt32(W.RspDriverInfo.driver_version, s.out.dv.getInt32(0, true), true);
    dv.setInt32(W.RspDriverInfo.device_count, 1, true);
    dv.setUint32(W.RspDriverInfo.guest_id, s.guestId, true);
    return CUDA_SUCCESS;
  }),

  op(W.Op.DEVICE_INFO, W.ReqDeviceInfo.SIZE, (s, req, out) => {
    const cuda = s.driver();
    if (!cuda || !s.device) return CUDA_ERROR_NO_DEVICE;
    const device = req.dv.getInt32(P + W.ReqDeviceInfo.device, true);
    const count = req.dv.getUint32(P + W.ReqDeviceInfo.attr_count, true);
    if (device !== 0) return CUDA_ERROR_INVALID_DEVICE;
    if (count > MAX_ATTRS) return CUDA_ERROR_INVALID_VALUE;
    out.size(W.RspDeviceInfo.SIZE + count * 4);
    return deviceInfo(s, cuda, count, out);
  }),

  op(W.Op.ERROR_TABLE, 0, (s, _req, out) => {
    const cuda = s.driver();
    if (!cuda) return CUDA_ERROR_NO_DEVICE;
    errorTable ??= buildErrorTable(cuda, s.out);
    if (errorTable.length > out.u8.length) return CUDA_ERROR_INVALID_VALUE;
    out.u8.set(errorTable);
    out.len = errorTable.length;
    return CUDA_SUCCESS;
  }),
];
