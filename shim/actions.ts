// The shim binary's actions: start (containerd's first call), delete
// (cleanup after a dead shim), -v (version).
import pino from 'pino';
import { parseFlags } from './flags.js';
import { startAction } from './start.js';
import { deleteAction } from './delete.js';
import { SHIM_VERSION } from './task-service.js';

export async function main(argv: string[]): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    process.stderr.write(`containerd-shim-xen-cri-v2: ${(err as Error).message}\n`);
    return 2;
  }
  if (flags.version) {
    process.stdout.write(`containerd-shim-xen-cri-v2:\n  Version: ${SHIM_VERSION}\n  Revision: process and xen backends\n`);
    return 0;
  }
  if (flags.info) {
    process.stderr.write('containerd-shim-xen-cri-v2: -info is not supported by this shim\n');
    return 1;
  }
  const log = pino({ level: flags.debug ? 'debug' : 'warn' }, pino.destination(2));
  try {
    switch (flags.action) {
      case 'start':
        await startAction(flags);
        return 0;
      case 'delete':
        await deleteAction(flags, log);
        return 0;
      default:
        process.stderr.write(`containerd-shim-xen-cri-v2: unknown action "${flags.action}" (start or delete; the shim itself is started by start)\n`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`xen-cri: ${flags.action} ${flags.id}: ${(err as Error).message}\n`);
    return 1;
  }
}
