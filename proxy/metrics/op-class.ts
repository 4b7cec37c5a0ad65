// The wire ops grouped into the classes an operator reads requests by
// (vgpu_guest_requests_total{class}, the latency histogram).  The grouping
// follows the op names of proxy/wire/layout.ts, so an op added to the wire
// falls into its family without an edit here; test/proxy/op-class.test.ts
// lists where each op lands.
import * as W from '../wire/layout.js';

export const OP_CLASSES = ['memory', 'copy', 'launch', 'module', 'stream_event', 'graph', 'context', 'vmm', 'other'] as const;
export type OpClass = (typeof OP_CLASSES)[number];
export const CLASS_COUNT = OP_CLASSES.length;
export const CLASS_OTHER = OP_CLASSES.indexOf('other');

/** The class of one op name (PAD, the diagnostic ops and anything unknown: other). */
export function classOfName(name: string): OpClass {
  if (name.startsWith('MEMCPY')) return 'copy';
  if (name.startsWith('MEM_') || name === 'MEMSET' || name.startsWith('HOSTMEM_')) return 'memory';
  if (name === 'LAUNCH' || name.startsWith('OCC_') || name.startsWith('HOST_FUNC_')) return 'launch';
  if (/^(STAGE|MODULE|LIBRARY|KERNEL|FUNC)_/.test(name)) return 'module';
  // Capture makes graphs: it belongs with them, not with the streams it runs on.
  if (name.startsWith('GRAPH_') || name.includes('CAPTURE')) return 'graph';
  if (name.startsWith('STREAM_') || name.startsWith('EVENT_')) return 'stream_event';
  if (name.startsWith('CTX_') || name.startsWith('PRIMARY_')) return 'context';
  if (name.startsWith('VMM_')) return 'vmm';
  return 'other';
}

/** Op number -> class index; ops at or past its length are 'other'. */
export const OP_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(CLASS_OTHER);
  for (const [op, name] of Object.entries(W.OpName)) {
    const n = Number(op);
    if (n < table.length) table[n] = OP_CLASSES.indexOf(classOfName(name));
  }
  return table;
})();

/** The class index of an op number as it came off the ring (any number). */
export function classOf(op: number): number {
  return op < OP_CLASS.length ? OP_CLASS[op]! : CLASS_OTHER;
}
