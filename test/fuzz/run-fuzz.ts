// npm run fuzz — coverage-guided fuzzing of every parser a hostile guest or
// peer reaches (targets.ts), for a bounded time, then one table.
//
//   node dist/test/fuzz/run-fuzz.js [--minutes N | --seconds N] [--target NAME]... [--jobs N] [--update-corpus]
//
// Each target starts from its committed seeds (test/fuzz/corpus/<name>/) and
// the inputs earlier runs here found (build/fuzz/corpus/<name>/); the run's
// time is shared by weight, at most `--jobs` targets at once (default: the
// CPUs, at most 4), no target longer than the whole run. One progress line
// per running target every 30 s. Crashes and hangs (an input running past
// 1 s) are written to build/fuzz/artifacts/<name>/; the command to replay one
// is printed. --update-corpus merges what the run found into the committed
// seeds (libFuzzer's -merge=1 keeps only inputs that add coverage).
//
// Results: fuzz-<stamp>.md and .json in $OUT (else results/). Exit status 1
// on any crash, hang, failed bystander round trip, or a target that did not run.
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeHost, hostInfo } from '../../devkit/host-info.js';
import { markdownTable, stamp, writeResult } from '../../devkit/report.js';
import { repoPath } from '../../devkit/repo-root.js';
import { runMain } from '../../devkit/run-command.js';
import { FuzzStats, listArtifacts, parseLibFuzzerOutput } from './libfuzzer-output.js';
import { FUZZ_TARGETS, FuzzTarget, fuzzEnv, missingBuild, SEED_DIR, targetByName, targetCommand } from './targets.js';

const WORK = repoPath('build', 'fuzz');
const PROGRESS_MS = 30_000;
/** Past its time, a target gets this long to print its statistics before it is killed. */
const GRACE_MS = 60_000;

export interface TargetRun {
  target: string;
  seconds: number;
  /** null when the target ran; else why not. */
  notRun: string | null;
  exitCode: number | null;
  stats: FuzzStats;
  crashes: string[];
  hangs: string[];
  log: string;
}

/** Seconds per target: by weight, each at most the whole run, the rest handed on (jobs targets at once). */
export function shareTime(targets: readonly FuzzTarget[], totalSeconds: number, jobs: number): Map<string, number> {
  const out = new Map<string, number>();
  let budget = totalSeconds * Math.min(jobs, targets.length);
  let open = [...targets];
  while (open.length > 0) {
    const w = open.reduce((a, t) => a + t.weight, 0);
    const capped = open.filter((t) => (budget * t.weight) / w >= totalSeconds);
    if (capped.length === 0) {
      for (const t of open) out.set(t.name, Math.max(10, Math.floor((budget * t.weight) / w)));
      break;
    }
    for (const t of capped) out.set(t.name, totalSeconds);
    budget -= capped.length * totalSeconds;
    open = open.filter((t) => !capped.includes(t));
  }
  return out;
}

function lastStatus(text: string): string {
  const lines = text.split('\n').filter((l) => /^#\d+\s/.test(l));
  return lines.at(-1)?.trim() ?? '(no status line yet)';
}

/**
 * Runs a target for its time.  libFuzzer stops at the first crash: the run
 * then starts again (its corpus kept) for the time left, so that a long run
 * finds more than one bug; every crash is kept.
 */
async function runTarget(t: FuzzTarget, seconds: number, log: (l: string) => void): Promise<TargetRun> {
  const logPath = join(WORK, 'logs', `${t.name}.log`);
  const base: TargetRun = { target: t.name, seconds, notRun: null, exitCode: null, stats: parseLibFuzzerOutput(''), crashes: [], hangs: [], log: logPath };
  const missing = missingBuild(t);
  if (missing !== null) return { ...base, notRun: missing };
  const corpus = join(WORK, 'corpus', t.name);
  const artifacts = join(WORK, 'artifacts', t.name);
  mkdirSync(corpus, { recursive: true });
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  mkdirSync(join(WORK, 'logs'), { recursive: true });
  const seeds = existsSync(SEED_DIR(t)) ? [SEED_DIR(t)] : [];
  const file$ = createWriteStream(logPath);
  const t0 = performance.now();
  const parts: FuzzStats[] = [];
  let code: number | null = null;
  for (let left = seconds; left >= 5; left = seconds - Math.round((performance.now() - t0) / 1000)) {
    const [file, args] = targetCommand(t, { seconds: left, corpora: [corpus, ...seeds], artifacts });
    file$.write(`$ ${file} ${args.join(' ')}\n`);
    let text = '';
    const started = performance.now();
    code = await new Promise<number | null>((resolve) => {
      const child = spawn(file, args, { cwd: WORK, env: fuzzEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      const take = (d: Buffer): void => {
        file$.write(d);
        text += d.toString();
        if (text.length > 8 << 20) text = text.slice(-(4 << 20));
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      const progress = setInterval(() => {
        const s = ((performance.now() - t0) / 1000).toFixed(0);
        log(`  ${t.name.padEnd(18)} ${s.padStart(4)}/${seconds} s  ${lastStatus(text)}`);
      }, PROGRESS_MS);
      const killer = setTimeout(() => child.kill('SIGKILL'), left * 1000 + GRACE_MS);
      child.on('error', (err) => take(Buffer.from(`cannot start ${file}: ${err.message}\n`)));
      child.on('close', (c, signal) => {
        clearInterval(progress);
        clearTimeout(killer);
        if (signal !== null) take(Buffer.from(`run-fuzz: the fuzzer was killed by ${signal}\n`));
        resolve(c);
      });
    });
    const stats = parseLibFuzzerOutput(text);
    parts.push(stats);
    // Jazzer.js: libFuzzer's SIGALRM timer (-timeout) can outlive its handler and kill the process
    // while it prints its closing report, after the run ended as planned (its time used up, the
    // recommended dictionary or "Done ..." printed): a normal end, not a crash.
    const ranItsTime = (performance.now() - started) / 1000 >= left * 0.9;
    const closing = stats.done || text.includes('###### Recommended dictionary');
    if (code === null && ranItsTime && closing && /killed by SIGALRM\n$/.test(text)) code = 0;
    const found = listArtifacts(artifacts);
    // Only a crash or hang (an artifact written) earns a restart; any other end is final.
    if (code === 0 || found.crashes.length + found.hangs.length === 0) break;
    log(`  ${t.name}: crashed (${found.crashes.length} crashes, ${found.hangs.length} hangs so far); going on for the time left`);
  }
  file$.end();
  const found = listArtifacts(artifacts);
  return { ...base, exitCode: code, stats: combineStats(parts), crashes: found.crashes, hangs: found.hangs };
}

/** One target's runs together: inputs and bystander round trips added up, coverage as the last run saw it. */
function combineStats(parts: FuzzStats[]): FuzzStats {
  const out = parseLibFuzzerOutput('');
  for (const p of parts) {
    out.execs += p.execs;
    out.cov = Math.max(out.cov, p.cov);
    out.ft = Math.max(out.ft, p.ft);
    out.corpus = Math.max(out.corpus, p.corpus);
    out.peakRssMb = p.peakRssMb === null ? out.peakRssMb : Math.max(out.peakRssMb ?? 0, p.peakRssMb);
    if (p.bystander !== null) {
      const b = out.bystander ?? { roundTrips: 0, failed: 0, slowestMs: 0 };
      out.bystander = { roundTrips: b.roundTrips + p.bystander.roundTrips, failed: b.failed + p.bystander.failed, slowestMs: Math.max(b.slowestMs, p.bystander.slowestMs) };
    }
  }
  return out;
}

/** Runs up to `jobs` targets at once, longest first. */
async function runAll(targets: FuzzTarget[], seconds: Map<string, number>, jobs: number, log: (l: string) => void): Promise<TargetRun[]> {
  const queue = [...targets].sort((a, b) => seconds.get(b.name)! - seconds.get(a.name)!);
  const results = new Map<string, TargetRun>();
  const worker = async (): Promise<void> => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
      log(`start  ${t.name} for ${seconds.get(t.name)} s`);
      const r = await runTarget(t, seconds.get(t.name)!, log);
      results.set(t.name, r);
      log(`done   ${t.name}: ${r.notRun ?? `${r.stats.execs} inputs, cov ${r.stats.cov}, ${r.crashes.length} crashes, ${r.hangs.length} hangs`}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, targets.length) }, worker));
  return targets.map((t) => results.get(t.name)!);
}

/** Merges the run's new inputs into the committed seeds, keeping only those that add coverage. */
async function updateCorpus(t: FuzzTarget): Promise<void> {
  const seeds = SEED_DIR(t);
  mkdirSync(seeds, { recursive: true });
  const [file, args] = targetCommand(t, { seconds: 0, corpora: [seeds, join(WORK, 'corpus', t.name)], extra: ['-merge=1'] });
  await new Promise<void>((resolve) => spawn(file, args, { cwd: WORK, env: fuzzEnv(), stdio: 'ignore' }).on('close', () => resolve()));
}

function problems(r: TargetRun, t: FuzzTarget): string[] {
  const out: string[] = [];
  if (r.notRun !== null) return [`${r.target}: did not run: ${r.notRun}`];
  for (const c of r.crashes) out.push(`${r.target}: crash ${c} (replay: ${targetCommand(t, { seconds: 0, corpora: [c] }).flat().join(' ')})`);
  for (const h of r.hangs) out.push(`${r.target}: hang (an input ran past 1 s) ${h}`);
  if (r.crashes.length + r.hangs.length === 0 && r.exitCode !== 0) out.push(`${r.target}: the fuzzer exited ${r.exitCode} without an artifact: see ${r.log}`);
  if (r.stats.execs === 0) out.push(`${r.target}: executed no input: see ${r.log}`);
  if (t.bystander) {
    const b = r.stats.bystander;
    if (b === null) out.push(`${r.target}: printed no BYSTANDER line: the well-behaved guest's round trips are unknown`);
    else if (b.failed > 0) out.push(`${r.target}: ${b.failed} of ${b.roundTrips} bystander round trips failed or took over 1 s (slowest ${b.slowestMs.toFixed(1)} ms)`);
    else if (b.roundTrips === 0) out.push(`${r.target}: the bystander made no round trip`);
  }
  return out;
}

export function fuzzTable(runs: TargetRun[]): string {
  const byName = new Map(FUZZ_TARGETS.map((t) => [t.name, t]));
  const rows = runs.map((r) => {
    const b = r.stats.bystander;
    const by = byName.get(r.target)?.bystander ? (b === null ? 'no report' : `${b.failed} of ${b.roundTrips} (slowest ${b.slowestMs.toFixed(1)} ms)`) : '-';
    if (r.notRun !== null) return [r.target, '-', 'not run', '-', '-', '-', '-', '-', by];
    const rate = r.seconds > 0 ? Math.round(r.stats.execs / r.seconds).toLocaleString('en-US') : '-';
    return [r.target, String(r.seconds), r.stats.execs.toLocaleString('en-US'), rate, String(r.stats.cov), String(r.stats.ft), String(r.crashes.length), String(r.hangs.length), by];
  });
  const total = runs.reduce((a, r) => a + r.stats.execs, 0);
  rows.push(['all', String(runs.reduce((a, r) => a + (r.notRun ? 0 : r.seconds), 0)), total.toLocaleString('en-US'), '', '', '', String(runs.reduce((a, r) => a + r.crashes.length, 0)), String(runs.reduce((a, r) => a + r.hangs.length, 0)), '']);
  return markdownTable(['target', 'seconds', 'inputs executed', 'inputs/s', 'coverage (edges)', 'features', 'crashes', 'hangs', 'bystander round trips failed'], rows);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      target: { type: 'string', multiple: true },
      jobs: { type: 'string' },
      'update-corpus': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`usage: run-fuzz [--minutes N | --seconds N] [--target NAME]... [--jobs N] [--update-corpus]\ntargets: ${FUZZ_TARGETS.map((t) => t.name).join(', ')}`);
    return 0;
  }
  const total = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes ?? '3') * 60;
  if (!Number.isFinite(total) || total < 10) throw new Error(`the run must last at least 10 s (got --minutes ${values.minutes} / --seconds ${values.seconds})`);
  const jobs = values.jobs !== undefined ? Number(values.jobs) : Math.min(4, cpus().length);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs ${values.jobs} is not a positive integer`);
  const targets = values.target ? values.target.map(targetByName) : [...FUZZ_TARGETS];
  const seconds = shareTime(targets, Math.floor(total), jobs);

  const host = hostInfo();
  console.log(describeHost(host));
  console.log(`fuzzing ${targets.length} targets for ${Math.floor(total)} s, ${jobs} at a time: ${targets.map((t) => `${t.name} ${seconds.get(t.name)} s`).join(', ')}`);
  const runs = await runAll(targets, seconds, jobs, (l) => console.log(l));
  if (values['update-corpus']) {
    for (const t of targets) if (missingBuild(t) === null) await updateCorpus(t);
    console.log('merged new coverage into test/fuzz/corpus/');
  }

  const found = runs.flatMap((r, i) => problems(r, targets[i]!));
  const table = fuzzTable(runs);
  const crashes = runs.reduce((a, r) => a + r.crashes.length, 0);
  const hangs = runs.reduce((a, r) => a + r.hangs.length, 0);
  const verdict = found.length === 0 ? 'PASS: no crash, no hang, every bystander round trip in time' : `FAIL:\n${found.map((p) => `- ${p}`).join('\n')}`;
  console.log(`\n${table}\n\n${verdict}`);
  const s = stamp();
  const md = `# npm run fuzz\n\n${describeHost(host)}\n\n${targets.map((t) => `- \`${t.name}\`: ${t.what}`).join('\n')}\n\n${table}\n\n${verdict}\n`;
  const mdPath = writeResult(`fuzz-${s}.md`, md);
  writeResult(`fuzz-${s}.json`, JSON.stringify({ date: new Date().toISOString(), host, totalSeconds: total, jobs, runs, crashes, hangs, problems: found }, null, 2));
  // Crash inputs beside the results, so that they come back from the GPU machine too.
  for (const r of runs) for (const c of [...r.crashes, ...r.hangs].slice(0, 3)) copyFileSync(c, join(mdPath, '..', `${r.target}-${c.split('/').at(-1)}`));
  console.log(`wrote ${mdPath} and its .json; logs in ${join(WORK, 'logs')}`);
  return found.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) runMain('run-fuzz', main);
