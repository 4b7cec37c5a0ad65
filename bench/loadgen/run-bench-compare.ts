// npm run bench:compare — MLPerf LoadGen, native against libvgpu.
//
//   npm run bench:compare [-- --quick] [--models resnet50,bert] [--scenarios Offline,Server]
//       [--paths native,libvgpu] [--user-conf user.conf] [--weights resnet50=FILE ...]
//       [--sut-arg=--dataset=DIR ...] [--no-accuracy] [--out DIR]
//   npm run bench:compare -- BASELINE_DIR OTHER_DIR     compare two existing result folders
//
// For every model and scenario (ResNet-50: all four; BERT-Large: Offline and
// Server, unless --scenarios says otherwise) one SUT process runs natively,
// then one through libvgpu with a vgpu-proxy started for it, checked and stopped
// after it. Each model's first native run measures the batch latencies from
// which all its runs take their rates (so both paths get the same load). Then
// an accuracy-mode run on each path compares the outputs sample by sample.
// Writes results/<date>/compare.md, compare.json, throughput.png, latency.png,
// and keeps every LoadGen folder under results/<date>/<model>/<scenario>/<path>/.
//
// Environment: BENCH_PYTHON (default python3), VGPU_REAL_LIBCUDA (default
// /usr/local/nvidia/lib64/libcuda.so.1). Exit status: 0 done and passing (or
// nothing to judge), 1 a bar failed, 2 a run failed or could not start.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { compareAccuracy, inspectAccuracy, readAccuracyLog } from './accuracy-compare.js';
import { GpuSampler, nvidiaSmiProblem } from './gpu-sampler.js';
import { accuracyTable, outcome, resultsTable, verdictLines, writeReport, type AccuracyRecord, type PathResult, type Report, type RunRecord } from './report.js';
import { runSut, describeSutExit } from './sut-process.js';
import { readSummary, SUMMARY_FILE } from './summary.js';
import { BARS, judge, metricsOf } from './verdict.js';
import { describeHost, hostInfo } from '../../devkit/host-info.js';
import { DEFAULT_GUEST_LIB_DIR, realDriverEnv, requireGuestLib, startProxy, type ProxyHandle } from '../../devkit/proxy-process.js';
import { stamp } from '../../devkit/report.js';
import { repoPath } from '../../devkit/repo-root.js';
import { runCommand, runMain } from '../../devkit/run-command.js';

type Path = 'native' | 'libvgpu';
const MODELS = ['resnet50', 'bert'] as const;
const SCENARIOS = ['SingleStream', 'MultiStream', 'Server', 'Offline'] as const;
const DEFAULT_SCENARIOS: Record<string, string[]> = {
  resnet50: ['SingleStream', 'MultiStream', 'Server', 'Offline'],
  bert: ['Offline', 'Server'],
};
const LOADGEN_PIN = 'mlcommons-loadgen==6.0.17';
const SUT_SCRIPT = repoPath('bench', 'loadgen', 'run_sut.py');
const CHARTS_SCRIPT = repoPath('bench', 'loadgen', 'charts.py');

interface Options {
  quick: boolean;
  models: string[];
  scenarios: string[] | null;
  paths: Path[];
  userConf: string | null;
  weights: Record<string, string>;
  sutArgs: string[];
  accuracy: boolean;
  out: string;
  python: string;
  libcuda: string;
  timeoutMs: number;
  /** Harness self-test without a GPU: tiny models on the CPU, native path only; the numbers mean nothing. */
  cpuSmoke: boolean;
}

function list(value: string | undefined, allowed: readonly string[], what: string): string[] | null {
  if (value === undefined) return null;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!allowed.includes(i)) throw new Error(`unknown ${what} ${i}: expected ${allowed.join(', ')}`);
  return items;
}

function parseOptions(argv: string[]): { opts: Options; dirs: string[] } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      models: { type: 'string' },
      scenarios: { type: 'string' },
      paths: { type: 'string' },
      'user-conf': { type: 'string' },
      weights: { type: 'string', multiple: true },
      'sut-arg': { type: 'string', multiple: true },
      'no-accuracy': { type: 'boolean', default: false },
      out: { type: 'string' },
      python: { type: 'string' },
      libcuda: { type: 'string' },
      'timeout-s': { type: 'string' },
      'cpu-smoke': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).slice(0, 24).map((l) => l.slice(3)).join('\n'));
    process.exit(0);
  }
  if (positionals.length !== 0 && positionals.length !== 2) {
    throw new Error(`expected no folders (run the comparison) or two (compare BASELINE_DIR OTHER_DIR), got ${positionals.length}`);
  }
  const weights: Record<string, string> = {};
  for (const w of values.weights ?? []) {
    const [model, file] = w.split('=', 2);
    if (!model || !file || !MODELS.includes(model as (typeof MODELS)[number])) throw new Error(`--weights ${w}: expected MODEL=FILE with MODEL one of ${MODELS.join(', ')}`);
    if (!existsSync(file)) throw new Error(`--weights ${w}: ${file} does not exist`);
    weights[model] = resolve(file);
  }
  const userConf = values['user-conf'] ? resolve(values['user-conf']) : null;
  if (userConf && !existsSync(userConf)) throw new Error(`--user-conf ${userConf} does not exist`);
  const quick = values.quick ?? false;
  const timeoutS = values['timeout-s'] ? Number(values['timeout-s']) : quick ? 600 : 7200;
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout-s ${values['timeout-s']} is not a positive number`);
  return {
    dirs: positionals,
    opts: {
      quick,
      models: list(values.models, MODELS, 'model') ?? [...MODELS],
      scenarios: list(values.scenarios, SCENARIOS, 'scenario'),
      paths: (list(values.paths, ['native', 'libvgpu'], 'path') ?? ['native', 'libvgpu']) as Path[],
      userConf,
      weights,
      sutArgs: values['sut-arg'] ?? [],
      accuracy: !(values['no-accuracy'] ?? false),
      out: resolve(values.out ?? repoPath('results', stamp())),
      python: values.python ?? process.env.BENCH_PYTHON ?? 'python3',
      libcuda: values.libcuda ?? process.env.VGPU_REAL_LIBCUDA ?? '/usr/local/nvidia/lib64/libcuda.so.1',
      timeoutMs: timeoutS * 1000,
      cpuSmoke: values['cpu-smoke'] ?? false,
    },
  };
}

// ---------------------------------------------------------------- preflight

const PREFLIGHT = `
import json, sys
r = {"python": sys.version.split()[0]}
for name in ("mlperf_loadgen", "torch", "torchvision", "transformers", "numpy", "PIL", "matplotlib"):
    try:
        m = __import__(name); r[name] = getattr(m, "__version__", None)
        if r[name] is None:
            import importlib.metadata as md
            r[name] = md.version("mlcommons-loadgen" if name == "mlperf_loadgen" else name)
    except Exception as e:
        r[name] = None; r[name + "_error"] = str(e)
if r["torch"]:
    import torch
    r["cuda"] = torch.cuda.is_available()
    r["device"] = torch.cuda.get_device_name(0) if r["cuda"] else None
print(json.dumps(r))
`;

async function preflight(opts: Options): Promise<Record<string, unknown>> {
  const r = await runCommand(opts.python, ['-c', PREFLIGHT], { timeoutMs: 120_000 });
  if (r.spawnError) throw new Error(`${r.spawnError}: set BENCH_PYTHON or --python to a Python 3 with PyTorch`);
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
  } catch {
    throw new Error(`${opts.python} could not check its packages (exit ${r.code}): ${r.stderr.slice(-1500)}`);
  }
  const missing = (name: string, hint: string): Error => new Error(`${name} is missing in ${opts.python} (${String(info[`${name}_error`])}): ${hint}`);
  if (!info.mlperf_loadgen) {
    throw missing(
      'mlperf_loadgen',
      `install the LoadGen wheel: \`${opts.python} -m pip install ${LOADGEN_PIN}\`, or on the GPU machine run ` +
        'bench/loadgen/prepare-carry.sh here, carry .whl, and there `python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site`',
    );
  }
  if (!info.torch) throw missing('torch', 'install PyTorch with CUDA support');
  if (opts.models.includes('resnet50') && !info.torchvision) throw missing('torchvision', 'ResNet-50 is built from torchvision');
  if (opts.models.includes('bert') && !info.transformers) throw missing('transformers', 'BERT-Large is built from transformers');
  if (!info.numpy) throw missing('numpy', 'install numpy');
  if (!info.cuda && !opts.cpuSmoke) {
    throw new Error(
      `no GPU: PyTorch in ${opts.python} sees no CUDA device (torch ${String(info.torch)}); ` +
        `nvidia-smi: ${nvidiaSmiProblem() ?? 'works'}. Run this on the GPU machine (see bench/loadgen/README.md)`,
    );
  }
  return info;
}

// ---------------------------------------------------------------- running

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}


function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function pathResult(dir: string, gpu: PathResult['gpu'], gpuNote: string | null, wallS: number | null): PathResult {
  const s = readSummary(dir);
  const { fields: _fields, ...summary } = s;
  return { dir, metrics: metricsOf(s), summary, gpu, gpuNote, run: readJson(join(dir, 'run.json')), wallS };
}

interface Step {
  n: number;
  total: number;
}

class Session {
  readonly opts: Options;
  readonly smiProblem: string | null;
  readonly notes: string[] = [];
  #step = 0;
  #total = 0;

  constructor(opts: Options, smiProblem: string | null) {
    this.opts = opts;
    this.smiProblem = smiProblem;
  }

  plan(): { model: string; scenarios: string[] }[] {
    return this.opts.models.map((model) => ({ model, scenarios: this.opts.scenarios ?? DEFAULT_SCENARIOS[model] ?? [] }));
  }

  setTotal(n: number): void {
    this.#total = n;
  }

  next(): Step {
    return { n: ++this.#step, total: this.#total };
  }

  /** One SUT process on one path; throws with the reason when it failed. Accuracy mode has no
   * performance summary: then the result is null once the run has succeeded. */
  async runOne(model: string, scenario: string, path: Path, mode: 'performance' | 'accuracy', dir: string, step: Step): Promise<PathResult | null> {
    mkdirSync(dir, { recursive: true });
    const what = `${model} ${mode === 'accuracy' ? 'accuracy (Offline)' : scenario} ${path}`;
    console.log(`\n[${step.n}/${step.total}] ${what} -> ${relative(process.cwd(), dir) || dir}`);
    const args = ['--model', model, '--scenario', scenario, '--mode', mode, '--out', dir, '--label', path];
    args.push('--calibration', join(this.opts.out, model, 'calibration.json'));
    if (this.opts.quick) args.push('--quick');
    if (this.opts.userConf) args.push('--user-conf', this.opts.userConf);
    const weights = this.opts.weights[model];
    if (weights) args.push('--weights', weights);
    args.push(...this.opts.sutArgs);
    if (this.opts.cpuSmoke) args.push('--device', 'cpu', '--tiny', '--qsl-size', '64');

    let proxy: ProxyHandle | null = null;
    let env = realDriverEnv(this.opts.libcuda);
    if (path === 'libvgpu') {
      proxy = await startProxy({ libcuda: this.opts.libcuda, logFile: join(dir, 'proxy.log') });
      console.log(`  vgpu-proxy ${proxy.pid} ready at ${proxy.socket}`);
      env = proxy.env;
    }
    const sampler = this.smiProblem === null ? new GpuSampler() : null;
    sampler?.start();
    let result;
    let proxyEnded: string | null = null;
    try {
      result = await runSut({
        python: this.opts.python,
        script: SUT_SCRIPT,
        args,
        env,
        logFile: join(dir, 'sut.log'),
        timeoutMs: this.opts.timeoutMs,
        prefix: '  ',
      });
    } finally {
      await sampler?.end();
      if (proxy) {
        if (!proxy.alive()) proxyEnded = proxy.exitStatus();
        await proxy.stop();
      }
    }
    const failed = result.code !== 0 || result.timedOut || result.spawnError !== null;
    if (proxyEnded !== null && proxy) {
      throw new Error(
        `${what}: vgpu-proxy ended during the run (${proxyEnded}; the SUT: ${describeSutExit(result, this.opts.timeoutMs)})\n` +
          `  proxy log (${join(dir, 'proxy.log')}):\n${proxy.logTail(30)}`,
      );
    }
    if (failed) {
      const why = (result.result?.error as string | undefined) ?? describeSutExit(result, this.opts.timeoutMs);
      throw new Error(
        `${what}: ${why}\n  last lines of ${join(dir, 'sut.log')}:\n${result.stderrTail.split('\n').slice(-25).join('\n')}` +
          (proxy ? `\n  proxy log (${join(dir, 'proxy.log')}):\n${proxy.logTail(30)}` : ''),
      );
    }
    // The driver this process really loaded: libvgpu on the libvgpu path, never libvgpu natively.
    const guestLib = real(join(DEFAULT_GUEST_LIB_DIR, 'libcuda.so.1'));
    const loaded = result.libcuda ? real(result.libcuda) : null;
    if (path === 'libvgpu' && loaded !== guestLib) {
      throw new Error(`${what}: the SUT loaded ${result.libcuda ?? 'no libcuda'}, not libvgpu (${guestLib}): the comparison would compare the driver with itself`);
    }
    if (path === 'native' && loaded !== null && loaded === guestLib) throw new Error(`${what}: the native run loaded libvgpu (${loaded})`);
    const wallS = result.wallMs / 1000;
    if (mode === 'accuracy') {
      if (!existsSync(join(dir, 'mlperf_log_accuracy.json'))) throw new Error(`${what}: LoadGen wrote no mlperf_log_accuracy.json in ${dir}`);
      console.log(`  ${what}: done (${wallS.toFixed(0)} s)`);
      return null;
    }
    let stats = null;
    let gpuNote = this.smiProblem;
    if (sampler) {
      const s = sampler.stats(result.testStart ?? 0, result.testEnd ?? Date.now());
      stats = s.stats;
      gpuNote = s.error;
      writeFileSync(join(dir, 'gpu.json'), `${JSON.stringify(stats ?? { error: gpuNote }, null, 2)}\n`);
    }
    const r = pathResult(dir, stats, gpuNote, wallS);
    const m = r.metrics;
    console.log(
      `  ${what}: ${m.samplesPerSecond?.toFixed(1) ?? '-'} samples/s, p50 ${m.p50Ms?.toFixed(3) ?? '-'} ms, p99 ${m.p99Ms?.toFixed(3) ?? '-'} ms, ` +
        `${m.valid ? 'VALID' : 'INVALID'}${stats ? `, GPU ${stats.utilMeanPct.toFixed(0)} %, ${(stats.memUsedMaxMiB / 1024).toFixed(2)} GiB` : ''} (${wallS.toFixed(0)} s)`,
    );
    return r;
  }
}

async function runComparison(opts: Options): Promise<Report> {
  const host = hostInfo();
  console.log(describeHost(host));
  const info = await preflight(opts);
  console.log(`python ${String(info.python)}: torch ${String(info.torch)}, LoadGen ${String(info.mlperf_loadgen)}, GPU ${String(info.device)}`);
  if (opts.cpuSmoke && opts.paths.includes('libvgpu')) throw new Error('--cpu-smoke runs the native path only: add --paths native');
  if (opts.paths.includes('libvgpu')) {
    requireGuestLib();
    if (!existsSync(opts.libcuda)) throw new Error(`the real driver library ${opts.libcuda} does not exist: set VGPU_REAL_LIBCUDA or --libcuda`);
  }
  const smi = nvidiaSmiProblem();
  const session = new Session(opts, smi);
  if (smi) session.notes.push(smi);
  mkdirSync(opts.out, { recursive: true });
  const plan = session.plan();
  const perRun = opts.paths.length;
  session.setTotal(plan.reduce((a, p) => a + p.scenarios.length * perRun + (opts.accuracy ? perRun : 0), 0));
  console.log(`results: ${opts.out}${opts.quick ? '  (--quick: NOT a valid MLPerf run)' : ''}`);

  const runs: RunRecord[] = [];
  const accuracy: AccuracyRecord[] = [];
  for (const { model, scenarios } of plan) {
    for (const scenario of scenarios) {
      const rec: RunRecord = { model, scenario, native: null, libvgpu: null, verdict: null, errors: [] };
      runs.push(rec);
      for (const path of opts.paths) {
        const step = session.next();
        if (path === 'libvgpu' && opts.paths.includes('native') && rec.native === null) {
          rec.errors.push('libvgpu run skipped: the native run failed');
          continue;
        }
        try {
          rec[path] = await session.runOne(model, scenario, path, 'performance', join(opts.out, model, scenario, path), step);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          console.error(`  FAILED: ${msg}`);
          rec.errors.push(msg);
        }
      }
      if (rec.native && rec.libvgpu) rec.verdict = judge(scenario, rec.native.metrics, rec.libvgpu.metrics);
    }
    if (opts.accuracy) {
      const acc: AccuracyRecord = { model, nativeDir: null, libvgpuDir: null, comparison: null, errors: [] };
      accuracy.push(acc);
      for (const path of opts.paths) {
        const step = session.next();
        const dir = join(opts.out, model, 'accuracy', path);
        try {
          await session.runOne(model, 'Offline', path, 'accuracy', dir, step);
          if (path === 'native') acc.nativeDir = dir;
          else acc.libvgpuDir = dir;
        } catch (err) {
          acc.errors.push(err instanceof Error ? err.message : String(err));
          console.error(`  FAILED: ${acc.errors.at(-1)}`);
        }
      }
      if (acc.nativeDir && acc.libvgpuDir) {
        acc.comparison = compareAccuracy(model, readAccuracyLog(join(acc.nativeDir, 'mlperf_log_accuracy.json')), readAccuracyLog(join(acc.libvgpuDir, 'mlperf_log_accuracy.json')));
      } else if (acc.nativeDir && !opts.paths.includes('libvgpu')) {
        const own = inspectAccuracy(readAccuracyLog(join(acc.nativeDir, 'mlperf_log_accuracy.json')));
        acc.errors.push(`only the native path ran (${own.samples} samples, ${own.nonFinite} with NaN or Inf): nothing to compare with`);
      }
    }
  }
  if (!opts.paths.includes('libvgpu')) session.notes.push('only the native path ran (--paths native): no overhead, no verdict');
  return buildReport(opts, host, runs, accuracy, session.notes);
}

function buildReport(opts: Options | null, host: Report['host'], runs: RunRecord[], accuracy: AccuracyRecord[], notes: string[], labels: [string, string] = ['native', 'libvgpu']): Report {
  const sides = runs.flatMap((r) => [r.native, r.libvgpu]).filter((p): p is PathResult => p !== null);
  const runJson = sides.map((p) => p.run).filter((x): x is Record<string, unknown> => x !== null);
  const first = runJson[0];
  const weights: Record<string, string> = {};
  for (const r of runJson) if (typeof r.model === 'string' && typeof r.weights === 'string') weights[r.model] = r.weights;
  const datasets = [...new Set(runJson.map((r) => String(r.dataset)))];
  const performanceOnly = runJson.some((r) => r.performance_only !== false);
  if (runJson.length === 0) notes.push('no run.json in these folders (not written by this harness): weights and inputs unknown');
  const quick = opts?.quick ?? runJson.some((r) => r.quick === true);
  const software: Record<string, string> = {};
  if (first) {
    software.LoadGen = String(first.loadgen);
    software.PyTorch = `${String(first.torch)} (Python ${String(first.python)}), ${String(first.dtype)}`;
    software['CUDA device'] = String(first.device);
  }
  if (runJson.some((r) => r.tiny === true)) notes.push('--tiny models (harness test only): these numbers mean nothing');
  return {
    title: 'MLPerf Inference (LoadGen): native vs libvgpu',
    date: new Date().toISOString(),
    host,
    labels,
    quick,
    performanceOnly,
    weights,
    inputs: datasets.length ? datasets.join(', ') : 'unknown',
    software,
    bars: BARS,
    runs,
    accuracy,
    verdict: { user: outcome(runs, 'user'), ours: outcome(runs, 'ours') },
    notes,
  };
}

// ---------------------------------------------------------------- two existing folders

function findLoadGenDirs(root: string, depth = 0, out: string[] = []): string[] {
  if (depth > 6) return out;
  if (existsSync(join(root, SUMMARY_FILE))) out.push(root);
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (e.isDirectory()) findLoadGenDirs(join(root, e.name), depth + 1, out);
  }
  return out;
}

/** An accuracy-mode folder: its run.json says so, or its summary has no results (LoadGen writes none then). */
function isAccuracyDir(dir: string): boolean {
  const run = readJson(join(dir, 'run.json'));
  if (run) return run.mode === 'accuracy';
  return !/MLPerf Results Summary/.test(readFileSync(join(dir, SUMMARY_FILE), 'utf8'));
}

/** The pairing key of a LoadGen folder below root: its path without a last "native"/"libvgpu" part. */
function keyOf(root: string, dir: string): string {
  const parts = relative(root, dir).split(sep).filter(Boolean);
  if (parts.length && ['native', 'libvgpu'].includes(parts.at(-1)!)) parts.pop();
  return parts.join('/');
}

function compareFolders(a: string, b: string, opts: Options): Report {
  for (const d of [a, b]) if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`${d} is not a folder`);
  const da = findLoadGenDirs(a);
  const db = findLoadGenDirs(b);
  if (!da.length) throw new Error(`no ${SUMMARY_FILE} under ${a}`);
  if (!db.length) throw new Error(`no ${SUMMARY_FILE} under ${b}`);
  const single = da.length === 1 && db.length === 1;
  const mb = new Map(db.map((d) => [single ? '' : keyOf(b, d), d]));
  const notes: string[] = [];
  const runs: RunRecord[] = [];
  const accuracy: AccuracyRecord[] = [];
  for (const dirA of da) {
    const key = single ? '' : keyOf(a, dirA);
    const dirB = mb.get(key);
    mb.delete(key);
    if (!dirB) {
      notes.push(`${dirA}: no counterpart under ${b}`);
      continue;
    }
    if (isAccuracyDir(dirA) || isAccuracyDir(dirB)) {
      const model = String(readJson(join(dirA, 'run.json'))?.model ?? key.split('/')[0] ?? '?');
      const rec: AccuracyRecord = { model, nativeDir: dirA, libvgpuDir: dirB, comparison: null, errors: [] };
      try {
        rec.comparison = compareAccuracy(model, readAccuracyLog(join(dirA, 'mlperf_log_accuracy.json')), readAccuracyLog(join(dirB, 'mlperf_log_accuracy.json')));
      } catch (err) {
        rec.errors.push(err instanceof Error ? err.message : String(err));
      }
      accuracy.push(rec);
      continue;
    }
    const ra = pathResult(dirA, null, null, null);
    const rb = pathResult(dirB, null, null, null);
    const gpuA = readJson(join(dirA, 'gpu.json'));
    const gpuB = readJson(join(dirB, 'gpu.json'));
    // gpu.json, when this harness wrote the folder: the NVML statistics, or {error}.
    if (typeof gpuA?.utilMeanPct === 'number') ra.gpu = gpuA as unknown as PathResult['gpu'];
    if (typeof gpuB?.utilMeanPct === 'number') rb.gpu = gpuB as unknown as PathResult['gpu'];
    const model = String(ra.run?.model ?? key.split('/')[0] ?? '?') || '?';
    const scenario = ra.summary.scenario ?? '?';
    if (ra.summary.scenario !== rb.summary.scenario) notes.push(`${key || dirA}: scenarios differ (${ra.summary.scenario} vs ${rb.summary.scenario})`);
    runs.push({ model, scenario, native: ra, libvgpu: rb, verdict: judge(scenario, ra.metrics, rb.metrics), errors: [] });
  }
  for (const d of mb.values()) notes.push(`${d}: no counterpart under ${a}`);
  return buildReport(null, null, runs, accuracy, notes, [`baseline (${a})`, `other (${b})`]);
}

// ---------------------------------------------------------------- output

async function drawCharts(opts: Options, jsonFile: string, report: Report): Promise<void> {
  const r = await runCommand(opts.python, [CHARTS_SCRIPT, jsonFile], { timeoutMs: 120_000, env: { ...process.env, MPLBACKEND: 'Agg' } });
  if (r.code === 0) {
    for (const line of r.stdout.trim().split('\n')) if (line) console.log(`chart: ${line}`);
  } else {
    const why = r.spawnError ?? r.stderr.trim().split('\n').at(-1) ?? `exit ${r.code}`;
    report.notes.push(`charts not drawn: ${why}`);
    console.log(`charts not drawn: ${why}`);
  }
}

async function main(): Promise<number> {
  const { opts, dirs } = parseOptions(process.argv.slice(2));
  let report: Report;
  if (dirs.length === 2) {
    report = compareFolders(resolve(dirs[0]!), resolve(dirs[1]!), opts);
  } else {
    report = await runComparison(opts);
  }
  mkdirSync(opts.out, { recursive: true });
  let files = writeReport(opts.out, report);
  await drawCharts(opts, files.json, report);
  files = writeReport(opts.out, report); // again, with any note about the charts
  console.log(`\n${resultsTable(report)}\n`);
  for (const l of verdictLines(report)) console.log(l.replace(/\*\*/g, ''));
  if (report.accuracy.length) console.log(`\nOutputs agree? (accuracy mode, same inputs, sample by sample)\n${accuracyTable(report)}`);
  if (report.quick) console.log('\n--quick: NOT a valid MLPerf run');
  if (report.performanceOnly) console.log('performance only: random weights');
  console.log(`\nwrote ${files.md}\nwrote ${files.json}`);
  const failedRuns = report.runs.some((r) => r.errors.length > 0) || report.accuracy.some((a) => a.errors.length > 0 && a.comparison === null && opts.paths.length > 1);
  if (failedRuns) return 2;
  if (report.verdict.user === 'FAIL' || report.verdict.ours === 'FAIL') return 1;
  if (report.accuracy.some((a) => (a.comparison?.disagreements ?? 0) > 0)) return 1;
  return 0;
}

runMain('bench:compare', main);
