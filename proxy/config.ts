// vgpu-proxy's settings, from the command line.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_GRAPH_NODES } from './guest/graph-nodes.js';

export interface ProxyConfig {
  socket: string;
  libcuda: string;
  device: number;
  memQuota: number;
  pinnedQuota: number;
  maxImage: number;
  maxHandles: number;
  maxGraphNodes: number;
  spinMicros: number;
  logLevel: string;
  guestIsolation: 'process' | 'thread';
  /** Content-addressed cache of module images shared by all guests ('' turns it off). */
  moduleCacheDir: string;
  /** Bytes the module cache may hold. */
  moduleCacheMax: number;
  /** the control API's socket (proxy/control); '' leaves it off */
  controlSocket: string;
  /** where pods' sockets are made: DIR/POD/proxy.sock */
  podSocketDir: string;
  /** serve Xen guests too: offers found in xenstore (proxy/channel/xen-rendezvous.ts) */
  xen: boolean;
  /** xenstored's socket (Dom0) */
  xenstoreSocket: string;
  /** page-lock each guest's arena, so its pageable copies are one guest memcpy plus DMA (--pageable-arena: off) */
  pinArena: boolean;
  /** HOST:PORT of the Prometheus endpoint (/metrics); '' leaves it off */
  metricsListen: string;
  /** serve /metrics on an address other than loopback too */
  metricsAllowRemote: boolean;
  /** NVML, for the per-GPU figures of /metrics and status */
  nvml: string;
  /** internal: this server takes xen hand-overs (set on the private socket's guests), never shm ones */
  xenHandover?: boolean;
}

export const USAGE = `usage: vgpu-proxy [options]
  --socket PATH             unix socket guests connect to (default /run/vgpu/proxy.sock)
  --libcuda PATH            the real CUDA driver library (default libcuda.so.1, or $VGPU_REAL_LIBCUDA)
  --device N                the GPU ordinal guests share (default 0)
  --guest-mem-quota SIZE    device memory each guest may allocate (default: the whole GPU)
  --guest-pinned-quota SIZE page-locked host memory each guest may share, its page-locked arena
                            included (default 8G)
  --max-image SIZE          largest module image a guest may load (default 1G)
  --max-handles N           most driver objects one guest may hold (default 1000000)
  --max-graph-nodes N       most CUDA graph nodes one guest's graphs may hold, cloned child graphs counted (default 262144)
  --spin-us N               how long a worker spins for the next request before sleeping (default 50)
  --log-level LEVEL         pino level: trace, debug, info, warn, error (default info)
  --guest-isolation MODE    process (default): each guest served by its own process, so one guest's
                            GPU fault cannot poison the others; thread: a worker thread each (lighter,
                            for guests that trust each other)
  --control-socket PATH     serve the control API (per-pod registration, proto/vgpu_control.proto) there
                            (default: off)
  --pod-socket-dir DIR      where registered pods' sockets are made (default /run/vgpu/pods)
  --xen                     also serve Xen guests (this is Dom0): their channels are offered in xenstore,
                            their pages granted (gntdev) and their wake-ups event channels; only
                            domains Dom0 marked with /local/domain/ID/xen-cri/vgpu-memory are served
  --xenstore PATH           xenstored's socket (default /run/xenstored/socket)
  --module-cache DIR        module images shared by all guests, named by their SHA-256, so each is sent
                            once (default $TMPDIR/vgpu-module-cache; '' turns it off)
  --module-cache-max SIZE   most bytes the module cache holds (default 8G)
  --pageable-arena          leave each guest's copy arena pageable (the driver then stages its copies
                            again); by default it is page-locked in the guest's context, and its space
                            released by CUDA events as the copies finish
  --metrics-listen HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics: per pod and guest
                            memory, quotas, requests by op class, latency, launches, copies, refusals,
                            exits; per GPU memory and utilisation (NVML). Loopback only (127.0.0.1:9464,
                            [::1]:9464) unless --metrics-allow-remote (default: off)
  --metrics-allow-remote    let --metrics-listen take an address other than loopback (the figures name
                            pods and their usage: put a firewall or a proxy with TLS in front)
  --nvml PATH               NVML, for the per-GPU figures (default libnvidia-ml.so.1); without it they
                            are left out
SIZE takes a suffix K, M, G or T (powers of 1024).

usage: vgpu-proxy status [--control-socket PATH] [--json]
  asks the running proxy, over its control API (default /run/vgpu/control.sock), for every pod and
  guest it serves, and prints them as a table (--json: the GetStatus answer as JSON)`;

export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`${what}: cannot read "${text}" as a size (examples: 512M, 8G)`);
  const scale = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.floor(Number(m[1]) * scale);
}

function parseCount(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what}: "${text}" is not a whole number`);
  return n;
}

function parseIsolation(text: string): 'process' | 'thread' {
  if (text !== 'process' && text !== 'thread') throw new Error(`--guest-isolation: "${text}" is neither process nor thread`);
  return text;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      socket: { type: 'string' },
      libcuda: { type: 'string' },
      device: { type: 'string' },
      'guest-mem-quota': { type: 'string' },
      'guest-pinned-quota': { type: 'string' },
      'max-image': { type: 'string' },
      'max-handles': { type: 'string' },
      'max-graph-nodes': { type: 'string' },
      'spin-us': { type: 'string' },
      'log-level': { type: 'string' },
      'guest-isolation': { type: 'string' },
      'module-cache': { type: 'string' },
      'module-cache-max': { type: 'string' },
      'control-socket': { type: 'string' },
      'pod-socket-dir': { type: 'string' },
      xen: { type: 'boolean' },
      'pageable-arena': { type: 'boolean' },
      xenstore: { type: 'string' },
      'metrics-listen': { type: 'string' },
      'metrics-allow-remote': { type: 'boolean' },
      nvml: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) throw new Error(USAGE);
  const metricsAllowRemote = values['metrics-allow-remote'] ?? false;
  const metricsListen = values['metrics-listen'] ?? '';
  if (metricsListen) parseListen(metricsListen, metricsAllowRemote);
  return {
    socket: values.socket ?? '/run/vgpu/proxy.sock',
    libcuda: values.libcuda ?? env.VGPU_REAL_LIBCUDA ?? 'libcuda.so.1',
    device: values.device ? parseCount(values.device, '--device') : 0,
    memQuota: values['guest-mem-quota'] ? parseSize(values['guest-mem-quota'], '--guest-mem-quota') : Number.MAX_SAFE_INTEGER,
    pinnedQuota: parseSize(values['guest-pinned-quota'] ?? '8G', '--guest-pinned-quota'),
    maxImage: parseSize(values['max-image'] ?? '1G', '--max-image'),
    maxHandles: values['max-handles'] ? parseCount(values['max-handles'], '--max-handles') : 1_000_000,
    maxGraphNodes: values['max-graph-nodes'] ? parseCount(values['max-graph-nodes'], '--max-graph-nodes') : DEFAULT_MAX_GRAPH_NODES,
    spinMicros: values['spin-us'] ? parseCount(values['spin-us'], '--spin-us') : 50,
    logLevel: values['log-level'] ?? 'info',
    guestIsolation: parseIsolation(values['guest-isolation'] ?? 'process'),
    moduleCacheDir: values['module-cache'] ?? join(tmpdir(), 'vgpu-module-cache'),
    moduleCacheMax: parseSize(values['module-cache-max'] ?? '8G', '--module-cache-max'),
    controlSocket: values['control-socket'] ?? '',
    podSocketDir: values['pod-socket-dir'] ?? '/run/vgpu/pods',
    xen: values.xen ?? false,
    xenstoreSocket: values.xenstore ?? '/run/xenstored/socket',
    pinArena: !(values['pageable-arena'] ?? false),
    metricsListen,
    metricsAllowRemote,
    nvml: values.nvml ?? 'libnvidia-ml.so.1',
  };
}

/**
 * HOST:PORT (or [IPv6]:PORT) of --metrics-listen.  The host must be a
 * loopback address (127.0.0.0/8, ::1, localhost) unless allowRemote.
 */
export function parseListen(text: string, allowRemote: boolean): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = m ? (m[1] ?? m[2]!) : '';
  const port = m ? Number(m[3]) : -1;
  if (!m || port < 1 || port > 65535) throw new Error(`--metrics-listen: "${text}" is not HOST:PORT (examples: 127.0.0.1:9464, [::1]:9464)`);
  if (!allowRemote && !isLoopback(host)) {
    throw new Error(`--metrics-listen: ${host} is not a loopback address; the metrics name pods and their usage: add --metrics-allow-remote to serve them there`);
  }
  return { host, port };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return v4 !== null && v4.slice(1).every((p) => Number(p) <= 255);
}
