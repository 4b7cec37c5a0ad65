#!/usr/bin/env node
// vgpu-device-plugin: the kubelet's device plugin for xen-cri.io/vgpu-memory
// (deploy/device-plugin/README.md).  Stops on SIGTERM or SIGINT.
import pino from 'pino';
import { parseConfig, USAGE, type PluginConfig } from './config.js';
import { VgpuDevicePlugin } from './plugin.js';

async function run(): Promise<void> {
  let config: PluginConfig;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    const msg = (err as Error).message;
    process.stderr.write(msg === USAGE ? `${USAGE}\n` : `vgpu-device-plugin: ${msg}\n${USAGE}\n`);
    process.exit(msg === USAGE ? 0 : 2);
  }
  const log = pino({ level: config.logLevel, base: { service: 'vgpu-device-plugin' } }, pino.destination({ dest: 1, sync: true }));
  const plugin = new VgpuDevicePlugin(config, log);
  try {
    await plugin.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'vgpu-device-plugin could not start');
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'vgpu-device-plugin stopping');
    plugin.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err: (err as Error).message }, 'vgpu-device-plugin did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void run();
