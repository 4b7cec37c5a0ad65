// Fuzz target proxy-ring-race: proxy-ring (harness.ts), plus a worker thread
// that, while the main thread serves, keeps rewriting bytes of the fuzzed
// guest's submitted records, its ring indices and its arena in the shared
// native memory: a real concurrent double fetch.  Nondeterministic, so a
// stress target: whatever the worker does, nothing but a ChannelFault may
// leave the proxy and the checking driver must never object.
//
// The worker is evaluated code (not a file), so the fuzzer's instrumentation
// leaves it alone; it maps the same region through koffi.view.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import * as W from '../../../proxy/wire/layout.js';
import { fuzzedRegion, printBystander, runInput } from './harness.js';

const region = fuzzedRegion();
/** [0]: 1 while the main thread serves; [1], [2]: the last record's position and length; [3]: 1 asks the worker to end, 2 it has. */
const ctl = new Int32Array(new SharedArrayBuffer(16));

const WORKER = `
const { workerData } = require('node:worker_threads');
const koffi = require(workerData.koffi);
const { addr, size, ctrlSize, reqRing, ctl } = workerData;
const u8 = new Uint8Array(koffi.view(BigInt(addr), size));
const u32 = new Uint32Array(u8.buffer, 0, ctrlSize / 4);
const REQ_TAIL = ${W.Ctrl.req_tail / 4}, RSP_HEAD = ${W.Ctrl.rsp_head / 4};
let x = 0x9e3779b9;
const rnd = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
for (;;) {
  if (Atomics.load(ctl, 3) === 1) { Atomics.store(ctl, 3, 2); Atomics.notify(ctl, 3); break; }
  if (Atomics.load(ctl, 0) !== 1) { Atomics.wait(ctl, 0, 0, 5); continue; }
  const r = rnd();
  const pos = Atomics.load(ctl, 1), len = Atomics.load(ctl, 2);
  switch (r & 7) {
    case 0: case 1: case 2: // a byte of the last record (header included)
      if (len > 0) u8[ctrlSize + pos + (rnd() % len)] = rnd() & 0xff;
      break;
    case 3: // its length field
      if (len > 0) new DataView(u8.buffer).setUint32(ctrlSize + pos, [16, len, len + 16, rnd()][rnd() & 3], true);
      break;
    case 4: // the request tail: ahead, behind, unaligned
      Atomics.store(u32, REQ_TAIL, (Atomics.load(u32, REQ_TAIL) + [16, -16, 1, rnd()][rnd() & 3]) >>> 0);
      break;
    case 5: // the response head
      Atomics.store(u32, RSP_HEAD, (Atomics.load(u32, RSP_HEAD) + [16, -16, rnd()][rnd() % 3]) >>> 0);
      break;
    default: // anywhere in the request ring or the arena
      u8[ctrlSize + (rnd() % (size - ctrlSize))] = rnd() & 0xff;
  }
}
`;

const worker = new Worker(WORKER, {
  eval: true,
  workerData: {
    koffi: createRequire(import.meta.url).resolve('koffi'),
    addr: region.addr,
    size: region.size,
    ctrlSize: W.CTRL_SIZE,
    ctl,
  },
});
worker.unref();

process.on('exit', () => {
  // The worker ends its loop before the process goes: a thread still running JavaScript as the process tears down aborts it.
  Atomics.store(ctl, 3, 1);
  Atomics.notify(ctl, 0);
  Atomics.wait(ctl, 3, 1, 500);
  printBystander();
});

export function fuzz(data: Buffer): void {
  runInput(data, () => {
    const [pos, len] = region.lastRecord();
    Atomics.store(ctl, 1, Math.max(pos, 0));
    Atomics.store(ctl, 2, pos < 0 ? 0 : len);
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
  }, () => Atomics.store(ctl, 0, 0));
}
