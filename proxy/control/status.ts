// The control API's GetStatus answer: every pod with a registration or a
// guest, each guest's figures as its server last reported them (at most a
// second old), and the GPUs as NVML sees them now.  Field names follow
// proto/vgpu_control.proto (camelCase, as proto-loader maps them).
import type { ProxyServer } from '../server.js';
import { viewGuest } from '../metrics/guest-directory.js';
import type { Nvml } from '../metrics/nvml.js';

export interface GuestStatus {
  guestId: number;
  pid: number;
  domid: number;
  transport: string;
  client: string;
  containerId: string;
  deviceMemUsedBytes: number;
  deviceMemQuotaBytes: number;
  pinnedUsedBytes: number;
  pinnedQuotaBytes: number;
  requestsServed: number;
  ageMs: number;
}

export interface PodStatus {
  podId: string;
  namespace: string;
  name: string;
  uid: string;
  memQuotaBytes: number;
  registered: boolean;
  guests: GuestStatus[];
}

export interface GpuStatus {
  index: number;
  uuid: string;
  name: string;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  utilizationPercent: number;
}

export interface StatusAnswer {
  proxyPid: number;
  uptimeMs: number;
  guestIsolation: string;
  device: number;
  pods: PodStatus[];
  gpus: GpuStatus[];
  gpusAbsentReason: string;
}

export interface StatusSource {
  server: ProxyServer;
  /** NVML, or why there is none */
  nvml: Nvml | null;
  nvmlAbsent: string;
  /** wall-clock ms the proxy started */
  startedMs: number;
}

export function buildStatus(src: StatusSource, now = Date.now()): StatusAnswer {
  const dir = src.server.directory;
  dir.sweep();
  const live = dir.guests().filter((g) => g.endedMs === null);
  const pods: PodStatus[] = dir
    .pods()
    // The proxy's own socket ('') only while a guest uses it; a pod while registered or while its guests are released.
    .filter((p) => (p.registered && p.podId !== '') || live.some((g) => g.pod === p.podId))
    .map((p) => ({
      podId: p.podId,
      namespace: p.meta.namespace,
      name: p.meta.name,
      uid: p.meta.uid,
      memQuotaBytes: p.memQuota,
      registered: p.registered,
      guests: live
        .filter((g) => g.pod === p.podId)
        .map(viewGuest)
        .map((v) => ({
          guestId: v.guestId,
          pid: v.pid,
          domid: v.domid,
          transport: v.transport,
          client: v.client,
          containerId: v.container,
          deviceMemUsedBytes: v.memUsed,
          deviceMemQuotaBytes: v.memQuota,
          pinnedUsedBytes: v.pinnedUsed,
          pinnedQuotaBytes: v.pinnedQuota,
          requestsServed: v.requests,
          ageMs: Math.max(0, now - v.startedMs),
        })),
    }));
  const gpus = (src.nvml?.read() ?? []).map((g) => ({
    index: g.index,
    uuid: g.uuid,
    name: g.name,
    memoryTotalBytes: g.memTotal,
    memoryUsedBytes: g.memUsed,
    utilizationPercent: g.utilGpu,
  }));
  return {
    proxyPid: process.pid,
    uptimeMs: now - src.startedMs,
    guestIsolation: src.server.config.guestIsolation,
    device: src.server.config.device,
    pods,
    gpus,
    gpusAbsentReason: src.nvml ? '' : src.nvmlAbsent,
  };
}
