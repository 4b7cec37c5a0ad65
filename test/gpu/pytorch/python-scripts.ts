// Run the Python scripts of bench/models/ natively or through libvgpu, and
// read the one JSON line each prints.
//
// A "side" is where a script runs: natively (the real libcuda.so.1, as the
// process finds it) or through libvgpu (the proxy's environment). Each side
// names the driver library the script must report having loaded ("libcuda:
// <path>" on stderr, as the C test programs print), so that a run which picked
// up the wrong library fails instead of comparing the driver with itself.
import { join } from 'node:path';
import { checkLoadedLibcuda } from '../../../devkit/loaded-libcuda.js';
import { DEFAULT_GUEST_LIB_DIR, type ProxyHandle } from '../../../devkit/proxy-process.js';
import { repoPath } from '../../../devkit/repo-root.js';
import { unsupportedProblems, withUnsupportedSummary } from '../../../devkit/unsupported-summary.js';
import { describeExit, runCommand, type RunResult } from '../../../devkit/run-command.js';

export const MODELS_DIR = repoPath('bench', 'models');
export const DEFAULT_REAL_LIBCUDA = '/usr/local/nvidia/lib64/libcuda.so.1';

/** The Python that holds PyTorch: $VGPU_PYTHON, else python3 from PATH. */
export function pythonExe(): string {
  return process.env.VGPU_PYTHON || 'python3';
}

export function realLibcudaPath(): string {
  return process.env.VGPU_REAL_LIBCUDA || DEFAULT_REAL_LIBCUDA;
}

export type SideName = 'native' | 'libvgpu';

export interface Side {
  name: SideName;
  env: NodeJS.ProcessEnv;
  /** The libcuda.so.1 the script must have loaded. */
  expectedLib: string;
  /** The proxy serving this side; null natively and in a rehearsal. */
  proxy: ProxyHandle | null;
}

/**
 * The environment of a native run: this process's, less what points a
 * program at libvgpu (VGPU_PROXY_SOCKET, the guest library folder in
 * LD_LIBRARY_PATH); LD_LIBRARY_PATH is otherwise left as it is.
 */
export function nativeEnv(guestLibDir: string = DEFAULT_GUEST_LIB_DIR, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  delete env.VGPU_PROXY_SOCKET;
  if (env.LD_LIBRARY_PATH !== undefined) {
    const kept = env.LD_LIBRARY_PATH.split(':').filter((d) => d !== '' && d !== guestLibDir);
    if (kept.length > 0) env.LD_LIBRARY_PATH = kept.join(':');
    else delete env.LD_LIBRARY_PATH;
  }
  return env;
}

/** The folder from which the proxy's environment loads libvgpu (first in its LD_LIBRARY_PATH). */
function guestLibDirOf(proxy: ProxyHandle): string {
  return proxy.env.LD_LIBRARY_PATH?.split(':')[0] || DEFAULT_GUEST_LIB_DIR;
}

/**
 * Both sides. With a proxy, "libvgpu" runs in the proxy's environment and must
 * load libvgpu. Without one (a rehearsal), "libvgpu" runs natively too: this
 * checks the harness itself on a machine where PyTorch cannot yet run through
 * libvgpu, and every report then says so. The libvgpu side logs at
 * VGPU_LOG=info, for its exit summary of unsupported calls.
 */
export function makeSides(proxy: ProxyHandle | null, realLibcuda: string = realLibcudaPath()): Record<SideName, Side> {
  const native: Side = { name: 'native', env: asInstalled(nativeEnv()), expectedLib: realLibcuda, proxy: null };
  const libvgpu: Side =
    proxy === null
      ? { name: 'libvgpu', env: asInstalled(nativeEnv()), expectedLib: realLibcuda, proxy: null }
      : { name: 'libvgpu', env: withUnsupportedSummary(asInstalled(proxy.env)), expectedLib: join(guestLibDirOf(proxy), 'libcuda.so.1'), proxy };
  return { native, libvgpu };
}

/**
 * PyTorch runs as installed, with no environment variable that changes its
 * behaviour (issue "vGPU path 2"): drop what a caller set for its own C
 * programs (run-gpu-tests.ts sets CUDA_CACHE_DISABLE=1 in its process).
 */
function asInstalled(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  delete out.CUDA_CACHE_DISABLE;
  return out;
}

/**
 * The side with more environment variables, set over its own (after
 * asInstalled: a case that names a variable gets it on both sides, e.g.
 * PYTORCH_CUDA_ALLOC_CONF).
 */
export function withEnv(side: Side, extra: Readonly<Record<string, string>> | undefined): Side {
  if (extra === undefined || Object.keys(extra).length === 0) return side;
  return { ...side, env: { ...side.env, ...extra } };
}

export interface ScriptRun {
  side: SideName;
  result: RunResult;
  /** The script's JSON line, or null when it printed none. */
  json: Record<string, unknown> | null;
  /** "ok", or how the run went wrong (exit status, libcuda, no JSON). */
  status: string;
  /** Every reason the run is not usable; empty when it is. */
  problems: string[];
}

/** The last line of stdout that starts with '{', parsed; null when none parses. */
export function lastJsonLine(stdout: string): Record<string, unknown> | null {
  const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v: unknown = JSON.parse(lines[i]!);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not JSON after all: try the line before
    }
  }
  return null;
}

export async function runScript(script: string, args: string[], side: Side, timeoutMs: number): Promise<ScriptRun> {
  const problems: string[] = [];
  if (side.proxy !== null && !side.proxy.alive()) {
    const result: RunResult = { command: `${script} ${args.join(' ')}`, code: null, signal: null, timedOut: false, stdout: '', stderr: '', ms: 0, spawnError: 'not run' };
    return { side: side.name, result, json: null, status: 'not run', problems: [`vgpu-proxy was not running (${side.proxy.exitStatus()})`] };
  }
  const result = await runCommand(pythonExe(), [join(MODELS_DIR, script), ...args], { env: side.env, timeoutMs });
  const json = lastJsonLine(result.stdout);
  const exited = result.code === 0 && !result.timedOut && result.spawnError === undefined;
  if (!exited) {
    const why = typeof json?.error === 'string' ? `: ${json.error}` : '';
    problems.push(`${side.name} run: ${result.spawnError ?? describeExit(result, timeoutMs)}${why}`);
  }
  if (json === null) problems.push(`${side.name} run printed no JSON line`);
  // Only a run that reached the GPU can say which driver it loaded.
  if (json !== null && json.error === undefined) {
    const lib = checkLoadedLibcuda(result.stderr, side.expectedLib);
    if (lib !== null) problems.push(`${side.name} run ${lib}`);
  }
  // Every driver function libvgpu could not answer, from its exit summary.
  if (side.proxy !== null) problems.push(...unsupportedProblems(result.stderr, exited));
  if (side.proxy !== null && !side.proxy.alive()) problems.push(`vgpu-proxy exited during the run (${side.proxy.exitStatus()})`);
  let status = 'ok';
  if (!exited) status = result.spawnError !== undefined ? 'not started' : describeExit(result, timeoutMs);
  else if (problems.length > 0) status = 'bad run';
  return { side: side.name, result, json, status, problems };
}

/** A number from a script's JSON ("NaN" and "Infinity" strings included); null when absent. */
export function numberField(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?(nan|inf(inity)?)$/i.test(v)) {
    return /nan/i.test(v) ? NaN : v.startsWith('-') ? -Infinity : Infinity;
  }
  return null;
}

/** A nested field of a script's JSON: field(json, 'startup_s', 'first_result'). */
export function field(json: Record<string, unknown> | null, ...path: string[]): unknown {
  let v: unknown = json;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** The last n lines of a run's stderr, indented, for failure reports. */
export function stderrTail(r: RunResult, n = 25): string {
  const lines = r.stderr.trimEnd().split('\n');
  return lines.slice(-n).map((l) => `    ${l}`).join('\n') || '    (empty)';
}

/** JSON.stringify that keeps NaN and infinities visible (as strings). */
export function jsonWithNonFinite(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2);
}
