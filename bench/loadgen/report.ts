// compare.md, compare.json and the PNG charts of one comparison.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccuracyComparison } from './accuracy-compare.js';
import type { GpuStats } from './gpu-sampler.js';
import type { LoadGenSummary } from './summary.js';
import { BARS, signed, type Metrics, type Verdict } from './verdict.js';
import { markdownTable } from '../../devkit/report.js';
import type { HostInfo } from '../../devkit/host-info.js';

export interface PathResult {
  dir: string;
  metrics: Metrics;
  summary: Omit<LoadGenSummary, 'fields'>;
  gpu: GpuStats | null;
  gpuNote: string | null;
  /** The SUT's run.json, when the folder has one. */
  run: Record<string, unknown> | null;
  wallS: number | null;
}

export interface RunRecord {
  model: string;
  scenario: string;
  native: PathResult | null;
  libvgpu: PathResult | null;
  verdict: Verdict | null;
  errors: string[];
}

export interface AccuracyRecord {
  model: string;
  nativeDir: string | null;
  libvgpuDir: string | null;
  comparison: AccuracyComparison | null;
  errors: string[];
}

export type Outcome = 'PASS' | 'FAIL' | 'INCOMPLETE';

export interface Report {
  title: string;
  date: string;
  host: HostInfo | null;
  /** Column names for the two sides: native/libvgpu, or the two folders compared. */
  labels: [string, string];
  quick: boolean;
  performanceOnly: boolean;
  weights: Record<string, string>;
  inputs: string;
  software: Record<string, string>;
  bars: typeof BARS;
  runs: RunRecord[];
  accuracy: AccuracyRecord[];
  verdict: { user: Outcome; ours: Outcome };
  notes: string[];
}

export function outcome(runs: RunRecord[], bar: 'user' | 'ours'): Outcome {
  if (runs.length === 0 || runs.some((r) => r.verdict === null)) return 'INCOMPLETE';
  return runs.every((r) => r.verdict?.[bar]) ? 'PASS' : 'FAIL';
}

const fmt = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? '-' : v.toFixed(digits));
const rate = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${v.toFixed(1)}/s`);
const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${v.toFixed(3)} ms`);

function barCell(v: Verdict | null, bar: 'user' | 'ours', names: string[]): string {
  if (!v) return 'n/a';
  const checks = v.checks.filter((c) => c.bar === bar && names.some((n) => c.name.startsWith(n)));
  if (checks.length === 0) return '';
  return checks.every((c) => c.pass) ? 'PASS' : 'FAIL';
}

function gpuCell(p: PathResult | null): string {
  if (!p) return 'not run';
  if (!p.gpu) return p.gpuNote ? 'not sampled' : '-';
  return `${p.gpu.utilMeanPct.toFixed(0)} % (max ${p.gpu.utilMaxPct.toFixed(0)} %)`;
}

function memCell(p: PathResult | null): string {
  if (!p) return 'not run';
  if (!p.gpu) return p.gpuNote ? 'not sampled' : '-';
  return `${(p.gpu.memUsedMaxMiB / 1024).toFixed(2)} GiB`;
}

/** The main table: one block of rows per model and scenario. */
export function resultsTable(report: Report): string {
  const [a, b] = report.labels;
  const rows: string[][] = [];
  for (const r of report.runs) {
    const n = r.native?.metrics;
    const o = r.libvgpu?.metrics;
    const v = r.verdict;
    const oh = v?.overheads;
    const notRun = (p: PathResult | null, s: string): string => (p ? s : r.errors.length ? 'failed' : 'not run');
    const valid = (m: Metrics | undefined): string => (m?.valid === true ? 'VALID' : m?.valid === false ? 'INVALID' : '-');
    rows.push([
      r.model,
      r.scenario,
      `throughput (${n?.throughputSource ?? 'samples/s'})`,
      notRun(r.native, rate(n?.samplesPerSecond)),
      notRun(r.libvgpu, rate(o?.samplesPerSecond)),
      oh?.throughputPct == null ? '-' : `${signed(oh.throughputPct, 2)} %`,
      barCell(v, 'user', ['throughput']),
      barCell(v, 'ours', ['throughput']),
    ]);
    const latencies: [string, keyof Metrics, keyof NonNullable<typeof oh> | null][] = [
      ['p50 latency', 'p50Ms', 'p50AddedMs'],
      ['p90 latency', 'p90Ms', 'p90AddedMs'],
      ['p99 latency', 'p99Ms', 'p99AddedMs'],
    ];
    if (r.scenario !== 'Offline') {
      for (const [label, key, added] of latencies) {
        const nv = n?.[key] as number | null | undefined;
        const ov = o?.[key] as number | null | undefined;
        const add = added && oh ? (oh[added] as number | null) : null;
        const pct = add !== null && nv ? ` (${signed((add / nv) * 100, 1)} %)` : '';
        rows.push([
          '',
          '',
          label,
          notRun(r.native, ms(nv)),
          notRun(r.libvgpu, ms(ov)),
          add === null ? '-' : `${signed(add, 3)} ms${pct}`,
          key === 'p99Ms' ? barCell(v, 'user', ['p99']) : '',
          key === 'p90Ms' && r.scenario === 'SingleStream'
            ? barCell(v, 'ours', ['p90'])
            : key === 'p99Ms' && r.scenario === 'Server'
              ? barCell(v, 'ours', ['p99'])
              : '',
        ]);
      }
    }
    rows.push(['', '', 'GPU utilisation (mean)', gpuCell(r.native), gpuCell(r.libvgpu), '', '', '']);
    rows.push(['', '', 'GPU memory used (max)', memCell(r.native), memCell(r.libvgpu), '', '', '']);
    rows.push(['', '', 'LoadGen result', notRun(r.native, valid(n)), notRun(r.libvgpu, valid(o)), '', '', barCell(v, 'ours', ['LoadGen'])]);
  }
  return markdownTable(['model', 'scenario', 'measure', a, b, 'overhead', "user's bar", 'our bar'], rows);
}

export function accuracyTable(report: Report): string {
  const rows = report.accuracy.map((x) => {
    const c = x.comparison;
    if (!c) return [x.model, '-', '-', '-', '-', x.errors.join('; ') || 'not run'];
    return [
      x.model,
      String(c.samples),
      `${c.identical} (${((c.identical / Math.max(1, c.samples)) * 100).toFixed(1)} %)`,
      c.maxAbsDiff.toPrecision(3),
      String(c.disagreements) + (c.disagreeing.length ? ` (QSL ${c.disagreeing.join(', ')})` : ''),
      c.missing ? `${c.missing} samples in one log only` : c.disagreements ? 'DISAGREE' : 'agree',
    ];
  });
  return markdownTable(['model', 'samples', 'bit-identical', 'max abs diff', 'prediction differs', 'result'], rows);
}

export function checksTable(report: Report): string {
  const rows: string[][] = [];
  for (const r of report.runs) {
    for (const c of r.verdict?.checks ?? []) rows.push([r.model, r.scenario, c.bar === 'user' ? "user's" : 'ours', c.name, c.detail, c.pass ? 'PASS' : 'FAIL']);
  }
  return markdownTable(['model', 'scenario', 'bar', 'check', 'value', 'result'], rows);
}

export function banner(report: Report): string[] {
  const lines: string[] = [];
  if (report.quick) lines.push('**--quick: NOT a valid MLPerf run** (5 s minimum duration, small query counts): for development only.');
  if (report.performanceOnly) {
    lines.push(`**Performance only**: random weights from a fixed seed; ${report.inputs}. No accuracy claim can be made.`);
  }
  return lines;
}

export function verdictLines(report: Report): string[] {
  const u = BARS.user;
  const o = BARS.ours;
  return [
    `- user's bar (< ${u.maxThroughputOverheadPct} % throughput overhead, p99 latency + < ${u.maxP99AddedMs} ms): **${report.verdict.user}**`,
    `- our bar (>= ${o.minThroughputRatio * 100} % of native throughput, SingleStream p90 <= ${o.maxSingleStreamP90Ratio} x, ` +
      `Server p99 <= native + ${o.maxServerP99AddedMs} ms, VALID stays VALID): **${report.verdict.ours}**`,
  ];
}

export function markdown(report: Report): string {
  const host = report.host;
  const out: string[] = [`# ${report.title}`, ''];
  out.push(...banner(report).map((l) => `${l}\n`));
  out.push(`- date: ${report.date}`);
  if (host) out.push(`- host: ${host.hostname}; ${host.gpu ?? 'no GPU seen by nvidia-smi'}${host.gpuDriver ? ` (driver ${host.gpuDriver})` : ''}; ${host.cpu} x${host.cpuCount}; Node ${host.node}`);
  for (const [k, v] of Object.entries(report.software)) out.push(`- ${k}: ${v}`);
  for (const [k, v] of Object.entries(report.weights)) out.push(`- weights ${k}: ${v}`);
  out.push(`- inputs: ${report.inputs}`);
  out.push('', '## Verdict', '', ...verdictLines(report), '', '## Results', '');
  out.push('Throughput in samples per second; latencies from LoadGen (ns, shown in ms); overhead = how much slower the second column is.');
  out.push('GPU utilisation and memory: NVML samples during the LoadGen test (whole GPU).', '');
  const judged = report.runs.some((r) => r.verdict !== null);
  out.push(resultsTable(report), '', '## Checks', '', judged ? checksTable(report) : 'None: no model and scenario ran on both paths.', '');
  if (report.accuracy.length) {
    out.push('## Outputs agree (accuracy mode, same inputs, sample by sample)', '', accuracyTable(report), '');
  }
  out.push('## LoadGen output folders', '');
  for (const r of report.runs) {
    out.push(`- ${r.model} ${r.scenario}: ${report.labels[0]} \`${r.native?.dir ?? '-'}\`, ${report.labels[1]} \`${r.libvgpu?.dir ?? '-'}\``);
  }
  const errors = report.runs.flatMap((r) => r.errors.map((e) => `${r.model} ${r.scenario}: ${e}`));
  errors.push(...report.accuracy.flatMap((a) => a.errors.map((e) => `${a.model} accuracy: ${e}`)));
  if (errors.length || report.notes.length) {
    out.push('', '## Notes', '');
    for (const e of [...report.notes, ...errors]) out.push(`- ${e.split('\n')[0]}`);
  }
  return `${out.join('\n')}\n`;
}

/** Writes compare.md and compare.json into dir; returns their paths. */
export function writeReport(dir: string, report: Report): { md: string; json: string } {
  const md = join(dir, 'compare.md');
  const json = join(dir, 'compare.json');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(md, markdown(report));
  return { md, json };
}
