// What a libFuzzer run said: its status lines ("#4096 pulse cov: 812 ft:
// 2010 corp: 88/3Kb exec/s: 2048 ..."), its final statistics
// ("stat::number_of_executed_units: 123456"), the artifacts it wrote
// (crash-*, timeout-*, leak-*, oom-*, slow-unit-*) and, for targets with a
// well-behaved second guest, their BYSTANDER lines (running totals).  Jazzer.js prints the
// same lines: it is libFuzzer underneath.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Bystander {
  roundTrips: number;
  failed: number;
  slowestMs: number;
}

export interface FuzzStats {
  /** Inputs executed (stat::number_of_executed_units, else the last status line's count). */
  execs: number;
  /** Coverage: edges (libFuzzer's cov:) at the last status line. */
  cov: number;
  /** Features (ft:) at the last status line. */
  ft: number;
  /** Inputs in the corpus at the last status line. */
  corpus: number;
  /** Peak resident memory, MiB (stat::peak_rss_mb). */
  peakRssMb: number | null;
  /** libFuzzer printed its closing "Done N runs in S second(s)": the run ended as planned. */
  done: boolean;
  bystander: Bystander | null;
}

const STATUS = /^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+) corp: (\d+)/;

export function parseLibFuzzerOutput(text: string): FuzzStats {
  const stats: FuzzStats = { execs: 0, cov: 0, ft: 0, corpus: 0, peakRssMb: null, done: false, bystander: null };
  for (const line of text.split('\n')) {
    const m = STATUS.exec(line);
    if (m) {
      stats.execs = Math.max(stats.execs, Number(m[1]));
      stats.cov = Number(m[2]);
      stats.ft = Number(m[3]);
      stats.corpus = Number(m[4]);
      continue;
    }
    if (/^Done \d+ runs in \d+ second/.test(line)) stats.done = true;
    const s = /^stat::(\w+):\s+(\d+)/.exec(line);
    if (s) {
      if (s[1] === 'number_of_executed_units') stats.execs = Number(s[2]);
      if (s[1] === 'peak_rss_mb') stats.peakRssMb = Number(s[2]);
      continue;
    }
    const b = /^BYSTANDER (\{.*\})\s*$/.exec(line);
    if (b) {
      try {
        const v = JSON.parse(b[1]!) as Partial<Bystander>;
        // Running totals: the last line of a run holds them all.
        if (typeof v.roundTrips === 'number' && typeof v.failed === 'number') {
          stats.bystander = { roundTrips: v.roundTrips, failed: v.failed, slowestMs: typeof v.slowestMs === 'number' ? v.slowestMs : 0 };
        }
      } catch {
        // a cut line: counted as no bystander report, which the caller flags
      }
    }
  }
  return stats;
}

export interface Artifacts {
  crashes: string[];
  hangs: string[];
}

/** The artifacts of a run: crashes (crash-, leak-, oom-, deadly signals) and hangs (timeout-, slow-unit-). */
export function listArtifacts(dir: string): Artifacts {
  const out: Artifacts = { crashes: [], hangs: [] };
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) {
    if (/^(crash|leak|oom)-/.test(f)) out.crashes.push(join(dir, f));
    else if (/^(timeout|slow-unit)-/.test(f)) out.hangs.push(join(dir, f));
  }
  return out;
}
