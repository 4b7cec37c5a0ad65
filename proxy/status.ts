// `vgpu-proxy status`: asks the running proxy, over its control API
// (GetStatus, proto/vgpu_control.proto), what it serves, and prints it as a
// table in the manner of nvidia-smi's: the GPUs, then one line per guest
// process with its pod, pid, container, device memory against its quota,
// page-locked memory, requests served and age.
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { controlProto } from './control/service.js';
import type { StatusAnswer } from './control/status.js';

export const DEFAULT_CONTROL_SOCKET = '/run/vgpu/control.sock';

/** GetStatus of the proxy whose control API listens at socket. */
export async function fetchStatus(socket: string, timeoutMs = 5000): Promise<StatusAnswer> {
  const def = loader.loadSync(controlProto(), { longs: Number, defaults: true });
  const Ctor = (grpc.loadPackageDefinition(def) as any).vgpu.control.v1.Control as grpc.ServiceClientConstructor;
  const client = new Ctor(`unix:${socket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  try {
    return await new Promise<StatusAnswer>((resolve, reject) =>
      client.GetStatus({}, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, rsp: StatusAnswer) => (err ? reject(err) : resolve(rsp))),
    );
  } finally {
    client.close();
  }
}

const MIB = 2 ** 20;
/** Quotas at or above this are "no quota" (the proxy's default is the whole GPU, as Number.MAX_SAFE_INTEGER). */
const NO_QUOTA = 2 ** 52;

function mib(bytes: number): string {
  return `${Math.round(bytes / MIB)}MiB`;
}

export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** Guest-chosen text made printable and short. */
function printable(text: string, max: number): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max - 1)}~` : clean;
}

type Align = 'l' | 'r';

/** Rows as columns padded to their widest cell. */
function columns(rows: string[][], align: Align[]): string[] {
  const widths = align.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => align.map((a, i) => (a === 'l' ? (r[i] ?? '').padEnd(widths[i]!) : (r[i] ?? '').padStart(widths[i]!))).join('  ').trimEnd());
}

/** Text cut at spaces into lines of at most width characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Lines inside a box as wide as the widest of them. */
function box(sections: string[][]): string {
  const width = Math.max(...sections.flat().map((l) => l.length));
  const rule = `+${'-'.repeat(width + 2)}+`;
  const out = [rule];
  sections.forEach((lines, i) => {
    if (i > 0) out.push(`|${'='.repeat(width + 2)}|`);
    for (const l of lines) out.push(`| ${l.padEnd(width)} |`);
  });
  out.push(rule);
  return out.join('\n');
}

/** The status as a table (what `vgpu-proxy status` prints). */
export function formatStatus(s: StatusAnswer): string {
  const head = `vgpu-proxy  pid ${s.proxyPid}  up ${formatAge(s.uptimeMs)}  guest isolation: ${s.guestIsolation}  CUDA device ${s.device}`;

  const rows: string[][] = [['Pod', 'Namespace/Name', 'Guest', 'PID', 'Container', 'Client', 'Device memory / quota', 'Pinned', 'Requests', 'Age']];
  let guests = 0;
  for (const p of s.pods) {
    const pod = p.podId === '' ? '(proxy socket)' : p.podId;
    const name = p.namespace || p.name ? `${p.namespace || '-'}/${p.name || '-'}` : '-';
    if (p.guests.length === 0) {
      const quota = p.memQuotaBytes > 0 ? `quota ${mib(p.memQuotaBytes)}` : '';
      rows.push([pod, name, '-', '-', '-', '(no guest)', quota, '', '', '']);
      continue;
    }
    for (const g of p.guests) {
      guests++;
      const quota = g.deviceMemQuotaBytes >= NO_QUOTA ? 'no quota' : mib(g.deviceMemQuotaBytes);
      rows.push([
        pod,
        name,
        String(g.guestId),
        g.pid > 0 ? String(g.pid) : g.domid >= 0 ? `dom${g.domid}` : '-',
        g.containerId ? g.containerId.slice(0, 12) : '-',
        printable(g.client, 16) || '-',
        `${mib(g.deviceMemUsedBytes)} / ${quota}`,
        mib(g.pinnedUsedBytes),
        String(g.requestsServed),
        formatAge(g.ageMs),
      ]);
    }
  }
  const guestLines = s.pods.length
    ? columns(rows, ['l', 'l', 'r', 'r', 'l', 'l', 'r', 'r', 'r', 'r'])
    : ['No pods registered and no guest connected'];
  const width = Math.max(60, head.length, ...guestLines.map((l) => l.length));
  const gpuLines = s.gpus.length
    ? columns([
      ['GPU', 'Name', 'UUID', 'Memory-Usage', 'GPU-Util'],
      ...s.gpus.map((g) => [String(g.index), g.name, g.uuid, `${mib(g.memoryUsedBytes)} / ${mib(g.memoryTotalBytes)}`, g.utilizationPercent < 0 ? 'N/A' : `${g.utilizationPercent}%`]),
    ], ['r', 'l', 'l', 'r', 'r'])
    : wrap(`No GPU figures: ${s.gpusAbsentReason || 'NVML sees no GPU'}`, width);
  return box([[head], gpuLines, [`Guest processes: ${guests}`, ...guestLines]]);
}

/** The status subcommand; returns the exit status. */
export async function runStatus(argv: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { 'control-socket': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }));
  } catch (err) {
    process.stderr.write(`vgpu-proxy status: ${(err as Error).message}\nusage: vgpu-proxy status [--control-socket PATH] [--json]\n`);
    return 2;
  }
  if (values.help) {
    out('usage: vgpu-proxy status [--control-socket PATH] [--json]\n');
    return 0;
  }
  const socket = values['control-socket'] ?? DEFAULT_CONTROL_SOCKET;
  let answer: StatusAnswer;
  try {
    answer = await fetchStatus(socket);
  } catch (err) {
    process.stderr.write(`vgpu-proxy status: cannot ask the proxy at ${socket}: ${(err as Error).message} (is vgpu-proxy running with --control-socket ${socket}?)\n`);
    return 1;
  }
  out(values.json ? `${JSON.stringify(answer, null, 2)}\n` : `${formatStatus(answer)}\n`);
  return 0;
}
