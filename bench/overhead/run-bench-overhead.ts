// npm run bench:overhead — PyTorch forward latency and throughput, native
// driver vs libvgpu, in one run (issue "vGPU path 3").
//
//   node dist/bench/overhead/run-bench-overhead.js [--runs N] [--scenario ID]... [--skip-calls] [--rehearse]
//
// Starts one vgpu-proxy. For each scenario (bench/overhead/scenarios.ts:
// ResNet-50 fp16 bs1 and bs64, BERT-Large fp16 bs8x384) it runs
// bench/models/latency.py N times natively and N times through libvgpu, one
// scenario per process, alternating (native first in odd rounds, libvgpu first
// in even ones, so that drift does not favour one side), and reports the
// median of the runs with its spread ((max - min) / median) and the ratio
// libvgpu / native. Then it stops its proxy and runs bench:calls
// (dist/bench/calls/run-bench-calls.js, which starts its own), reads the JSON
// that writes, and checks the issue's figures (targets.ts). Results:
// bench-overhead-<stamp>.json, .md and .png in $OUT (else results/); the PNG is
// drawn by bench/overhead/chart.py (matplotlib) from the JSON.
//
// --rehearse starts no proxy and runs the "libvgpu" column natively as well
// (and skips bench:calls, which needs libvgpu): a check of this harness only.
//
// Environment: BENCH_RUNS (default 3), BENCH_ITERS_SCALE (default 1: scales
// every scenario's warm-up and timed forwards), BENCH_DETERMINISTIC=1 (run
// latency.py with the checks' deterministic settings; default: PyTorch's
// defaults, as a server runs), VGPU_REAL_LIBCUDA,
// VGPU_PYTHON (default python3), OUT, and what bench:calls reads.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { formatValue, summarize, type Summary } from '../calls/stats.js';
import { latencyArgs, parseLatency, SCENARIOS, type LatencySample, type Scenario } from './scenarios.js';
import { evaluateTargets, type CallsFigures, type ScenarioFigures, type TargetRow } from './targets.js';
import { jsonWithNonFinite, makeSides, pythonExe, realLibcudaPath, runScript, stderrTail, type Side, type SideName } from '../../test/gpu/pytorch/python-scripts.js';
import { describeHost, hostInfo } from '../../devkit/host-info.js';
import { requireGuestLib, startProxy, type ProxyHandle } from '../../devkit/proxy-process.js';
import { markdownTable, stamp, writeResult } from '../../devkit/report.js';
import { repoPath } from '../../devkit/repo-root.js';
import { runCommand, runMain } from '../../devkit/run-command.js';

const TIMEOUT_MS = 300_000;
const CALLS_TIMEOUT_MS = 600_000;
const PROXY_LOG = repoPath('build', 'bench-overhead-proxy.log');
const SIDES: readonly SideName[] = ['native', 'libvgpu'];

interface ScenarioRuns {
  scenario: Scenario;
  args: string[];
  samples: Record<SideName, LatencySample[]>;
  errors: string[];
}

function positiveNumber(name: string, raw: string | undefined, dflt: number, integer: boolean): number {
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new Error(`${name}=${raw} is not a positive ${integer ? 'integer' : 'number'}`);
  return v;
}

class ProxyKeeper {
  #proxy: ProxyHandle | null = null;
  readonly #realLibcuda: string;
  constructor(realLibcuda: string) {
    this.#realLibcuda = realLibcuda;
  }
  async start(): Promise<ProxyHandle> {
    this.#proxy = await startProxy({ libcuda: this.#realLibcuda, logFile: PROXY_LOG });
    console.log(`vgpu-proxy ${this.#proxy.pid} ready at ${this.#proxy.socket} (log ${PROXY_LOG})`);
    return this.#proxy;
  }
  /** The proxy, restarted first if it has ended (said on the console). */
  async live(): Promise<ProxyHandle> {
    if (this.#proxy !== null && this.#proxy.alive()) return this.#proxy;
    if (this.#proxy !== null) {
      console.log(`vgpu-proxy had ended (${this.#proxy.exitStatus()}); last lines of its log:\n${this.#proxy.logTail(20)}\nstarting a new one`);
      await this.#proxy.stop();
    }
    return this.start();
  }
  async stop(): Promise<void> {
    await this.#proxy?.stop();
    this.#proxy = null;
  }
}

async function runScenario(s: Scenario, runs: number, args: string[], sideFor: (name: SideName) => Promise<Side>): Promise<ScenarioRuns> {
  const out: ScenarioRuns = { scenario: s, args, samples: { native: [], libvgpu: [] }, errors: [] };
  for (let i = 1; i <= runs; i++) {
    const order: SideName[] = i % 2 === 1 ? ['native', 'libvgpu'] : ['libvgpu', 'native'];
    for (const name of order) {
      const r = await runScript('latency.py', args, await sideFor(name), TIMEOUT_MS);
      const secs = `${(r.result.ms / 1000).toFixed(1)} s`;
      if (r.problems.length > 0) {
        const why = r.problems.join('; ');
        out.errors.push(`${name} run ${i}: ${why}`);
        console.log(`run    ${s.id} ${name} ${i}/${runs}: FAILED (${secs}): ${why}\n${stderrTail(r.result, 15)}`);
        continue;
      }
      try {
        const sample = parseLatency(r.json);
        out.samples[name].push(sample);
        console.log(
          `run    ${s.id} ${name} ${i}/${runs}: p50 ${sample.p50Ms.toFixed(3)} ms, p99 ${sample.p99Ms.toFixed(3)} ms, ` +
            `${formatValue(sample.throughputPerS)} samples/s; first result ${sample.firstResultS?.toFixed(2) ?? '-'} s (${secs})`,
        );
      } catch (err) {
        out.errors.push(`${name} run ${i}: ${err instanceof Error ? err.message : String(err)}`);
        console.log(`run    ${s.id} ${name} ${i}/${runs}: FAILED: ${out.errors.at(-1)}`);
      }
    }
  }
  return out;
}

function figures(r: ScenarioRuns): ScenarioFigures {
  const side = (name: SideName): ScenarioFigures['native'] => {
    const v = r.samples[name];
    if (v.length === 0) return null;
    return { p50Ms: summarize(v.map((x) => x.p50Ms)), p99Ms: summarize(v.map((x) => x.p99Ms)), throughputPerS: summarize(v.map((x) => x.throughputPerS)) };
  };
  return { id: r.scenario.id, title: r.scenario.title, native: side('native'), libvgpu: side('libvgpu') };
}

/** bench:calls as a child process: its lines echoed as they come, its JSON read back. */
async function runBenchCalls(runs: number): Promise<{ json: CallsFigures | null; path: string | null; error: string | null }> {
  const script = repoPath('dist', 'bench', 'calls', 'run-bench-calls.js');
  console.log(`\ncalls  node ${script}`);
  const child = spawn(process.execPath, [script], { env: { ...process.env, BENCH_RUNS: String(runs) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let path: string | null = null;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    console.log(`calls  ${line}`);
    const m = /^wrote (.+\.json)$/.exec(line.trim());
    if (m?.[1]) path = m[1];
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CALLS_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null));
    child.on('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  if (path === null) return { json: null, path: null, error: `bench:calls exited ${code ?? 'abnormally'} without writing its JSON` };
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as CallsFigures;
    const error = code === 0 ? null : `bench:calls exited ${code}${json.error ? `: ${json.error}` : ''}`;
    return { json, path, error };
  } catch (err) {
    return { json: null, path, error: `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function cell(s: Summary | undefined, digits = 3): string {
  if (s === undefined) return 'failed';
  const v = Math.abs(s.median) >= 100 ? formatValue(s.median) : s.median.toFixed(digits);
  return `${v} ±${s.spreadPct.toFixed(1)}%`;
}

function ratioCell(a: Summary | undefined, b: Summary | undefined): string {
  return a !== undefined && b !== undefined && b.median !== 0 ? `${(a.median / b.median).toFixed(3)}x` : '-';
}

function modelTable(figs: ScenarioFigures[]): string {
  const rows: string[][] = [];
  for (const f of figs) {
    const metrics: [string, 'p50Ms' | 'p99Ms' | 'throughputPerS'][] = [
      ['latency p50 (ms)', 'p50Ms'],
      ['latency p99 (ms)', 'p99Ms'],
      ['throughput (samples/s)', 'throughputPerS'],
    ];
    for (const [label, key] of metrics) {
      rows.push([`${f.title}: ${label}`, cell(f.native?.[key]), cell(f.libvgpu?.[key]), ratioCell(f.libvgpu?.[key], f.native?.[key])]);
    }
  }
  return markdownTable(['metric', 'native', 'libvgpu', 'ratio'], rows);
}

function targetTable(rows: TargetRow[]): string {
  return markdownTable(
    ['target', 'measured', 'goal', 'result'],
    rows.map((t) => [t.target, t.measured, t.goal, t.pass === null ? 'FAIL (not measured)' : t.pass ? 'PASS' : 'FAIL']),
  );
}

function callsTable(calls: CallsFigures): string {
  const rows = Object.entries(calls.metrics).map(([name, m]) => [name, cell(m.native), m.libvgpu ? cell(m.libvgpu) : 'failed', m.ratio === null ? '-' : `${m.ratio.toFixed(2)}x`]);
  return markdownTable(['bench:calls metric', 'native', 'libvgpu', 'ratio'], rows);
}

/** What chart.py draws: one bar per ratio (with its target, where one is set) and the round trip. */
function chartData(figs: ScenarioFigures[], targets: TargetRow[], calls: CallsFigures | null) {
  const ratios: { label: string; ratio: number | null; target: number | null; better: 'lower' | 'higher' }[] = [];
  for (const f of figs) {
    const r = (k: 'p50Ms' | 'p99Ms' | 'throughputPerS'): number | null =>
      f.native && f.libvgpu && f.native[k].median !== 0 ? f.libvgpu[k].median / f.native[k].median : null;
    const id = f.id;
    ratios.push({ label: `${id} latency p50`, ratio: r('p50Ms'), target: id === 'resnet50-bs1' ? 1.03 : null, better: 'lower' });
    ratios.push({ label: `${id} latency p99`, ratio: r('p99Ms'), target: null, better: 'lower' });
    ratios.push({ label: `${id} throughput`, ratio: r('throughputPerS'), target: id === 'resnet50-bs1' ? null : 0.99, better: 'higher' });
  }
  for (const t of targets.filter((x) => x.unit === 'ratio' && x.key.includes('->'))) {
    ratios.push({ label: `${t.key} bandwidth`, ratio: t.value, target: t.limit, better: 'higher' });
  }
  const sync = calls?.metrics.ctx_sync_p50_us;
  return {
    ratios,
    syncRoundTrip: sync ? { native: sync.native.median, libvgpu: sync.libvgpu?.median ?? null, target: 3 } : null,
  };
}

async function drawChart(jsonPath: string, pngPath: string): Promise<string> {
  const script = repoPath('bench', 'overhead', 'chart.py');
  const r = await runCommand(pythonExe(), [script, jsonPath, pngPath], { timeoutMs: 120_000 });
  if (r.code === 0) return `wrote ${pngPath}`;
  const why = (r.spawnError ?? r.stderr.trim().split('\n').at(-1)) || `exit ${r.code}`;
  return `chart not drawn (${why}); draw it where matplotlib is: python3 ${script} ${jsonPath} ${pngPath}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      scenario: { type: 'string', multiple: true },
      'skip-calls': { type: 'boolean' },
      rehearse: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`usage: run-bench-overhead [--runs N] [--scenario ID]... [--skip-calls] [--rehearse]\nscenarios: ${SCENARIOS.map((s) => s.id).join(', ')}`);
    return 0;
  }
  const runs = positiveNumber(values.runs !== undefined ? '--runs' : 'BENCH_RUNS', values.runs ?? process.env.BENCH_RUNS, 3, true);
  const itersScale = positiveNumber('BENCH_ITERS_SCALE', process.env.BENCH_ITERS_SCALE, 1, false);
  const deterministic = process.env.BENCH_DETERMINISTIC === '1';
  const wanted = values.scenario ?? SCENARIOS.map((s) => s.id);
  const unknown = wanted.filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
  const scenarios = SCENARIOS.filter((s) => wanted.includes(s.id));
  const rehearse = values.rehearse === true;
  const skipCalls = values['skip-calls'] === true || rehearse;
  const realLibcuda = realLibcudaPath();
  const settings = deterministic ? 'PyTorch in deterministic mode (BENCH_DETERMINISTIC=1)' : "PyTorch's default settings";

  const host = hostInfo();
  const hostLine = describeHost(host);
  console.log(hostLine);
  console.log(`python: ${pythonExe()}; real driver: ${realLibcuda}; ${runs} runs per side and scenario, iterations x${itersScale}, ${settings}`);
  if (rehearse) console.log('REHEARSAL: no proxy, the "libvgpu" column runs natively too, bench:calls skipped');

  const keeper = new ProxyKeeper(realLibcuda);
  const nativeSides = makeSides(null, realLibcuda);
  if (!rehearse) {
    requireGuestLib();
    await keeper.start();
  }
  const sideFor = async (name: SideName): Promise<Side> => (name === 'native' || rehearse ? nativeSides[name] : makeSides(await keeper.live(), realLibcuda).libvgpu);

  const results: ScenarioRuns[] = [];
  try {
    for (const s of scenarios) results.push(await runScenario(s, runs, latencyArgs(s, itersScale, deterministic), sideFor));
  } finally {
    await keeper.stop();
  }
  const deviceOf = (side: SideName): string => [...new Set(results.flatMap((r) => r.samples[side].map((x) => x.device ?? '?')))].join(', ') || '-';

  let calls: Awaited<ReturnType<typeof runBenchCalls>> = { json: null, path: null, error: skipCalls ? 'skipped' : null };
  if (!skipCalls) calls = await runBenchCalls(runs);

  const figs = results.map(figures);
  const targets = evaluateTargets(figs, calls.json);
  const errors = [...results.flatMap((r) => r.errors.map((e) => `${r.scenario.id}: ${e}`)), ...(calls.error !== null && calls.error !== 'skipped' ? [calls.error] : [])];
  const header =
    `${hostLine}\n` +
    `CUDA device as PyTorch saw it: native ${deviceOf('native')}; libvgpu ${deviceOf('libvgpu')}\n` +
    `median of ${runs} runs per side, ± spread (max-min)/median; ratio = libvgpu / native; ` +
    `each forward includes the input copy to the GPU and the output copy back; ${settings}` +
    (rehearse ? '\nREHEARSAL: the "libvgpu" column ran natively; this checks the harness, not libvgpu' : '');
  const text = [
    modelTable(figs),
    targetTable(targets),
    calls.json !== null ? callsTable(calls.json) : `bench:calls: ${calls.error ?? 'no result'}`,
  ].join('\n\n');
  const allPass = targets.every((t) => t.pass === true) && errors.length === 0;
  const verdict = `${targets.filter((t) => t.pass === true).length} of ${targets.length} targets met` + (errors.length ? `; ${errors.length} run(s) failed` : '');
  console.log(`\n${header}\n\n${text}\n\n${verdict}`);
  if (errors.length > 0) console.log(errors.map((e) => `- ${e}`).join('\n'));

  const name = `bench-overhead-${stamp()}`;
  const json = {
    date: new Date().toISOString(),
    host,
    realLibcuda,
    python: pythonExe(),
    rehearsal: rehearse,
    runs,
    itersScale,
    deterministic,
    scenarios: results.map((r) => ({ ...r.scenario, args: r.args, samples: r.samples, errors: r.errors })),
    figures: figs,
    targets,
    benchCalls: calls.json,
    benchCallsPath: calls.path,
    benchCallsError: calls.error,
    chart: chartData(figs, targets, calls.json),
    errors,
  };
  const jsonPath = writeResult(`${name}.json`, jsonWithNonFinite(json));
  writeResult(`${name}.md`, `# bench:overhead — PyTorch through libvgpu vs native\n\n${header}\n\n${text}\n\n${verdict}\n`);
  console.log(`\nwrote ${jsonPath} and ${name}.md beside it`);
  console.log(await drawChart(jsonPath, join(jsonPath, '..', `${name}.png`)));
  return allPass ? 0 : 1;
}

runMain('run-bench-overhead', main);
