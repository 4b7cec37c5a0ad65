// vgpu-proxy --xen: the xenstore rendezvous next to the unix sockets (one
// call from main.ts; everything else is in proxy/channel/xen-*.ts).
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { ProxyConfig } from './config.js';
import { XenRendezvous } from './channel/xen-rendezvous.js';
import type { ProxyServer } from './server.js';

export async function startXen(server: ProxyServer, config: ProxyConfig, log: Logger): Promise<XenRendezvous | null> {
  if (!config.xen) return null;
  const r = new XenRendezvous(server, config.xenstoreSocket, path.join(path.dirname(config.socket), 'xen', 'handover.sock'), log);
  try {
    await r.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'vgpu-proxy --xen could not start');
    process.exit(1);
  }
  return r;
}
