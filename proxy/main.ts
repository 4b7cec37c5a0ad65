#!/usr/bin/env node
// vgpu-proxy: serves the CUDA driver API to guests over IDM rings.
import pino from 'pino';
import { parseConfig, USAGE } from './config.js';
import { ProxyServer } from './server.js';
import { PodRegistry } from './control/registry.js';
import { ControlService } from './control/service.js';
import { startXen } from './xen.js';

async function run(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    const msg = (err as Error).message;
    process.stderr.write(msg === USAGE ? `${USAGE}\n` : `vgpu-proxy: ${msg}\n${USAGE}\n`);
    process.exit(msg === USAGE ? 0 : 2);
  }
  const log = pino({ level: config.logLevel, base: { service: 'vgpu-proxy' } }, pino.destination({ dest: 1, sync: true }));
  const server = new ProxyServer(config, log);
  try {
    server.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'vgpu-proxy could not start');
    process.exit(1);
  }
  const registry = new PodRegistry(server, config.podSocketDir, log);
  let control: ControlService | null = null;
  if (config.controlSocket) {
    try {
      control = new ControlService(registry, log);
      await control.listen(config.controlSocket);
    } catch (err) {
      log.fatal({ err: (err as Error).message, socket: config.controlSocket }, 'vgpu-proxy could not serve its control API');
      process.exit(1);
    }
  }
  const xen = await startXen(server, config, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, guests: server.guestCount }, 'vgpu-proxy stopping');
    void (async () => {
      await control?.close();
      await xen?.stop();
      await registry.closeAll();
      await server.stop();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void run();
