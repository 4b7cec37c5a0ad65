// vgpu-proxy's Prometheus endpoint (--metrics-listen): prom-client metrics
// whose values are read, at each scrape, from the guest directory (the
// figures guest servers sent, guest-directory.ts) and from NVML.  Nothing is
// counted here: the guest servers count, this only shows.  The list, with
// each metric's labels and meaning, is in README.md ("Observing a node").
import * as http from 'node:http';
import client from 'prom-client';
import type { Logger } from 'pino';
import { FAULT_CODES } from '../channel/errors.js';
import { BUCKETS_PER_CLASS, END_REASONS, LATENCY_BOUNDS, REFUSALS, RELEASED, Snap, snapClient, TRANSPORTS } from './guest-stats.js';
import { GuestDirectory, GuestRecord, PodRecord } from './guest-directory.js';
import type { GpuFigures, Nvml } from './nvml.js';
import { OP_CLASSES } from './op-class.js';

type Labels = Record<string, string | number>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}
type Kind = 'counter' | 'gauge' | 'histogram';

const POD_LABELS = ['pod', 'namespace', 'pod_name'] as const;
const GUEST_LABELS = [...POD_LABELS, 'guest'] as const;
const GPU_LABELS = ['gpu', 'uuid'] as const;

/** Keeps a label value printable and short (a guest names its own client). */
function clean(text: string, max = 64): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

/**
 * A metric of prom-client's own type whose samples come from read() at each
 * scrape (prom-client formats them; its own bookkeeping stays empty).
 */
function defineMetric(registry: client.Registry, kind: Kind, name: string, help: string, labelNames: readonly string[], read: () => Sample[]): void {
  const config = { name, help, labelNames: [...labelNames], registers: [registry] };
  const metric =
    kind === 'counter' ? new client.Counter(config) : kind === 'gauge' ? new client.Gauge(config) : new client.Histogram({ ...config, buckets: [...LATENCY_BOUNDS] });
  const get = async () => ({ name, help, type: kind, aggregator: 'sum' as const, values: read() });
  Object.assign(metric, { get, ...(kind === 'histogram' ? { getForPromString: get } : {}) });
}

export class MetricsExporter {
  readonly registry = new client.Registry();
  #server: http.Server | null = null;
  /** GPU figures of the scrape in progress (read once per scrape) */
  #gpus: GpuFigures[] = [];

  constructor(readonly directory: GuestDirectory, readonly nvml: Nvml | null, readonly log: Logger) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'vgpu_proxy_' });
    this.#defineGuestMetrics();
    this.#definePodMetrics();
    this.#defineGpuMetrics();
  }

  #podLabels(p: PodRecord | undefined, podId: string): Labels {
    return { pod: podId, namespace: p?.meta.namespace ?? '', pod_name: p?.meta.name ?? '' };
  }

  #guestLabels(g: GuestRecord): Labels {
    return { ...this.#podLabels(this.directory.pod(g.pod), g.pod), guest: g.guestId };
  }

  /** Samples of every guest with figures (live ones only with `live`), one per guest and index. */
  #perGuest(live: boolean, each: (g: GuestRecord, s: Float64Array, base: Labels) => Sample[]): () => Sample[] {
    return () => {
      const out: Sample[] = [];
      for (const g of this.directory.guests()) {
        if (!g.snap || (live && g.endedMs !== null)) continue;
        out.push(...each(g, g.snap, this.#guestLabels(g)));
      }
      return out;
    };
  }

  #defineGuestMetrics(): void {
    const r = this.registry;
    const gauge = (name: string, help: string, at: number): void =>
      defineMetric(r, 'gauge', name, help, GUEST_LABELS, this.#perGuest(true, (_g, s, labels) => [{ labels, value: s[at]! }]));
    gauge('vgpu_guest_device_memory_used_bytes', 'Device memory the guest process holds (allocations, VMM physical memory, context heap and stacks), bytes.', Snap.MEM_USED);
    gauge('vgpu_guest_device_memory_quota_bytes', 'Device memory the guest process may hold, bytes (its pod\'s quota, else --guest-mem-quota).', Snap.MEM_QUOTA);
    gauge('vgpu_guest_pinned_memory_used_bytes', 'Page-locked host memory the guest process holds (its page-locked arena and cuMemHostAlloc segments), bytes.', Snap.PINNED_USED);
    gauge('vgpu_guest_pinned_memory_quota_bytes', 'Page-locked host memory the guest process may hold, bytes (--guest-pinned-quota).', Snap.PINNED_QUOTA);
    defineMetric(r, 'gauge', 'vgpu_guest_start_time_seconds', 'When the guest process connected, seconds since the epoch.', GUEST_LABELS,
      this.#perGuest(true, (_g, s, labels) => [{ labels, value: s[Snap.STARTED_MS]! / 1000 }]));
    defineMetric(r, 'gauge', 'vgpu_guest_info', 'One per guest process served: its pid (shm), domain (xen), program name, container and transport.',
      [...GUEST_LABELS, 'pid', 'domid', 'client', 'container', 'transport'],
      this.#perGuest(true, (g, s, labels) => [{
        labels: { ...labels, pid: s[Snap.PID]!, domid: s[Snap.DOMID]! >= 0 ? s[Snap.DOMID]! : '', client: clean(snapClient(s)), container: g.container, transport: TRANSPORTS[s[Snap.TRANSPORT]!] ?? '' },
        value: 1,
      }]));

    const perClass = (at: number) => this.#perGuest(false, (_g, s, labels) => OP_CLASSES.map((c, i) => ({ labels: { ...labels, class: c }, value: s[at + i]! })));
    defineMetric(r, 'counter', 'vgpu_guest_requests_total', 'Requests served, by op class.', [...GUEST_LABELS, 'class'], perClass(Snap.REQUESTS));
    defineMetric(r, 'counter', 'vgpu_guest_request_errors_total', 'Requests that ended with a CUresult other than CUDA_SUCCESS, by op class.', [...GUEST_LABELS, 'class'], perClass(Snap.ERRORS));
    defineMetric(r, 'histogram', 'vgpu_guest_request_duration_seconds',
      'Time the proxy took to serve a request, from taking it off the ring to answering it (or finishing it, unanswered), by op class.',
      [...GUEST_LABELS, 'class'],
      this.#perGuest(false, (_g, s, labels) => {
        const out: Sample[] = [];
        OP_CLASSES.forEach((c, i) => {
          const l = { ...labels, class: c };
          const first = Snap.LAT_BUCKETS + i * BUCKETS_PER_CLASS;
          let acc = 0;
          LATENCY_BOUNDS.forEach((le, b) => {
            acc += s[first + b]!;
            out.push({ metricName: 'vgpu_guest_request_duration_seconds_bucket', labels: { ...l, le }, value: acc });
          });
          acc += s[first + LATENCY_BOUNDS.length]!;
          out.push({ metricName: 'vgpu_guest_request_duration_seconds_bucket', labels: { ...l, le: '+Inf' }, value: acc });
          out.push({ metricName: 'vgpu_guest_request_duration_seconds_sum', labels: l, value: s[Snap.LAT_SUM + i]! });
          out.push({ metricName: 'vgpu_guest_request_duration_seconds_count', labels: l, value: acc });
        });
        return out;
      }));
    defineMetric(r, 'counter', 'vgpu_guest_launches_total', 'Launches accepted: kernel (cuLaunchKernel and kin) and graph (cuGraphLaunch).', [...GUEST_LABELS, 'kind'],
      this.#perGuest(false, (_g, s, labels) => [
        { labels: { ...labels, kind: 'kernel' }, value: s[Snap.LAUNCH_KERNEL]! },
        { labels: { ...labels, kind: 'graph' }, value: s[Snap.LAUNCH_GRAPH]! },
      ]));
    defineMetric(r, 'counter', 'vgpu_guest_copied_bytes_total', 'Bytes of copies accepted, by direction: htod (host to device), dtoh, dtod.', [...GUEST_LABELS, 'direction'],
      this.#perGuest(false, (_g, s, labels) => [
        { labels: { ...labels, direction: 'htod' }, value: s[Snap.COPY_HTOD]! },
        { labels: { ...labels, direction: 'dtoh' }, value: s[Snap.COPY_DTOH]! },
        { labels: { ...labels, direction: 'dtod' }, value: s[Snap.COPY_DTOD]! },
      ]));
    defineMetric(r, 'counter', 'vgpu_guest_refusals_total', 'Requests refused: a quota exceeded, or a request no libvgpu sends, by kind.', [...GUEST_LABELS, 'kind'],
      this.#perGuest(false, (_g, s, labels) => REFUSALS.map((k, i) => ({ labels: { ...labels, kind: k }, value: s[Snap.REFUSALS + i]! }))));
  }

  #definePodMetrics(): void {
    const r = this.registry;
    const perPod = (each: (p: PodRecord, labels: Labels) => Sample[]) => () => this.directory.pods().flatMap((p) => each(p, this.#podLabels(p, p.podId)));
    defineMetric(r, 'gauge', 'vgpu_pod_info', 'One per pod the proxy serves (pod "" is the proxy\'s own socket), with the pod\'s uid.', [...POD_LABELS, 'pod_uid'],
      perPod((p, labels) => [{ labels: { ...labels, pod_uid: p.meta.uid }, value: 1 }]));
    defineMetric(r, 'gauge', 'vgpu_pod_guests', 'Guest processes of the pod being served now.', POD_LABELS,
      perPod((p, labels) => [{ labels, value: this.directory.guests().filter((g) => g.pod === p.podId && g.endedMs === null).length }]));
    defineMetric(r, 'gauge', 'vgpu_pod_device_memory_used_bytes', 'Device memory the pod\'s guest processes hold together, bytes.', POD_LABELS,
      perPod((p, labels) => [{
        labels,
        value: this.directory.guests().reduce((sum, g) => sum + (g.pod === p.podId && g.endedMs === null && g.snap ? g.snap[Snap.MEM_USED]! : 0), 0),
      }]));
    defineMetric(r, 'gauge', 'vgpu_pod_device_memory_quota_bytes', 'The device-memory quota the pod was registered with (each of its guest processes may hold this much), bytes; absent when it has none of its own.', POD_LABELS,
      perPod((p, labels) => (p.memQuota > 0 ? [{ labels, value: p.memQuota }] : [])));
    defineMetric(r, 'counter', 'vgpu_pod_guest_exits_total',
      'Guest servers ended, by reason: guest_closed (the process closed its channel), guest_gone (it died), fault (it broke the channel protocol), refused (at hand-over), stopped (the proxy stopped), server_died (the guest server crashed).',
      [...POD_LABELS, 'reason'], perPod((p, labels) => END_REASONS.map((reason, i) => ({ labels: { ...labels, reason }, value: p.exits[i]! }))));
    defineMetric(r, 'counter', 'vgpu_pod_guest_faults_total', 'Guest channels closed for a protocol fault, by ChannelFault code (hand-over refusals included).',
      [...POD_LABELS, 'code'], perPod((p, labels) => FAULT_CODES.map((code, i) => ({ labels: { ...labels, code }, value: p.faults[i]! }))));
    const counts = RELEASED.filter((k) => k !== 'device_bytes');
    defineMetric(r, 'counter', 'vgpu_pod_reclaimed_total', 'Objects the proxy released for guests that ended, by resource (contexts, libraries, segments, vmm_mappings, vmm_allocations, vmm_reservations).',
      [...POD_LABELS, 'resource'], perPod((p, labels) => counts.map((resource) => ({ labels: { ...labels, resource }, value: p.reclaimed[RELEASED.indexOf(resource)]! }))));
    defineMetric(r, 'counter', 'vgpu_pod_reclaimed_device_bytes_total', 'Device memory guests still held when they ended, released by the proxy, bytes.', POD_LABELS,
      perPod((p, labels) => [{ labels, value: p.reclaimed[RELEASED.indexOf('device_bytes')]! }]));
    defineMetric(r, 'gauge', 'vgpu_proxy_guests', 'Guest servers running.', [], () => [{ labels: {}, value: this.directory.serving }]);
  }

  #defineGpuMetrics(): void {
    const r = this.registry;
    defineMetric(r, 'gauge', 'vgpu_proxy_nvml_up', '1 when NVML answers (the vgpu_gpu_* metrics are there), else 0.', [], () => [{ labels: {}, value: this.nvml ? 1 : 0 }]);
    if (!this.nvml) return;
    const gpu = (name: string, help: string, value: (g: GpuFigures) => number): void =>
      defineMetric(r, 'gauge', name, help, GPU_LABELS, () =>
        this.#gpus.filter((g) => value(g) >= 0).map((g) => ({ labels: { gpu: g.index, uuid: g.uuid }, value: value(g) })));
    gpu('vgpu_gpu_memory_total_bytes', 'The GPU\'s memory, bytes (NVML).', (g) => g.memTotal);
    gpu('vgpu_gpu_memory_used_bytes', 'The GPU\'s memory in use by every process, bytes (NVML).', (g) => g.memUsed);
    gpu('vgpu_gpu_utilization_ratio', 'Share of the last sample period in which a kernel ran on the GPU, 0..1 (NVML).', (g) => (g.utilGpu < 0 ? -1 : g.utilGpu / 100));
    gpu('vgpu_gpu_memory_utilization_ratio', 'Share of the last sample period in which device memory was read or written, 0..1 (NVML).', (g) => (g.utilMemory < 0 ? -1 : g.utilMemory / 100));
    defineMetric(r, 'gauge', 'vgpu_gpu_info', 'One per GPU NVML sees, with its name.', [...GPU_LABELS, 'name'], () =>
      this.#gpus.map((g) => ({ labels: { gpu: g.index, uuid: g.uuid, name: g.name }, value: 1 })));
  }

  /** The exposition text of one scrape. */
  async scrape(): Promise<string> {
    this.directory.sweep();
    this.#gpus = this.nvml ? this.nvml.read() : [];
    return this.registry.metrics();
  }

  /** Serves GET /metrics at host:port; resolves once listening. */
  async listen(host: string, port: number): Promise<void> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        this.scrape().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
          (err: Error) => {
            this.log.error({ err: err.message }, 'metrics scrape failed');
            res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${err.message}\n`);
          },
        );
      } else if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('vgpu-proxy: metrics at /metrics\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err: err.message }, 'metrics endpoint failed'));
    this.#server = server;
    this.log.info({ url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics` }, 'metrics endpoint ready');
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
