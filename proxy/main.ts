#!/usr/bin/env node
// vgpu-proxy: serves the CUDA driver API to guests over IDM rings.
// `vgpu-proxy status` asks a running one what it serves (proxy/status.ts).
import pino from 'pino';
import { parseConfig, parseListen, USAGE } from './config.js';
import { ProxyServer } from './server.js';
import { PodRegistry } from './control/registry.js';
import { ControlService } from './control/service.js';
import { buildStatus } from './control/status.js';
import { MetricsExporter } from './metrics/exporter.js';
import { Nvml } from './metrics/nvml.js';
import { runStatus } from './status.js';
import { startXen } from './xen.js';

async function run(): Promise<void> {
  if (process.argv[2] === 'status') {
    process.exitCode = await runStatus(process.argv.slice(3));
    return;
  }
  const startedMs = Date.now();
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
  // NVML, for the per-GPU figures of /metrics and GetStatus; without it they are left out.
  let nvml: Nvml | null = null;
  let nvmlAbsent = '';
  if (config.metricsListen || config.controlSocket) {
    try {
      nvml = Nvml.open(config.nvml);
      log.info({ gpus: nvml.count }, 'NVML ready: per-GPU figures in metrics and status');
    } catch (err) {
      nvmlAbsent = `NVML not available (${(err as Error).message})`;
      log.info({ reason: (err as Error).message }, 'NVML not available: GPU metrics are left out');
    }
  }
  let metrics: MetricsExporter | null = null;
  if (config.metricsListen) {
    const { host, port } = parseListen(config.metricsListen, config.metricsAllowRemote);
    try {
      metrics = new MetricsExporter(server.directory, nvml, log);
      await metrics.listen(host, port);
    } catch (err) {
      log.fatal({ err: (err as Error).message, listen: config.metricsListen }, 'vgpu-proxy could not serve its metrics');
      process.exit(1);
    }
  }
  let control: ControlService | null = null;
  if (config.controlSocket) {
    try {
      control = new ControlService(registry, log, () => buildStatus({ server, nvml, nvmlAbsent, startedMs }));
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
      await metrics?.close();
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
