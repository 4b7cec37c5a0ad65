// npm run test:gpu — prove the libvgpu path on a machine with a GPU.
//
// Builds the driver-API programs of test/gpu/programs/ and their kernels into
// build/gpu-tests/, starts one vgpu-proxy, runs every program natively and
// then through libvgpu, and compares what they wrote and printed.
//
//   node dist/test/gpu/run-gpu-tests.js [--cuda-include DIR] [PROGRAM...]
//
// Environment: VGPU_REAL_LIBCUDA (default /usr/local/nvidia/lib64/libcuda.so.1),
// OUT (results folder; default results/), and the compiler settings of
// devkit/cuda-build.ts.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { compareDirs, compareStdout } from './compare-outputs.js';
import { PROGRAMS, type GpuProgram } from './programs.js';
import { runIsolationChecks, type CheckResult } from './isolation-checks.js';
import { pytorchChecksTable, runPytorchChecks, type PytorchChecksReport } from './pytorch/pytorch-checks.js';
import {
  buildKernel,
  buildProgram,
  describeToolchain,
  findToolchain,
  SUPPORT_INCLUDE_DIR,
  type CudaToolchain,
} from '../../devkit/cuda-build.js';
import { describeHost, hostInfo } from '../../devkit/host-info.js';
import { checkLoadedLibcuda } from '../../devkit/loaded-libcuda.js';
import { DEFAULT_GUEST_LIB_DIR, realDriverEnv, requireGuestLib, startProxy, type ProxyHandle } from '../../devkit/proxy-process.js';
import { markdownTable, writeResult } from '../../devkit/report.js';
import { repoPath } from '../../devkit/repo-root.js';
import { describeExit, runCommand, runMain, type RunResult } from '../../devkit/run-command.js';
import { unsupportedCell, unsupportedProblems, withUnsupportedSummary } from '../../devkit/unsupported-summary.js';

const TIMEOUT_MS = 120_000;
const BUILD_DIR = repoPath('build', 'gpu-tests');
const SOURCE_DIR = repoPath('test', 'gpu', 'programs');
const PROXY_LOG = join(BUILD_DIR, 'proxy.log');

interface RunSummary {
  status: string;
  ms: number;
}

interface ProgramResult {
  program: string;
  native: RunSummary;
  libvgpu: RunSummary;
  outputsIdentical: boolean | null;
  stdoutIdentical: boolean | null;
  /** libvgpu's exit summary of the functions it answered NOT_SUPPORTED ("0" when none). */
  unsupported: string;
  pass: boolean;
  reasons: string[];
}

function summary(r: RunResult): RunSummary {
  return { status: r.code === 0 && !r.timedOut ? 'ok' : describeExit(r, TIMEOUT_MS), ms: Math.round(r.ms) };
}


async function build(tc: CudaToolchain, programs: GpuProgram[]): Promise<void> {
  for (const p of programs) {
    for (const k of p.kernels) await buildKernel(tc, k.kind, join(SOURCE_DIR, k.source), join(BUILD_DIR, k.output));
    await buildProgram(tc, join(SOURCE_DIR, `${p.name}.c`), join(BUILD_DIR, p.name), [SUPPORT_INCLUDE_DIR]);
  }
}

function freshDir(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function indent(text: string, prefix = '    '): string {
  const t = text.trimEnd();
  return t === '' ? `${prefix}(empty)` : t.split('\n').map((l) => prefix + l).join('\n');
}

function printFailure(r: ProgramResult, native: RunResult, vgpu: RunResult | null, proxy: ProxyHandle): void {
  console.log(`\n--- ${r.program} FAILED`);
  for (const why of r.reasons) console.log(`  - ${why}`);
  if (native.code !== 0 || native.timedOut) {
    console.log(`  native stderr (${native.command}):\n${indent(native.stderr.slice(-4000))}`);
  }
  if (vgpu !== null) {
    console.log(`  libvgpu stdout:\n${indent(vgpu.stdout.slice(-2000))}`);
    console.log(`  libvgpu stderr (${vgpu.command}):\n${indent(vgpu.stderr.slice(-4000))}`);
  }
  console.log(`  proxy log (last 40 lines of ${PROXY_LOG}):\n${indent(proxy.logTail(40))}\n`);
}

async function runOne(p: GpuProgram, proxy: ProxyHandle, realLibcuda: string): Promise<[ProgramResult, RunResult, RunResult | null]> {
  const bin = join(BUILD_DIR, p.name);
  const outDir = join(BUILD_DIR, 'out', p.name);
  const nativeDir = freshDir(join(outDir, 'native'));
  const vgpuDir = freshDir(join(outDir, 'libvgpu'));
  const reasons: string[] = [];

  const native = await runCommand(bin, [nativeDir, BUILD_DIR], { env: realDriverEnv(realLibcuda), timeoutMs: TIMEOUT_MS });
  if (native.code !== 0 || native.timedOut) reasons.push(`native run: ${describeExit(native, TIMEOUT_MS)} (the program or the GPU machine is broken, not libvgpu)`);
  const nativeLib = checkLoadedLibcuda(native.stderr, realLibcuda);
  if (nativeLib !== null) reasons.push(`native run ${nativeLib}`);

  let vgpu: RunResult | null = null;
  let outputsIdentical: boolean | null = null;
  let stdoutIdentical: boolean | null = null;
  if (!proxy.alive()) {
    reasons.push(`vgpu-proxy was not running (${proxy.exitStatus()}) before the libvgpu run`);
  } else {
    vgpu = await runCommand(bin, [vgpuDir, BUILD_DIR], { env: withUnsupportedSummary(proxy.env), timeoutMs: TIMEOUT_MS });
    const exited = vgpu.code === 0 && !vgpu.timedOut;
    if (!exited) reasons.push(`libvgpu run: ${describeExit(vgpu, TIMEOUT_MS)}`);
    reasons.push(...unsupportedProblems(vgpu.stderr, exited));
    const vgpuLib = checkLoadedLibcuda(vgpu.stderr, join(DEFAULT_GUEST_LIB_DIR, 'libcuda.so.1'));
    if (vgpuLib !== null) reasons.push(`libvgpu run ${vgpuLib}`);
    if (!proxy.alive()) reasons.push(`vgpu-proxy exited during the run (${proxy.exitStatus()})`);
    const files = compareDirs(nativeDir, vgpuDir);
    outputsIdentical = files.identical && files.files > 0;
    if (files.files === 0) reasons.push('the native run wrote no output files');
    reasons.push(...files.differences);
    const out = compareStdout(native.stdout, vgpu.stdout);
    stdoutIdentical = out === null;
    if (out !== null) reasons.push(out);
  }
  const result: ProgramResult = {
    program: p.name,
    native: summary(native),
    libvgpu: vgpu !== null ? summary(vgpu) : { status: 'not run', ms: 0 },
    outputsIdentical,
    stdoutIdentical,
    unsupported: vgpu !== null ? unsupportedCell(vgpu.stderr) : '-',
    pass: reasons.length === 0,
    reasons,
  };
  return [result, native, vgpu];
}

function table(results: ProgramResult[]): string {
  const secs = (ms: number): string => (ms <= 0 ? '-' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`);
  const same = (r: ProgramResult): string => {
    if (r.outputsIdentical === null) return '-';
    if (r.outputsIdentical && r.stdoutIdentical) return 'yes';
    return r.outputsIdentical ? 'no (stdout)' : 'no';
  };
  return markdownTable(
    ['program', 'native', 'libvgpu', 'outputs identical', 'unsupported calls', 'time native', 'time libvgpu', 'result'],
    results.map((r) => [r.program, r.native.status, r.libvgpu.status, same(r), r.unsupported, secs(r.native.ms), secs(r.libvgpu.ms), r.pass ? 'PASS' : 'FAIL']),
  );
}

/** How long one Python check may run: VGPU_SCRIPT_TIMEOUT_S (default 300 s), so that a hang costs less device time. */
function scriptTimeoutMs(): number {
  const s = Number(process.env.VGPU_SCRIPT_TIMEOUT_S ?? '300');
  if (!Number.isFinite(s) || s <= 0) throw new Error(`VGPU_SCRIPT_TIMEOUT_S=${process.env.VGPU_SCRIPT_TIMEOUT_S} is not a positive number of seconds`);
  return s * 1000;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { 'cuda-include': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    console.log('usage: run-gpu-tests [--cuda-include DIR] [PROGRAM...]\nprograms: ' + PROGRAMS.map((p) => p.name).join(', '));
    return 0;
  }
  const unknown = positionals.filter((n) => !PROGRAMS.some((p) => p.name === n));
  if (unknown.length > 0) throw new Error(`unknown program(s) ${unknown.join(', ')}; known: ${PROGRAMS.map((p) => p.name).join(', ')}`);
  const programs = positionals.length > 0 ? PROGRAMS.filter((p) => positionals.includes(p.name)) : PROGRAMS;
  const realLibcuda = process.env.VGPU_REAL_LIBCUDA || '/usr/local/nvidia/lib64/libcuda.so.1';
  // The driver's JIT cache would let the second run skip compilation (and its info log): both
  // the native programs and the proxy compile afresh.
  process.env.CUDA_CACHE_DISABLE = '1';

  const host = hostInfo();
  console.log(describeHost(host));
  const tc = findToolchain({ includeDir: values['cuda-include'], realLibcudaDir: dirname(realLibcuda) });
  console.log(`toolchain: ${describeToolchain(tc)}`);
  requireGuestLib(); // before building: nothing to compare against without libvgpu
  mkdirSync(BUILD_DIR, { recursive: true });
  await build(tc, programs);

  rmSync(PROXY_LOG, { force: true });
  let proxy = await startProxy({ libcuda: realLibcuda, logFile: PROXY_LOG });
  console.log(`vgpu-proxy ${proxy.pid} ready at ${proxy.socket} (log ${PROXY_LOG})`);
  const results: ProgramResult[] = [];
  let checks: CheckResult[] = [];
  let pytorch: PytorchChecksReport | null = null;
  try {
    for (const p of programs) {
      if (!proxy.alive()) {
        console.log(`vgpu-proxy had ended (${proxy.exitStatus()}); starting a new one for ${p.name}`);
        await proxy.stop();
        proxy = await startProxy({ libcuda: realLibcuda, logFile: PROXY_LOG });
      }
      const [r, native, vgpu] = await runOne(p, proxy, realLibcuda);
      results.push(r);
      console.log(`run    ${p.name}: native ${r.native.status}, libvgpu ${r.libvgpu.status} -> ${r.pass ? 'PASS' : 'FAIL'}`);
      if (!r.pass) printFailure(r, native, vgpu, proxy);
    }
    if (positionals.length === 0) {
      checks = await runIsolationChecks(proxy, realLibcuda, BUILD_DIR);
      for (const c of checks) {
        console.log(`check  ${c.check} -> ${c.pass ? 'PASS' : 'FAIL'}`);
        if (!c.pass) console.log(`${c.detail}\n  proxy log:\n${proxy.logTail(30)}`);
      }
      // Unmodified PyTorch (and CuPy, Triton) through libvgpu; the Python runs keep their own environment.
      if (process.env.VGPU_SKIP_PYTORCH !== '1') {
        delete process.env.CUDA_CACHE_DISABLE;
        if (!proxy.alive()) proxy = await startProxy({ libcuda: realLibcuda, logFile: PROXY_LOG });
        pytorch = await runPytorchChecks(proxy, { realLibcuda, timeoutMs: scriptTimeoutMs() });
      }
    }
  } finally {
    await proxy.stop();
  }

  const passed = results.filter((r) => r.pass).length + checks.filter((c) => c.pass).length + (pytorch?.passed ?? 0);
  const failed = results.length + checks.length + (pytorch ? pytorch.passed + pytorch.failed : 0) - passed;
  const checkRows = checks.map((c) => `| ${c.check} | ${c.pass ? 'PASS' : 'FAIL'} | ${(c.ms / 1000).toFixed(2)} s | ${c.detail.split('\n').filter((l) => /^(ok|PASS|FAIL)/.test(l)).join('<br>')} |`);
  const text = table(results) + (checks.length ? `\n\n| check (libvgpu only) | result | time | detail |\n|---|---|---|---|\n${checkRows.join('\n')}` : '') +
    (pytorch ? `\n\n${pytorchChecksTable(pytorch)}` : '');
  console.log(`\n${text}\n\n${passed} passed, ${failed} failed`);
  const md = `# GPU tests: native driver vs libvgpu\n\n${describeHost(host)}\n\n${text}\n\n${passed} passed, ${failed} failed\n`;
  const json = { date: new Date().toISOString(), host, realLibcuda, toolchain: tc, results, checks, pytorch, passed, failed };
  const mdPath = writeResult('gpu-tests.md', md);
  writeResult('gpu-tests.json', JSON.stringify(json, null, 2));
  if (failed > 0) writeResult('gpu-tests-proxy-log-tail.txt', proxy.logTail(400));
  console.log(`wrote ${mdPath}, gpu-tests.json${failed > 0 ? ' and gpu-tests-proxy-log-tail.txt' : ''} beside it`);
  return failed === 0 ? 0 : 1;
}

runMain('run-gpu-tests', main);
