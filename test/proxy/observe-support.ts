// For the metrics and status tests: a vgpu-proxy with the fake driver (no
// GPU here), its control API and its metrics endpoint; a scrape parser; the
// control calls the tests make (RegisterPod with the pod's names, which the
// shim's client does not send yet).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { startProxy, type ProxyHandle } from '../../devkit/proxy-process.js';
import { requireRingClient } from '../channel/ring-client.js';
import { controlProto } from '../../proxy/control/service.js';
import { buildFakeLibcuda } from './fake-driver.js';

export interface ObservedProxy {
  proxy: ProxyHandle;
  dir: string;
  control: string;
  metricsUrl: string;
  logFile: string;
  stop(): Promise<void>;
}

/** A TCP port free at the moment of asking (the proxy binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

let fakeLibcuda: string | null = null;

/** Starts a proxy on the fake driver, with --control-socket and --metrics-listen; extraArgs come last. */
export async function startObservedProxy(extraArgs: string[] = []): Promise<ObservedProxy> {
  requireRingClient();
  fakeLibcuda ??= buildFakeLibcuda();
  const dir = fs.mkdtempSync('/tmp/vgpu-obs-');
  const control = path.join(dir, 'control.sock');
  const port = await freePort();
  const logFile = path.join(dir, 'proxy.log');
  const proxy = await startProxy({
    socket: path.join(dir, 'proxy.sock'),
    libcuda: fakeLibcuda,
    logFile,
    extraArgs: ['--control-socket', control, '--pod-socket-dir', path.join(dir, 'pods'), '--metrics-listen', `127.0.0.1:${port}`, ...extraArgs],
  });
  for (let i = 0; i < 200 && !fs.existsSync(control); i++) await new Promise((r) => setTimeout(r, 50));
  return {
    proxy,
    dir,
    control,
    metricsUrl: `http://127.0.0.1:${port}/metrics`,
    logFile,
    stop: async () => {
      await proxy.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

export async function scrape(url: string): Promise<Sample[]> {
  const rsp = await fetch(url);
  if (rsp.status !== 200) throw new Error(`${url}: HTTP ${rsp.status}`);
  return parseExposition(await rsp.text());
}

/** The samples named `name` whose labels include `labels`. */
export function pick(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of pick(...)'s values (0 when none). */
export function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return pick(samples, name, labels).reduce((a, s) => a + s.value, 0);
}

/** Scrapes until ok(samples) holds (the guest servers report once a second), or throws after timeoutMs with the last scrape. */
export async function scrapeUntil(url: string, ok: (s: Sample[]) => boolean, timeoutMs = 10_000): Promise<Sample[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape(url);
    if (ok(s)) return s;
    if (Date.now() > end) throw new Error(`metrics never matched within ${timeoutMs} ms; last scrape:\n${s.filter((x) => x.name.startsWith('vgpu_')).map((x) => `${x.name}${JSON.stringify(x.labels)} ${x.value}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The control API's methods the tests call, straight from the .proto. */
export function controlClient(socket: string): { call<T>(method: string, req: object): Promise<T>; close(): void } {
  const def = loader.loadSync(controlProto(), { longs: Number, defaults: true });
  const Ctor = (grpc.loadPackageDefinition(def) as any).vgpu.control.v1.Control as grpc.ServiceClientConstructor;
  const client = new Ctor(`unix:${socket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  return {
    call: <T>(method: string, req: object) =>
      new Promise<T>((resolve, reject) => client[method]!(req, (err: Error | null, rsp: T) => (err ? reject(err) : resolve(rsp)))),
    close: () => client.close(),
  };
}
