// The op table: every request op the proxy serves, indexed by its number.
import { Op } from '../wire/layout.js';
import { contextOps } from './context.js';
import { deviceOps } from './device.js';
import { diagnosticOps } from './diagnostics.js';
import { launchOps } from './launch.js';
import { memoryOps } from './memory.js';
import { moduleOps } from './module.js';
import type { OpSpec } from './op.js';
import { streamOps } from './stream.js';
import { graphOps } from './graph.js';
import { graphBuildOps } from './graph-build.js';
import { vmmOps } from './vmm.js';
import { hostFuncOps } from './host-func.js';

export function opTable(): (OpSpec | undefined)[] {
  const table: (OpSpec | undefined)[] = new Array(Op.COUNT).fill(undefined);
  for (const spec of [...diagnosticOps, ...deviceOps, ...contextOps, ...memoryOps, ...moduleOps, ...launchOps, ...streamOps, ...graphOps, ...graphBuildOps, ...vmmOps, ...hostFuncOps]) {
    if (table[spec.op]) throw new Error(`op ${spec.op} registered twice`);
    table[spec.op] = spec;
  }
  return table;
}
