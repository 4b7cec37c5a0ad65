// The long-lived shim of one pod: serves containerd's Task API over ttrpc on
// its socket until containerd shuts it down with no task left.
import * as fs from 'node:fs';
import pino from 'pino';
import { backendFor } from './sandbox/select.js';
import { TtrpcServer } from './ttrpc/server.js';
import { parseConfig } from './config.js';
import { Publisher } from './events.js';
import { parseFlags } from './flags.js';
import { TaskService } from './task-service.js';
import { socketAlive } from './socket.js';

/** The shim's log goes to the FIFO `log` containerd opened in the bundle (into containerd's own log). */
function logDestination(): pino.DestinationStream {
  let fd = -1;
  try {
    fd = fs.openSync('log', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    fd = -1;
  }
  return {
    write(s: string): void {
      if (fd < 0) return;
      try {
        fs.writeSync(fd, s);
      } catch {
        /* containerd away (restarting) or the pipe full: the line is dropped, never the shim */
      }
    },
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const config = parseConfig(process.env.XEN_CRI_CONFIG_JSON ?? '', process.env.XEN_CRI_CONFIG_SOURCE ?? 'XEN_CRI_CONFIG_JSON');
  const log = pino({ level: flags.debug ? 'debug' : config.logLevel, base: { runtime: 'xen-cri', pod: flags.id, ns: flags.namespace } }, logDestination());
  if (await socketAlive(flags.socket)) throw new Error(`a shim already serves ${flags.socket}`);
  const backend = backendFor(config, log);
  const events = new Publisher(process.env.TTRPC_ADDRESS ?? '', flags.namespace, log);
  const server = new TtrpcServer(log);
  let ending = false;
  const end = async (why: string): Promise<void> => {
    if (ending) return;
    ending = true;
    log.info({ why }, 'shim exiting');
    await Promise.race([events.flush(), new Promise((r) => setTimeout(r, 5000))]);
    events.close();
    await server.close();
    fs.rmSync(flags.socket, { force: true });
    process.exit(0);
  };
  const service = new TaskService(flags.namespace, config, backend, events, log, () => void end('shutdown'));
  server.register('containerd.task.v2.Task', service.service());
  await server.listen(flags.socket);
  process.on('unhandledRejection', (err) => log.error({ err: (err as Error)?.message ?? String(err) }, 'unhandled rejection'));
  process.on('SIGTERM', () => log.warn('SIGTERM ignored: the shim ends when containerd shuts it down'));
  process.on('SIGPIPE', () => undefined);
  log.info({ socket: flags.socket, backend: config.backend, config: config.source }, 'xen-cri shim serving');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
