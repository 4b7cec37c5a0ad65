// PyTorch, CuPy and torch.compile natively and through libvgpu, outputs
// compared (issue "vGPU path 2", point 4), and the start-up cost (point 5).
//
//   const report = await runPytorchChecks(proxy, { log: console.log });
//   console.log(pytorchChecksTable(report));
//
// Each case runs one script of bench/models/ natively, then through libvgpu
// (one process each), and compares what the two wrote with
// bench/models/compare_outputs.py: argmax indices must be identical, and the
// largest absolute difference of the outputs is printed; with the scripts'
// deterministic settings it must be 0 (opts.tolerance allows more).
//
// Start-up: time from process start to the first result (the scripts measure
// it from the kernel's start time of the process), for ResNet-50 at batch 1.
// "Cold" is the first PyTorch process through the proxy (its module cache
// holds nothing of PyTorch's yet); "warm" is a second run of the same script
// afterwards. Before the cold pair, one native run (not counted) reads
// PyTorch's libraries into the OS file cache, so that the cold pair measures
// CUDA and the proxy, not the disk. The proxy handed in must not have served
// a PyTorch process before for "cold" to mean that.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProxyHandle } from '../../../devkit/proxy-process.js';
import { markdownTable } from '../../../devkit/report.js';
import { repoPath } from '../../../devkit/repo-root.js';
import { describeExit, runCommand } from '../../../devkit/run-command.js';
import { unsupportedCell } from '../../../devkit/unsupported-summary.js';
import {
  field,
  makeSides,
  MODELS_DIR,
  nativeEnv,
  numberField,
  pythonExe,
  realLibcudaPath,
  runScript,
  stderrTail,
  type ScriptRun,
  type Side,
  type SideName,
  withEnv,
} from './python-scripts.js';

export interface PytorchCase {
  /** Short id: folder name and --check filter. */
  id: string;
  /** What the table calls it. */
  title: string;
  script: string;
  args: string[];
  /** Fields of the JSON line that must be equal on both sides (same model, same inputs). */
  sameOnBothSides: string[];
  /** Environment variables set on both sides, over each side's own environment (python-scripts.ts withEnv). */
  env?: Readonly<Record<string, string>>;
}

/** PyTorch's caching allocator on the driver's virtual memory calls (cuMemCreate, cuMemMap, ...) instead of cuMemAlloc. */
const EXPANDABLE_SEGMENTS = { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' } as const;

export const PYTORCH_CASES: readonly PytorchCase[] = [
  { id: 'resnet50-bs1', title: 'ResNet-50 fp16 bs1 forward', script: 'forward_check.py', args: ['--model', 'resnet50', '--batch', '1'], sameOnBothSides: ['weights', 'inputs'] },
  { id: 'bert-large-bs8', title: 'BERT-Large fp16 bs8x384 forward', script: 'forward_check.py', args: ['--model', 'bert-large', '--batch', '8'], sameOnBothSides: ['weights', 'inputs'] },
  { id: 'cuda-graph', title: 'CUDA graph capture + replay (ResNet-50 bs1)', script: 'graph_check.py', args: ['--model', 'resnet50', '--batch', '1'], sameOnBothSides: ['weights'] },
  { id: 'cupy', title: 'CuPy elementwise + reduction', script: 'cupy_check.py', args: [], sameOnBothSides: [] },
  { id: 'torch-compile', title: 'torch.compile (Inductor/Triton)', script: 'compile_check.py', args: [], sameOnBothSides: [] },
  {
    id: 'resnet50-bs1-expandable',
    title: 'ResNet-50 fp16 bs1 forward, expandable_segments',
    script: 'forward_check.py',
    args: ['--model', 'resnet50', '--batch', '1'],
    sameOnBothSides: ['weights', 'inputs'],
    env: EXPANDABLE_SEGMENTS,
  },
  {
    id: 'bert-large-bs8-expandable',
    title: 'BERT-Large fp16 bs8x384 forward, expandable_segments',
    script: 'forward_check.py',
    args: ['--model', 'bert-large', '--batch', '8'],
    sameOnBothSides: ['weights', 'inputs'],
    env: EXPANDABLE_SEGMENTS,
  },
  { id: 'jax', title: 'JAX jit matmul, MLP, jax.random', script: 'jax_check.py', args: [], sameOnBothSides: ['inputs'] },
  { id: 'cupy-libs', title: 'CuPy RawKernel, cuBLAS fp32/fp16, cuFFT, cuRAND', script: 'cupy_libs_check.py', args: [], sameOnBothSides: ['inputs'] },
];

const STARTUP_CASE = 'resnet50-bs1';

export interface PytorchCheckOptions {
  /** The real driver library (native runs must load it); default $VGPU_REAL_LIBCUDA or /usr/local/nvidia/lib64/libcuda.so.1. */
  realLibcuda?: string;
  /** Case ids to run; default all. The start-up row needs resnet50-bs1. */
  checks?: string[];
  /** Largest |native - libvgpu| accepted; default 0. */
  tolerance?: number;
  /** Milliseconds a script may run; default 300 s. */
  timeoutMs?: number;
  /** Where outputs and logs go; default build/pytorch-checks. */
  workDir?: string;
  /** One native run first to fill the OS file cache (see above); default true. */
  primeFileCache?: boolean;
  /** Progress, one line per run; default console.log. */
  log?: (line: string) => void;
}

export interface RunSummary {
  status: string;
  /** Wall time of the process, milliseconds. */
  ms: number;
}

export interface SidePair<T> {
  native: T;
  libvgpu: T;
}

export interface PytorchCheckRow {
  check: string;
  id: string;
  native: RunSummary;
  libvgpu: RunSummary;
  /** null when there was nothing to compare. */
  argmaxIdentical: boolean | null;
  /** Largest |native - libvgpu| over the outputs; NaN where NaN-ness differs; null when not compared. */
  maxAbsDiff: number | null;
  /** Process start to first result, seconds: this case's first run on each side. */
  startup: SidePair<number | null>;
  /** Only on the start-up row: the second runs. */
  startupWarm?: SidePair<number | null>;
  /** The script's own verdict (graph vs eager, CuPy vs numpy, compiled vs eager, finite and repeatable). */
  scriptPass: SidePair<boolean | null>;
  /** The script's own max-abs-diff (graph vs eager, ...), where it has one. */
  scriptMaxAbsDiff: SidePair<number | null>;
  /** libvgpu's exit summary: "0", or the functions it answered NOT_SUPPORTED; "-" without one. */
  unsupported: string;
  pass: boolean;
  reasons: string[];
}

export interface PytorchChecksReport {
  /** True when the "libvgpu" column ran natively (no proxy was given). */
  rehearsal: boolean;
  tolerance: number;
  rows: PytorchCheckRow[];
  /** The start-up cost, split: seconds from process start, per stage, cold and warm. */
  startupBreakdown: Record<'cold' | 'warm', SidePair<Record<string, number> | null>> | null;
  passed: number;
  failed: number;
}

interface Comparison {
  identical: boolean;
  argmaxIdentical: boolean | null;
  maxAbsDiff: number | null;
  problems: string[];
}

function summary(r: ScriptRun): RunSummary {
  return { status: r.status, ms: Math.round(r.result.ms) };
}

function outFile(r: ScriptRun): string | null {
  const out = field(r.json, 'out');
  if (Array.isArray(out) && typeof out[0] === 'string') {
    // .bin + .json: the manifest names both
    return (out as string[]).find((p) => p.endsWith('.json')) ?? out[0];
  }
  return null;
}

async function compareOutputs(native: string, vgpu: string, workDir: string): Promise<Comparison> {
  const r = await runCommand(pythonExe(), [join(MODELS_DIR, 'compare_outputs.py'), native, vgpu], { env: nativeEnv(), timeoutMs: 120_000, cwd: workDir });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { identical: false, argmaxIdentical: null, maxAbsDiff: null, problems: [`compare_outputs.py: ${describeExit(r)}, printed no JSON: ${r.stderr.trim().slice(-500)}`] };
  }
  if (typeof parsed.error === 'string') return { identical: false, argmaxIdentical: null, maxAbsDiff: null, problems: [`compare_outputs.py: ${parsed.error}`] };
  return {
    identical: parsed.identical === true,
    argmaxIdentical: typeof parsed.argmaxIdentical === 'boolean' ? parsed.argmaxIdentical : null,
    maxAbsDiff: numberField(parsed.maxAbsDiff),
    problems: Array.isArray(parsed.problems) ? parsed.problems.map(String) : [],
  };
}

function startupOf(r: ScriptRun): number | null {
  return r.status === 'ok' ? numberField(field(r.json, 'startup_s', 'first_result')) : null;
}

/** The script's start-up stages in its order (seconds each; see bench/models/common.py StartupClock). */
function stagesOf(r: ScriptRun): Record<string, number> | null {
  const s = field(r.json, 'startup_s');
  if (r.status !== 'ok' || typeof s !== 'object' || s === null) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) {
    const n = numberField(v);
    if (n !== null) out[k] = n;
  }
  return out;
}

const STAGE_LABELS: Record<string, string> = {
  python: 'interpreter',
  imports: 'imports',
  driver_init: 'driver init',
  cuda_context: 'CUDA context',
  build: 'model build',
  first_forward: 'first forward',
  first_result: 'first result (total)',
};

function saveLogs(dir: string, label: string, r: ScriptRun): void {
  writeFileSync(join(dir, `${label}.stdout.txt`), r.result.stdout);
  writeFileSync(join(dir, `${label}.stderr.txt`), r.result.stderr);
}

class CaseRunner {
  readonly #sides: Record<SideName, Side>;
  readonly #timeoutMs: number;
  readonly #workDir: string;
  readonly #log: (line: string) => void;

  constructor(sides: Record<SideName, Side>, timeoutMs: number, workDir: string, log: (line: string) => void) {
    this.#sides = sides;
    this.#timeoutMs = timeoutMs;
    this.#workDir = workDir;
    this.#log = log;
  }

  /** One run of a case on one side; label names its output file ("native", "libvgpu-warm"). */
  async run(c: PytorchCase, side: SideName, label: string = side): Promise<ScriptRun> {
    const dir = join(this.#workDir, c.id);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, `${label}.npz`);
    const r = await runScript(c.script, [...c.args, '--out', out], withEnv(this.#sides[side], c.env), this.#timeoutMs);
    saveLogs(dir, label, r);
    const first = startupOf(r);
    const extra = first !== null ? ` (first result ${first.toFixed(2)} s after process start)` : '';
    this.#log(`run    ${c.id} ${label}: ${r.status}, ${(r.result.ms / 1000).toFixed(1)} s${extra}`);
    for (const p of r.problems) this.#log(`         ${p}`);
    if (r.status !== 'ok' && r.result.stderr !== '') this.#log(`       stderr (last lines, all in ${join(dir, `${label}.stderr.txt`)}):\n${stderrTail(r.result, 15)}`);
    return r;
  }

  async compare(c: PytorchCase, native: ScriptRun, vgpu: ScriptRun, tolerance: number): Promise<Omit<PytorchCheckRow, 'check' | 'id' | 'startup'>> {
    const reasons = [...native.problems, ...vgpu.problems];
    const scriptPass = { native: boolOf(native.json?.pass), libvgpu: boolOf(vgpu.json?.pass) };
    const scriptMaxAbsDiff = { native: numberField(native.json?.max_abs_diff), libvgpu: numberField(vgpu.json?.max_abs_diff) };
    for (const s of [native, vgpu]) {
      if (s.json !== null && s.json.pass === false) {
        const why = typeof s.json.error === 'string' ? s.json.error : describeVerdict(s.json);
        if (!reasons.some((r) => r.includes(why))) reasons.push(`${s.side}: the script's own check failed (${why})`);
      }
    }
    for (const key of c.sameOnBothSides) {
      const a = native.json?.[key];
      const b = vgpu.json?.[key];
      if (native.json !== null && vgpu.json !== null && a !== b) reasons.push(`${key} differ (native ${String(a)}, libvgpu ${String(b)}): not the same model or inputs`);
    }
    let argmaxIdentical: boolean | null = null;
    let maxAbsDiff: number | null = null;
    const a = outFile(native);
    const b = outFile(vgpu);
    if (a !== null && b !== null) {
      const cmp = await this.compareFiles(a, b);
      argmaxIdentical = cmp.argmaxIdentical;
      maxAbsDiff = cmp.maxAbsDiff;
      reasons.push(...cmp.problems);
      if (argmaxIdentical === false) reasons.push('argmax differs between native and libvgpu');
      if (argmaxIdentical === null && cmp.problems.length === 0) reasons.push('no argmax to compare');
      if (maxAbsDiff === null) reasons.push('no output values were compared');
      else if (!(maxAbsDiff <= tolerance)) reasons.push(`max |native - libvgpu| = ${maxAbsDiff} > ${tolerance}`);
    } else if (reasons.length === 0) {
      reasons.push('a run named no output file');
    }
    const unsupported = unsupportedCell(vgpu.result.stderr);
    return { native: summary(native), libvgpu: summary(vgpu), argmaxIdentical, maxAbsDiff, scriptPass, scriptMaxAbsDiff, unsupported, pass: reasons.length === 0, reasons };
  }

  compareFiles(a: string, b: string): Promise<Comparison> {
    return compareOutputs(a, b, this.#workDir);
  }
}

function boolOf(v: unknown): boolean | null {
  return typeof v === 'boolean' ? v : null;
}

function describeVerdict(json: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const k of ['max_abs_diff', 'identical', 'finite', 'repeatable', 'generated_kernels']) {
    if (json[k] !== undefined) parts.push(`${k} ${JSON.stringify(json[k])}`);
  }
  return parts.join(', ') || 'pass false';
}

export async function runPytorchChecks(proxy: ProxyHandle | null, opts: PytorchCheckOptions = {}): Promise<PytorchChecksReport> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const tolerance = opts.tolerance ?? 0;
  const workDir = opts.workDir ?? repoPath('build', 'pytorch-checks');
  const wanted = opts.checks ?? PYTORCH_CASES.map((c) => c.id);
  const unknown = wanted.filter((id) => !PYTORCH_CASES.some((c) => c.id === id));
  if (unknown.length > 0) throw new Error(`unknown check(s) ${unknown.join(', ')}; known: ${PYTORCH_CASES.map((c) => c.id).join(', ')}`);
  const cases = PYTORCH_CASES.filter((c) => wanted.includes(c.id));
  mkdirSync(workDir, { recursive: true });
  for (const c of cases) rmSync(join(workDir, c.id), { recursive: true, force: true }); // last time's outputs only

  const runner = new CaseRunner(makeSides(proxy, opts.realLibcuda ?? realLibcudaPath()), opts.timeoutMs ?? 300_000, workDir, log);
  if (proxy === null) log('REHEARSAL: no proxy given, the "libvgpu" column runs natively too');
  const startupCase = cases.find((c) => c.id === STARTUP_CASE);
  if (startupCase !== undefined && (opts.primeFileCache ?? true)) {
    log('prime  one native run first, not counted: reads the libraries into the OS file cache');
    await runner.run(startupCase, 'native', 'prime');
  }

  const rows: PytorchCheckRow[] = [];
  const first: Partial<Record<string, SidePair<ScriptRun>>> = {};
  for (const c of cases) {
    const native = await runner.run(c, 'native');
    const vgpu = await runner.run(c, 'libvgpu');
    first[c.id] = { native, libvgpu: vgpu };
    const row: PytorchCheckRow = { check: c.title, id: c.id, startup: { native: startupOf(native), libvgpu: startupOf(vgpu) }, ...(await runner.compare(c, native, vgpu, tolerance)) };
    rows.push(row);
    log(`check  ${c.id}: argmax identical ${fmtBool(row.argmaxIdentical)}, max abs diff ${fmtDiff(row.maxAbsDiff)} -> ${row.pass ? 'PASS' : 'FAIL'}`);
    for (const why of row.reasons) log(`         ${why}`);
  }

  let startupBreakdown: PytorchChecksReport['startupBreakdown'] = null;
  const cold = first[STARTUP_CASE];
  if (startupCase !== undefined && cold !== undefined) {
    // Second runs: PyTorch's modules are now in the proxy's cache.
    const native = await runner.run(startupCase, 'native', 'native-warm');
    const vgpu = await runner.run(startupCase, 'libvgpu', 'libvgpu-warm');
    const cmp = await runner.compare(startupCase, native, vgpu, tolerance);
    const reasons = [...cmp.reasons];
    // The warm runs must also give what the cold ones gave.
    const coldOut = outFile(cold.native);
    const warmOut = outFile(native);
    if (coldOut !== null && warmOut !== null) {
      const again = await runner.compareFiles(coldOut, warmOut);
      if (!again.identical) reasons.push(`the native warm run's outputs differ from the cold run's (max abs diff ${fmtDiff(again.maxAbsDiff)})`);
    }
    const row: PytorchCheckRow = {
      ...cmp,
      check: 'start-up: process start -> first result (ResNet-50 bs1)',
      id: 'startup',
      startup: { native: startupOf(cold.native), libvgpu: startupOf(cold.libvgpu) },
      startupWarm: { native: startupOf(native), libvgpu: startupOf(vgpu) },
      pass: reasons.length === 0 && cold.native.status === 'ok' && cold.libvgpu.status === 'ok',
      reasons,
    };
    if (cold.native.status !== 'ok' || cold.libvgpu.status !== 'ok') row.reasons.push('a cold run failed: no cold start-up time');
    rows.push(row);
    startupBreakdown = {
      cold: { native: stagesOf(cold.native), libvgpu: stagesOf(cold.libvgpu) },
      warm: { native: stagesOf(native), libvgpu: stagesOf(vgpu) },
    };
    log(
      `check  start-up: cold native ${fmtSecs(row.startup.native)}, libvgpu ${fmtSecs(row.startup.libvgpu)}; ` +
        `warm native ${fmtSecs(row.startupWarm!.native)}, libvgpu ${fmtSecs(row.startupWarm!.libvgpu)} -> ${row.pass ? 'PASS' : 'FAIL'}`,
    );
  }
  const passed = rows.filter((r) => r.pass).length;
  return { rehearsal: proxy === null, tolerance, rows, startupBreakdown, passed, failed: rows.length - passed };
}

function fmtBool(v: boolean | null): string {
  return v === null ? '-' : v ? 'yes' : 'NO';
}

function fmtDiff(v: number | null): string {
  if (v === null) return '-';
  if (Number.isNaN(v)) return 'NaN';
  return v === 0 ? '0' : v.toPrecision(3);
}

function fmtSecs(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : `${v.toFixed(2)} s`;
}

function pair(p: SidePair<number | null> | undefined): string {
  if (p === undefined) return '-';
  const ratio = p.native !== null && p.libvgpu !== null && p.native > 0 ? ` (${(p.libvgpu / p.native).toFixed(2)}x)` : '';
  return `${fmtSecs(p.native)} / ${fmtSecs(p.libvgpu)}${ratio}`;
}

/** The report as markdown: one table of checks, then the start-up stages. */
export function pytorchChecksTable(report: PytorchChecksReport): string {
  const table = markdownTable(
    ['check', 'native', 'libvgpu', 'argmax identical', 'max abs diff', 'unsupported calls', 'start-up cold native / libvgpu', 'start-up warm native / libvgpu', 'result'],
    report.rows.map((r) => [
      r.check,
      r.native.status,
      r.libvgpu.status,
      fmtBool(r.argmaxIdentical),
      fmtDiff(r.maxAbsDiff),
      report.rehearsal ? '-' : r.unsupported,
      pair(r.startup),
      pair(r.startupWarm),
      r.pass ? 'PASS' : 'FAIL',
    ]),
  );
  const parts = [table];
  const b = report.startupBreakdown;
  if (b !== null) {
    const runs: [string, Record<string, number>][] = [];
    for (const temp of ['cold', 'warm'] as const) {
      for (const side of ['native', 'libvgpu'] as const) {
        const s = b[temp][side];
        if (s !== null) runs.push([`${temp} ${side}`, s]);
      }
    }
    const keys = [...new Set(runs.flatMap(([, s]) => Object.keys(s)))];
    keys.sort((x, y) => (x === 'first_result' ? 1 : y === 'first_result' ? -1 : 0));
    parts.push(
      'start-up of ResNet-50 bs1, seconds per stage (first result = process start -> the first forward\'s output on the CPU):\n\n' +
        markdownTable(
          ['run', ...keys.map((k) => STAGE_LABELS[k] ?? k)],
          runs.map(([name, s]) => [name, ...keys.map((k) => (s[k] !== undefined ? s[k]!.toFixed(2) : '-'))]),
        ),
    );
  }
  const failures = report.rows.filter((r) => !r.pass);
  if (failures.length > 0) parts.push(failures.map((r) => `- ${r.id}: ${r.reasons.join('; ')}`).join('\n'));
  if (report.rehearsal) parts.unshift('REHEARSAL: no proxy; the "libvgpu" column ran natively. This checks the harness, not libvgpu.');
  return parts.join('\n\n');
}
