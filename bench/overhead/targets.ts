// The figures issue "vGPU path 3" sets, checked against one bench:overhead run.
//
//   ResNet-50 bs1 forward latency (p50)       libvgpu / native <= 1.03
//   ResNet-50 bs64 throughput                  libvgpu / native >= 0.99
//   BERT-Large bs8x384 throughput              libvgpu / native >= 0.99
//   synchronous round trip (cuCtxSynchronize)  libvgpu p50 <= 3 µs
//   host->device and device->host, 64 MiB      libvgpu / native page-locked >= 0.90
//
// The last two come from bench:calls (bench/calls/calls_bench.c): ctx_sync_p50_us,
// bw_htod_pinned_gbps and bw_dtoh_pinned_gbps, each the median of its runs.
import type { Summary } from '../calls/stats.js';

export interface ScenarioFigures {
  id: string;
  title: string;
  native: { p50Ms: Summary; p99Ms: Summary; throughputPerS: Summary } | null;
  libvgpu: { p50Ms: Summary; p99Ms: Summary; throughputPerS: Summary } | null;
}

/** The part of bench:calls' JSON read here (see bench/calls/run-bench-calls.ts). */
export interface CallsFigures {
  settings?: Record<string, number>;
  metrics: Record<string, { native: Summary; libvgpu: Summary | null; ratio: number | null }>;
  error?: string | null;
}

export interface TargetRow {
  /** Short key, also the chart's label. */
  key: string;
  target: string;
  /** What was measured, in words ("1.012x (3.80 / 3.75 ms)"). */
  measured: string;
  goal: string;
  /** The number compared with the limit: a ratio, or µs for the round trip. */
  value: number | null;
  limit: number;
  better: 'lower' | 'higher';
  unit: 'ratio' | 'µs';
  /** null when not measured. */
  pass: boolean | null;
}

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : null;
}

function judge(value: number | null, limit: number, better: 'lower' | 'higher'): boolean | null {
  if (value === null) return null;
  return better === 'lower' ? value <= limit : value >= limit;
}

function fmt(v: number, digits = 3): string {
  return Number(v.toPrecision(digits)).toString();
}

function modelTarget(
  s: ScenarioFigures | undefined,
  key: string,
  target: string,
  metric: 'p50Ms' | 'throughputPerS',
  limit: number,
  better: 'lower' | 'higher',
): TargetRow {
  const goal = `${better === 'lower' ? '<=' : '>='} ${limit}x native`;
  const n = s?.native?.[metric].median;
  const v = s?.libvgpu?.[metric].median;
  const value = ratio(v, n);
  const unit = metric === 'p50Ms' ? 'ms' : 'samples/s';
  const measured = value === null ? (s === undefined ? 'not run' : 'not measured') : `${value.toFixed(3)}x (${fmt(v!)} / ${fmt(n!)} ${unit})`;
  return { key, target, measured, goal, value, limit, better, unit: 'ratio', pass: judge(value, limit, better) };
}

export function evaluateTargets(scenarios: ScenarioFigures[], calls: CallsFigures | null): TargetRow[] {
  const byId = (id: string): ScenarioFigures | undefined => scenarios.find((s) => s.id === id);
  const rows: TargetRow[] = [
    modelTarget(byId('resnet50-bs1'), 'resnet50 bs1 latency p50', 'ResNet-50 bs1 forward latency (p50)', 'p50Ms', 1.03, 'lower'),
    modelTarget(byId('resnet50-bs64'), 'resnet50 bs64 throughput', 'ResNet-50 bs64 throughput', 'throughputPerS', 0.99, 'higher'),
    modelTarget(byId('bert-large-bs8'), 'bert-large bs8 throughput', 'BERT-Large bs8x384 throughput', 'throughputPerS', 0.99, 'higher'),
  ];
  const m = calls?.metrics;
  const sync = m?.ctx_sync_p50_us;
  const syncV = sync?.libvgpu?.median ?? null;
  rows.push({
    key: 'sync round trip p50',
    target: 'synchronous round trip p50 (cuCtxSynchronize, libvgpu)',
    measured: syncV === null ? 'not measured' : `${fmt(syncV)} µs (native ${fmt(sync!.native.median)} µs)`,
    goal: '<= 3 µs',
    value: syncV,
    limit: 3,
    better: 'lower',
    unit: 'µs',
    pass: judge(syncV, 3, 'lower'),
  });
  const mib = calls?.settings?.bw_mib;
  const size = mib !== undefined ? `${mib} MiB` : '64 MiB';
  for (const [dir, name] of [
    ['host->device', 'bw_htod_pinned_gbps'],
    ['device->host', 'bw_dtoh_pinned_gbps'],
  ] as const) {
    const b = m?.[name];
    const value = ratio(b?.libvgpu?.median, b?.native.median);
    rows.push({
      key: `${dir} ${size}`,
      target: `${dir} bandwidth, ${size} page-locked (libvgpu / native)`,
      measured: value === null ? 'not measured' : `${value.toFixed(3)}x (${fmt(b!.libvgpu!.median)} / ${fmt(b!.native.median)} GB/s)`,
      goal: '>= 0.90x native',
      value,
      limit: 0.9,
      better: 'higher',
      unit: 'ratio',
      pass: mib !== undefined && mib !== 64 ? null : judge(value, 0.9, 'higher'),
    });
  }
  return rows;
}
