// npm run bench:calls — cost of driver calls, native driver vs libvgpu.
//
// Builds bench/calls/calls_bench.c and its kernel into build/bench-calls/,
// starts one vgpu-proxy, runs the bench natively and through libvgpu
// alternately BENCH_RUNS times (default 3), and reports for every metric the
// median of the runs with its spread, and the ratio libvgpu / native.
//
//   node dist/bench/calls/run-bench-calls.js [--cuda-include DIR]
//
// Environment: VGPU_REAL_LIBCUDA (default /usr/local/nvidia/lib64/libcuda.so.1),
// BENCH_RUNS, the BENCH_* settings of calls_bench.c (passed through), OUT
// (results folder; default results/), and the compiler settings of
// devkit/cuda-build.ts.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatValue, metricKind, summarize, type Summary } from './stats.js';
import { buildKernel, buildProgram, describeToolchain, findToolchain, SUPPORT_INCLUDE_DIR } from '../../devkit/cuda-build.js';
import { describeHost, hostInfo } from '../../devkit/host-info.js';
import { checkLoadedLibcuda } from '../../devkit/loaded-libcuda.js';
import { DEFAULT_GUEST_LIB_DIR, realDriverEnv, requireGuestLib, startProxy, type ProxyHandle } from '../../devkit/proxy-process.js';
import { markdownTable, stamp, writeResult } from '../../devkit/report.js';
import { repoPath } from '../../devkit/repo-root.js';
import { describeExit, runCommand, runMain } from '../../devkit/run-command.js';

const TIMEOUT_MS = 240_000;
const BUILD_DIR = repoPath('build', 'bench-calls');
const PROXY_LOG = join(BUILD_DIR, 'proxy.log');
type Mode = 'native' | 'libvgpu';

interface BenchOutput {
  device: string;
  settings: Record<string, number>;
  metrics: Record<string, number>;
}

function parseOutput(stdout: string): BenchOutput {
  const start = stdout.indexOf('{');
  if (start < 0) throw new Error('printed no JSON object');
  const parsed = JSON.parse(stdout.slice(start)) as Partial<BenchOutput>;
  if (typeof parsed.metrics !== 'object' || parsed.metrics === null) throw new Error('JSON has no "metrics" object');
  return { device: String(parsed.device ?? 'unknown'), settings: parsed.settings ?? {}, metrics: parsed.metrics };
}


async function runBench(mode: Mode, run: number, env: NodeJS.ProcessEnv, expectedLib: string, proxy: ProxyHandle): Promise<BenchOutput> {
  const r = await runCommand(join(BUILD_DIR, 'calls_bench'), [BUILD_DIR], { env, timeoutMs: TIMEOUT_MS });
  const fail = (why: string): Error =>
    new Error(
      `${mode} run ${run}: ${why}\n  stderr:\n${r.stderr.trimEnd().slice(-4000)}` +
        (mode === 'libvgpu' ? `\n  proxy log (last 40 lines of ${PROXY_LOG}):\n${proxy.logTail(40)}` : ''),
    );
  if (r.code !== 0 || r.timedOut) throw fail(describeExit(r, TIMEOUT_MS));
  const lib = checkLoadedLibcuda(r.stderr, expectedLib);
  if (lib !== null) throw fail(lib);
  try {
    const out = parseOutput(r.stdout);
    console.log(`run    ${mode} ${run}: ${(r.ms / 1000).toFixed(1)} s`);
    return out;
  } catch (err) {
    throw fail(`${err instanceof Error ? err.message : String(err)}; stdout: ${r.stdout.slice(0, 2000)}`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'cuda-include': { type: 'string' } } });
  const realLibcuda = process.env.VGPU_REAL_LIBCUDA || '/usr/local/nvidia/lib64/libcuda.so.1';
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS=${process.env.BENCH_RUNS} is not a positive integer`);

  const host = hostInfo();
  console.log(describeHost(host));
  const tc = findToolchain({ includeDir: values['cuda-include'], realLibcudaDir: dirname(realLibcuda) });
  console.log(`toolchain: ${describeToolchain(tc)}`);
  requireGuestLib(); // before building: nothing to compare against without libvgpu
  mkdirSync(BUILD_DIR, { recursive: true });
  await buildKernel(tc, 'fatbin', repoPath('bench', 'calls', 'bench_kernels.cu'), join(BUILD_DIR, 'bench_kernels.fatbin'));
  await buildProgram(tc, repoPath('bench', 'calls', 'calls_bench.c'), join(BUILD_DIR, 'calls_bench'), [SUPPORT_INCLUDE_DIR]);

  rmSync(PROXY_LOG, { force: true });
  const proxy = await startProxy({ libcuda: realLibcuda, logFile: PROXY_LOG });
  console.log(`vgpu-proxy ${proxy.pid} ready at ${proxy.socket}`);
  const outputs: Record<Mode, BenchOutput[]> = { native: [], libvgpu: [] };
  let failure: Error | null = null;
  try {
    for (let i = 1; i <= runs; i++) {
      outputs.native.push(await runBench('native', i, realDriverEnv(realLibcuda), realLibcuda, proxy));
      if (!proxy.alive()) throw new Error(`vgpu-proxy ended (${proxy.exitStatus()}); log:\n${proxy.logTail(40)}`);
      outputs.libvgpu.push(await runBench('libvgpu', i, proxy.env, join(DEFAULT_GUEST_LIB_DIR, 'libcuda.so.1'), proxy));
    }
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
  } finally {
    await proxy.stop();
  }

  const names = [...new Set(outputs.native.flatMap((o) => Object.keys(o.metrics)))];
  const metrics: Record<string, { unit: string; better: string; native: Summary; libvgpu: Summary | null; ratio: number | null }> = {};
  const rows: string[][] = [];
  for (const name of names) {
    const kind = metricKind(name);
    const native = summarize(outputs.native.map((o) => o.metrics[name] ?? NaN));
    const vg = outputs.libvgpu.length > 0 ? summarize(outputs.libvgpu.map((o) => o.metrics[name] ?? NaN)) : null;
    const ratio = vg !== null ? vg.median / native.median : null;
    metrics[name] = { ...kind, native, libvgpu: vg, ratio };
    const cell = (s: Summary | null): string => (s === null ? 'failed' : `${formatValue(s.median)} ±${s.spreadPct.toFixed(1)}%`);
    rows.push([`${name} (${kind.unit}, ${kind.better} is better)`, cell(native), cell(vg), ratio === null ? '-' : `${ratio.toFixed(2)}x`]);
  }
  const device = outputs.native[0]?.device ?? 'unknown';
  const text = markdownTable(['metric', 'native', 'libvgpu', 'ratio'], rows);
  const hostLine = `${describeHost(host)}; CUDA device: ${device}`;
  console.log(`\n${hostLine}\nmedian of ${runs} runs each, ± spread (max-min)/median; ratio = libvgpu / native\n\n${text}`);

  const json = {
    date: new Date().toISOString(),
    host,
    device,
    realLibcuda,
    runs,
    settings: outputs.native[0]?.settings ?? {},
    metrics,
    error: failure?.message ?? null,
  };
  const path = writeResult(`bench-calls-${stamp()}.json`, JSON.stringify(json, null, 2));
  console.log(`\nwrote ${path}`);
  if (failure !== null) {
    console.error(`\nrun-bench-calls: ${failure.message}`);
    return 1;
  }
  return 0;
}

runMain('run-bench-calls', main);
