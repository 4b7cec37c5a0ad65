// Where each wire op is counted (proxy/metrics/op-class.ts): every op the
// proxy serves falls into the family an operator expects; only the
// diagnostic ops are "other".
import t from 'tap';
import * as W from '../../proxy/wire/layout.js';
import { classOf, OP_CLASSES } from '../../proxy/metrics/op-class.js';
import { opTable } from '../../proxy/ops/index.js';

const EXPECTED: Record<string, string> = {
  MEM_ALLOC: 'memory', MEM_FREE: 'memory', MEM_GET_INFO: 'memory', MEMSET: 'memory', HOSTMEM_MAP: 'memory', HOSTMEM_UNMAP: 'memory',
  MEMCPY_HTOD: 'copy', MEMCPY_DTOH: 'copy', MEMCPY_DTOD: 'copy', MEMCPY_2D: 'copy',
  LAUNCH: 'launch', OCC_MAX_BLOCKS: 'launch', HOST_FUNC_ENQUEUE: 'launch',
  STAGE_APPEND: 'module', STAGE_LOOKUP: 'module', MODULE_LOAD: 'module', LIBRARY_LOAD: 'module', KERNEL_GET_FUNCTION: 'module', FUNC_SET_ATTRIBUTE: 'module',
  STREAM_CREATE: 'stream_event', STREAM_SYNC: 'stream_event', STREAM_WAIT_EVENT: 'stream_event', EVENT_RECORD: 'stream_event', EVENT_ELAPSED: 'stream_event',
  STREAM_BEGIN_CAPTURE: 'graph', STREAM_END_CAPTURE: 'graph', STREAM_CAPTURE_TO_GRAPH: 'graph', GRAPH_LAUNCH: 'graph', GRAPH_ADD_NODE: 'graph', GRAPH_NODE_LIST: 'graph',
  CTX_CREATE: 'context', CTX_SYNC: 'context', PRIMARY_RETAIN: 'context',
  VMM_CREATE: 'vmm', VMM_MAP: 'vmm', VMM_IMPORT: 'vmm',
  NOP: 'other', ECHO: 'other', STALL: 'other', DRIVER_INFO: 'other', DEVICE_INFO: 'other', ERROR_TABLE: 'other',
};

t.test('ops land in their family', async (t) => {
  for (const [name, cls] of Object.entries(EXPECTED)) {
    const op = (W.Op as Record<string, number>)[name];
    t.ok(op !== undefined, `${name} is a wire op`);
    t.equal(OP_CLASSES[classOf(op!)], cls, `${name}: ${cls}`);
  }
});

t.test('every op the proxy serves, but the diagnostics, has a family', async (t) => {
  const other = opTable().flatMap((spec, op) => (spec && OP_CLASSES[classOf(op)] === 'other' ? [W.OpName[op]] : []));
  t.same(other.sort(), ['DEVICE_INFO', 'DRIVER_INFO', 'ECHO', 'ERROR_TABLE', 'NOP', 'STALL'], 'only the diagnostic ops are other');
});

t.test('op numbers off the table are other', async (t) => {
  t.equal(OP_CLASSES[classOf(255)], 'other');
  t.equal(OP_CLASSES[classOf(70000)], 'other');
});
