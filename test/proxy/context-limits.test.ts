// Context limits that make the driver set device memory aside (the malloc
// heap, the thread stacks) count against the guest's device-memory quota,
// and are given back when lowered and when the context goes.
import t from 'tap';
import pino from 'pino';
import * as W from '../../proxy/wire/layout.js';
import * as C from '../../proxy/native/libc.js';
import type { CudaDriver } from '../../proxy/native/cuda.js';
import { Region } from '../../proxy/channel/region.js';
import { Session } from '../../proxy/guest/session.js';
import { opTable } from '../../proxy/ops/index.js';
import { STACK_MAX } from '../../proxy/ops/context.js';
import { Reply } from '../../proxy/ops/op.js';

const MIB = 2 ** 20;
const QUOTA = 64 * MIB;
const STACK = 0;
const HEAP = 2;
const PRINTF_FIFO = 1;
const SMS = 4;
const THREADS_PER_SM = 1024;

function setup(): { s: Session; ctx: number; driverCalls: [number, number][]; setLimit: (limit: number, value: number) => number } {
  const layout = { reqRingSize: W.RING_MIN, rspRingSize: W.RING_MIN, arenaSize: W.ARENA_MIN, regionSize: W.CTRL_SIZE + 2 * W.RING_MIN + W.ARENA_MIN };
  const region = new Region(C.allocScratch(layout.regionSize), layout);
  const driverCalls: [number, number][] = [];
  let s: Session | null = null;
  const cuda = {
    cuCtxSetLimit: (limit: number, value: number) => { driverCalls.push([limit, value]); return 0; },
    cuDeviceGetAttribute: (at: number, attr: number) => {
      s!.out.dv.setInt32(at - s!.out.addr, attr === 16 ? SMS : THREADS_PER_SM, true);
      return 0;
    },
    cuCtxDestroy_v2: () => 0,
  } as unknown as CudaDriver;
  s = new Session(1, pino({ level: 'silent' }), cuda, { cuDevice: 0, totalMem: 80 * 2 ** 30 }, region,
    { memQuota: QUOTA, pinnedQuota: 0, maxImage: MIB, maxHandles: 64 }, -1, false);
  const ctx = s.handles.add('ctx', 0x1000, 0);
  const session = s;
  const spec = opTable()[W.Op.CTX_SET_LIMIT]!;
  const bytes = new Uint8Array(W.ReqHdr.SIZE + W.ReqLimit.SIZE);
  const req = { op: W.Op.CTX_SET_LIMIT, flags: 0, seq: 1, ctx, payloadLen: W.ReqLimit.SIZE, bytes, dv: new DataView(bytes.buffer) };
  const setLimit = (limit: number, value: number): number => {
    req.dv.setUint32(W.ReqHdr.SIZE + W.ReqLimit.limit, limit, true);
    C.writeU64(req.dv, W.ReqHdr.SIZE + W.ReqLimit.value, value);
    return spec.handler(session, req, new Reply());
  };
  return { s, ctx, driverCalls, setLimit };
}

t.test('the malloc heap counts against the quota, beyond what is left is refused, lowering gives it back', async (t) => {
  const { s, setLimit, driverCalls } = setup();
  t.equal(setLimit(HEAP, 48 * MIB), 0);
  t.equal(s.deviceBytes(), 48 * MIB, 'the heap is the guest\'s device memory');
  s.ranges.add(0x7000_0000_0000, 8 * MIB, 'alloc', 1);
  t.equal(setLimit(HEAP, 64 * MIB), 2, 'heap + allocations over the quota: CUDA_ERROR_OUT_OF_MEMORY');
  t.equal(driverCalls.length, 1, 'the refused heap never reached the driver');
  t.equal(setLimit(HEAP, 56 * MIB), 0, 'exactly what is left fits');
  t.equal(s.deviceBytes(), QUOTA);
  t.equal(setLimit(HEAP, 8 * MIB), 0, 'lowered');
  t.equal(s.deviceBytes(), 16 * MIB, 'what it gave back counts no more');
});

t.test('the thread stack is bounded and counts once per resident thread', async (t) => {
  const { s, setLimit, driverCalls } = setup();
  t.equal(setLimit(STACK, STACK_MAX + 1), 1, 'beyond the per-thread maximum: CUDA_ERROR_INVALID_VALUE');
  t.equal(setLimit(STACK, 2 ** 53 + 2), 1, 'an unsafe size');
  t.equal(driverCalls.length, 0);
  t.equal(setLimit(STACK, 4096), 0);
  t.equal(s.deviceBytes(), 4096 * SMS * THREADS_PER_SM);
  t.equal(setLimit(STACK, 32 * 1024), 2, '32 KiB for each of 4096 threads is 128 MiB, over the quota');
  t.equal(s.deviceBytes(), 4096 * SMS * THREADS_PER_SM, 'the refused stack changed nothing');
});

t.test('the context going gives its limits back; other limits hold no quota', async (t) => {
  const { s, ctx, setLimit } = setup();
  t.equal(setLimit(PRINTF_FIFO, 1 * MIB), 0);
  t.equal(s.deviceBytes(), 0, 'the printf FIFO is not counted');
  t.equal(setLimit(HEAP, 32 * MIB), 0);
  t.equal(setLimit(STACK, 2048), 0);
  t.ok(s.deviceBytes() > 32 * MIB);
  t.equal(s.destroyContext(ctx), 0);
  t.equal(s.deviceBytes(), 0, 'heap and stacks went with the context');
  t.equal(s.limitContexts, 0);
});
