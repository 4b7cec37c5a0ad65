// Native against libvgpu for one model and scenario: overheads, and PASS/FAIL
// against the user's bar and against ours.
//
//   user's bar: throughput overhead < 5 %; p99 latency at most 2 ms above native (exclusive)
//   ours:       throughput >= 99 % of native; SingleStream p90 <= 1.03 x native;
//               Server p99 <= native + 0.5 ms; a run VALID natively stays VALID
//
// Which checks apply: throughput everywhere; p99 where latency is the metric
// (SingleStream, MultiStream, Server; Offline's one big query has no useful
// latency); SingleStream p90 and Server p99 as named.
import { percentileMs, type LoadGenSummary } from './summary.js';

export const BARS = {
  user: { maxThroughputOverheadPct: 5, maxP99AddedMs: 2 },
  ours: { minThroughputRatio: 0.99, maxSingleStreamP90Ratio: 1.03, maxServerP99AddedMs: 0.5 },
} as const;

export type Bar = 'user' | 'ours';

export interface Check {
  bar: Bar;
  name: string;
  pass: boolean;
  detail: string;
}

export interface Metrics {
  valid: boolean | null;
  samplesPerSecond: number | null;
  throughputSource: string | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
}

export interface Overheads {
  /** (native - other) / native, %: positive is slower. */
  throughputPct: number | null;
  throughputRatio: number | null;
  p50AddedMs: number | null;
  p90AddedMs: number | null;
  p99AddedMs: number | null;
  p90Ratio: number | null;
  p99Ratio: number | null;
}

export interface Verdict {
  overheads: Overheads;
  checks: Check[];
  user: boolean;
  ours: boolean;
}

export function metricsOf(s: LoadGenSummary): Metrics {
  return {
    valid: s.valid,
    samplesPerSecond: s.samplesPerSecond,
    throughputSource: s.throughputSource,
    p50Ms: percentileMs(s, 50),
    p90Ms: percentileMs(s, 90),
    p99Ms: percentileMs(s, 99),
    meanMs: s.meanNs === null ? null : s.meanNs / 1e6,
  };
}

const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : b - a);
const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || a === 0 ? null : b / a);

export function overheads(native: Metrics, other: Metrics): Overheads {
  const tr = ratio(native.samplesPerSecond, other.samplesPerSecond);
  return {
    throughputPct: tr === null ? null : (1 - tr) * 100,
    throughputRatio: tr,
    p50AddedMs: diff(native.p50Ms, other.p50Ms),
    p90AddedMs: diff(native.p90Ms, other.p90Ms),
    p99AddedMs: diff(native.p99Ms, other.p99Ms),
    p90Ratio: ratio(native.p90Ms, other.p90Ms),
    p99Ratio: ratio(native.p99Ms, other.p99Ms),
  };
}

function missing(bar: Bar, name: string, what: string): Check {
  return { bar, name, pass: false, detail: `${what} missing from a summary` };
}

export function judge(scenario: string, native: Metrics, other: Metrics): Verdict {
  const o = overheads(native, other);
  const checks: Check[] = [];
  const latencyScenario = scenario !== 'Offline';

  if (o.throughputPct === null || o.throughputRatio === null) {
    checks.push(missing('user', 'throughput overhead < 5 %', 'throughput'), missing('ours', 'throughput >= 99 % of native', 'throughput'));
  } else {
    checks.push({
      bar: 'user',
      name: `throughput overhead < ${BARS.user.maxThroughputOverheadPct} %`,
      pass: o.throughputPct < BARS.user.maxThroughputOverheadPct,
      detail: `${o.throughputPct.toFixed(2)} %`,
    });
    checks.push({
      bar: 'ours',
      name: `throughput >= ${BARS.ours.minThroughputRatio * 100} % of native`,
      pass: o.throughputRatio >= BARS.ours.minThroughputRatio,
      detail: `${(o.throughputRatio * 100).toFixed(2)} %`,
    });
  }
  if (latencyScenario) {
    checks.push(
      o.p99AddedMs === null
        ? missing('user', 'p99 + < 2 ms', 'p99 latency')
        : {
            bar: 'user',
            name: `p99 + < ${BARS.user.maxP99AddedMs} ms`,
            pass: o.p99AddedMs < BARS.user.maxP99AddedMs,
            detail: `${signed(o.p99AddedMs, 3)} ms`,
          },
    );
  }
  if (scenario === 'SingleStream') {
    checks.push(
      o.p90Ratio === null
        ? missing('ours', 'p90 <= 1.03 x native', 'p90 latency')
        : {
            bar: 'ours',
            name: `p90 <= ${BARS.ours.maxSingleStreamP90Ratio} x native`,
            pass: o.p90Ratio <= BARS.ours.maxSingleStreamP90Ratio,
            detail: `${o.p90Ratio.toFixed(3)} x`,
          },
    );
  }
  if (scenario === 'Server') {
    checks.push(
      o.p99AddedMs === null
        ? missing('ours', 'p99 <= native + 0.5 ms', 'p99 latency')
        : {
            bar: 'ours',
            name: `p99 <= native + ${BARS.ours.maxServerP99AddedMs} ms`,
            pass: o.p99AddedMs <= BARS.ours.maxServerP99AddedMs,
            detail: `${signed(o.p99AddedMs, 3)} ms`,
          },
    );
  }
  if (native.valid === true) {
    checks.push({ bar: 'ours', name: 'LoadGen result stays VALID', pass: other.valid === true, detail: other.valid ? 'VALID' : 'INVALID' });
  }
  return {
    overheads: o,
    checks,
    user: checks.filter((c) => c.bar === 'user').every((c) => c.pass),
    ours: checks.filter((c) => c.bar === 'ours').every((c) => c.pass),
  };
}

export function signed(v: number, digits: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
}
