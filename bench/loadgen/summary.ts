// Read LoadGen's mlperf_log_summary.txt by pattern.
//
// Labels differ between LoadGen versions ("90th percentile latency (ns)" in
// old ones, "90.0th percentile latency (ns)" and "90.00 percentile latency (ns)"
// in new ones; Server's "Scheduled" and "Completed samples per second"), so
// every number is found by a pattern that covers the known spellings. Latencies
// stay in nanoseconds here; the report turns them into milliseconds.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SUMMARY_FILE = 'mlperf_log_summary.txt';

export interface LoadGenSummary {
  file: string;
  scenario: string | null;
  mode: string | null;
  /** "Result is : VALID" -> true, "INVALID" -> false, absent -> null. */
  valid: boolean | null;
  /** Samples per second: Offline's and Server's own figure, SingleStream's QPS, MultiStream's derived. */
  samplesPerSecond: number | null;
  /** Which line (or derivation) samplesPerSecond came from. */
  throughputSource: string | null;
  /** Latency percentiles in ns, keyed by the percentile as written by LoadGen, normalized ("50", "90", "99.9"). */
  percentilesNs: Record<string, number>;
  minNs: number | null;
  maxNs: number | null;
  meanNs: number | null;
  samplesPerQuery: number | null;
  targetQps: number | null;
  targetLatencyNs: number | null;
  /** Every "key : value" line, as written. */
  fields: Record<string, string>;
}

const NUM = '([-+]?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?)';

function num(text: string, pattern: RegExp): number | null {
  const m = pattern.exec(text);
  if (!m?.[1]) return null;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : null;
}

function normalizePercentile(p: string): string {
  return String(Number(p));
}

// In order of preference: the first that matches gives the throughput.
const THROUGHPUT: [string, RegExp][] = [
  ['Completed samples per second', new RegExp(`^\\s*Completed samples per second\\s*:\\s*${NUM}`, 'im')],
  ['Samples per second', new RegExp(`^\\s*Samples per second\\s*:\\s*${NUM}`, 'im')],
  ['Scheduled samples per second', new RegExp(`^\\s*Scheduled samples per second\\s*:\\s*${NUM}`, 'im')],
  ['QPS w/ loadgen overhead', new RegExp(`^\\s*QPS w/ loadgen overhead\\s*:\\s*${NUM}`, 'im')],
  ['QPS w/o loadgen overhead', new RegExp(`^\\s*QPS w/o loadgen overhead\\s*:\\s*${NUM}`, 'im')],
];

export function parseSummary(text: string, file = SUMMARY_FILE): LoadGenSummary {
  if (!/MLPerf Results Summary/i.test(text)) {
    throw new Error(`${file} is not a LoadGen summary (no "MLPerf Results Summary" header)`);
  }
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([^:*][^:]*?)\s*:\s*(.*?)\s*$/.exec(line);
    if (m?.[1] && m[2] !== undefined && !(m[1] in fields)) fields[m[1]] = m[2];
  }
  const word = (re: RegExp): string | null => re.exec(text)?.[1]?.trim() ?? null;
  const result = word(/^\s*Result is\s*:\s*(\w+)/im);

  const percentilesNs: Record<string, number> = {};
  const pRe = new RegExp(`^\\s*(\\d+(?:\\.\\d+)?)\\s*(?:th)?\\s+percentile latency \\(ns\\)\\s*:\\s*${NUM}`, 'gim');
  for (const m of text.matchAll(pRe)) {
    if (m[1] && m[2]) percentilesNs[normalizePercentile(m[1])] ??= Number(m[2]);
  }

  let samplesPerSecond: number | null = null;
  let throughputSource: string | null = null;
  for (const [label, re] of THROUGHPUT) {
    const v = num(text, re);
    if (v !== null) {
      samplesPerSecond = v;
      throughputSource = label;
      break;
    }
  }
  const scenario = word(/^\s*Scenario\s*:\s*(\S+)/im);
  const samplesPerQuery = num(text, new RegExp(`^\\s*samples_per_query\\s*:\\s*${NUM}`, 'im'));
  const meanNs = num(text, new RegExp(`^\\s*Mean latency \\(ns\\)\\s*:\\s*${NUM}`, 'im'));
  // MultiStream prints no rate: one query of samples_per_query samples at a time, so rate = spq / mean latency.
  if (samplesPerSecond === null && scenario === 'MultiStream' && samplesPerQuery !== null && meanNs) {
    samplesPerSecond = (samplesPerQuery * 1e9) / meanNs;
    throughputSource = 'samples_per_query / mean latency';
  }
  return {
    file,
    scenario,
    mode: word(/^\s*Mode\s*:\s*(\S+)/im),
    valid: result === null ? null : result.toUpperCase() === 'VALID',
    samplesPerSecond,
    throughputSource,
    percentilesNs,
    minNs: num(text, new RegExp(`^\\s*Min latency \\(ns\\)\\s*:\\s*${NUM}`, 'im')),
    maxNs: num(text, new RegExp(`^\\s*Max latency \\(ns\\)\\s*:\\s*${NUM}`, 'im')),
    meanNs,
    samplesPerQuery,
    targetQps: num(text, new RegExp(`^\\s*target_qps\\s*:\\s*${NUM}`, 'im')),
    targetLatencyNs: num(text, new RegExp(`^\\s*target_latency \\(ns\\)\\s*:\\s*${NUM}`, 'im')),
    fields,
  };
}

/** The summary in folder dir; a clear error when LoadGen wrote none. */
export function readSummary(dir: string): LoadGenSummary {
  const file = join(dir, SUMMARY_FILE);
  if (!existsSync(file)) throw new Error(`no ${SUMMARY_FILE} in ${dir}: LoadGen did not finish there`);
  return parseSummary(readFileSync(file, 'utf8'), file);
}

/** Latency percentile p (e.g. 99) in ms, or null. */
export function percentileMs(s: LoadGenSummary, p: number): number | null {
  const ns = s.percentilesNs[String(p)];
  return ns === undefined ? null : ns / 1e6;
}
