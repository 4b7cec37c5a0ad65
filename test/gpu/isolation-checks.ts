// Two guests on one GPU, through the raw channel (the C test guest
// build/vgpu-tests/ring_client): one guest names the other's context,
// stream, device memory, physical allocation and mapped range, and is refused
// each time; the owner's memory is untouched.  A guest's memory quota: the
// device reports it, and allocations stop at it, through cuMemAlloc and the
// virtual-memory API alike; for PyTorch with expandable segments too (its
// allocator then maps memory with cuMemCreate/cuMemMap, not cuMemAlloc:
// bench/models/quota_check.py; skipped with VGPU_SKIP_PYTORCH=1).  And a
// guest's death: from its SIGKILL to its device memory being free again, as
// another guest sees it through cuMemGetInfo (goal: 1 s at most).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoPath } from '../../devkit/repo-root.js';
import { startProxy, type ProxyHandle } from '../../devkit/proxy-process.js';
import { jsonWithNonFinite, makeSides, runScript, stderrTail, withEnv } from './pytorch/python-scripts.js';

const CLIENT = repoPath('build', 'vgpu-tests', 'ring_client');
const QUOTA = 2 * 2 ** 30;
const TORCH_QUOTA = 4 * 2 ** 30;
const TORCH_QUOTA_TIMEOUT_MS = Number(process.env.VGPU_SCRIPT_TIMEOUT_S ?? '300') * 1000;

export interface CheckResult {
  check: string;
  pass: boolean;
  detail: string;
  ms: number;
}

function run(proxy: ProxyHandle, args: string[], stdinAfter?: (out: string) => boolean) {
  const t0 = performance.now();
  const child = spawn(CLIENT, args, { env: { ...process.env, VGPU_PROXY_SOCKET: proxy.socket }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!sent && stdinAfter?.(out)) {
      sent = true;
      child.stdin.write('go\n');
    }
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string; ms: number }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: performance.now() - t0 });
    });
  });
  return { child, done, output: () => out };
}

async function waitFor(output: () => string, re: RegExp, ms: number): Promise<RegExpExecArray | null> {
  const end = performance.now() + ms;
  for (;;) {
    const m = re.exec(output());
    if (m || performance.now() > end) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function isolation(proxy: ProxyHandle): Promise<CheckResult> {
  const t0 = performance.now();
  const owner = run(proxy, ['gpu-owner']);
  const ids = await waitFor(owner.output, /OWNER ctx=(\d+) stream=(\d+) dptr=(\d+) vmm=(\d+) va=(\d+)/, 30_000);
  if (!ids) {
    owner.child.kill('SIGKILL');
    return { check: 'two guests: isolation', pass: false, detail: `owner did not start: ${owner.output()}`, ms: performance.now() - t0 };
  }
  const intruder = await run(proxy, ['gpu-intruder', ...ids.slice(1, 6)]).done;
  owner.child.stdin.write('go\n');
  const o = await owner.done;
  const pass = intruder.code === 0 && o.code === 0 && /PASS gpu-intruder/.test(intruder.out) && /PASS gpu-owner/.test(o.out);
  return { check: 'two guests: isolation', pass, detail: `${intruder.out.trim()}\n${o.out.trim()}`, ms: performance.now() - t0 };
}

async function quota(realLibcuda: string, logDir: string): Promise<CheckResult> {
  const t0 = performance.now();
  const proxy = await startProxy({ libcuda: realLibcuda, logFile: join(logDir, 'proxy-quota.log'), extraArgs: ['--guest-mem-quota', String(QUOTA)] });
  try {
    const r = await run(proxy, ['gpu-quota', String(QUOTA)]).done;
    return { check: 'memory quota (2 GiB)', pass: r.code === 0 && /PASS gpu-quota/.test(r.out), detail: r.out.trim(), ms: performance.now() - t0 };
  } finally {
    await proxy.stop();
  }
}

async function vmmQuota(realLibcuda: string, logDir: string): Promise<CheckResult> {
  const t0 = performance.now();
  const check = `memory quota, virtual-memory API (${QUOTA / 2 ** 30} GiB)`;
  const proxy = await startProxy({ libcuda: realLibcuda, logFile: join(logDir, 'proxy-vmm-quota.log'), extraArgs: ['--guest-mem-quota', String(QUOTA)] });
  try {
    const r = await run(proxy, ['gpu-vmm-quota', String(QUOTA)]).done;
    return { check, pass: r.code === 0 && /PASS gpu-vmm-quota/.test(r.out), detail: r.out.trim(), ms: performance.now() - t0 };
  } finally {
    await proxy.stop();
  }
}

/** Held by the guest that is killed: [kind, bytes]; both ways of allocating, 1 and 16 GiB. */
export const DEATH_CASES: readonly [string, number][] = [
  ['alloc', 2 ** 30],
  ['vmm', 2 ** 30],
  ['alloc', 16 * 2 ** 30],
  ['vmm', 16 * 2 ** 30],
];
const DEATH_GOAL_MS = 1000;

/** One guest holds memory and is SIGKILLed; another sees it free again. Milliseconds, or why not. */
async function deathTime(proxy: ProxyHandle, kind: string, bytes: number): Promise<{ ms: number | null; out: string }> {
  const holder = run(proxy, ['gpu-hold', kind, String(bytes)]);
  if (!(await waitFor(holder.output, /^HELD /m, 60_000))) {
    holder.child.kill('SIGKILL');
    return { ms: null, out: `holder: ${holder.output().trim()}` };
  }
  const watcher = run(proxy, ['gpu-watch-free', String(bytes), String(10 * DEATH_GOAL_MS)]);
  if (!(await waitFor(watcher.output, /^READY /m, 30_000))) {
    holder.child.kill('SIGKILL');
    watcher.child.kill('SIGKILL');
    return { ms: null, out: `watcher: ${watcher.output().trim()}` };
  }
  // The watcher's clock starts at its go-ahead, sent as the holder is killed.
  holder.child.kill('SIGKILL');
  watcher.child.stdin.write('go\n');
  const w = await watcher.done;
  await holder.done;
  const m = /PASS gpu-watch-free: ([\d.]+) ms/.exec(w.out);
  return { ms: m ? Number(m[1]) : null, out: w.out.trim() };
}

async function guestDeath(proxy: ProxyHandle): Promise<CheckResult> {
  const t0 = performance.now();
  const lines: string[] = [];
  let pass = true;
  for (const [kind, bytes] of DEATH_CASES) {
    const r = await deathTime(proxy, kind, bytes);
    const what = `${kind === 'vmm' ? 'cuMemCreate+cuMemMap' : 'cuMemAlloc'} ${bytes / 2 ** 30} GiB`;
    const ok = r.ms !== null && r.ms <= DEATH_GOAL_MS;
    pass &&= ok;
    lines.push(r.ms !== null ? `${ok ? 'ok  ' : 'FAIL'} ${what}: free again ${r.ms.toFixed(1)} ms after SIGKILL` : `FAIL ${what}: ${r.out}`);
  }
  return { check: `guest death: device memory free again (goal ${DEATH_GOAL_MS} ms)`, pass, detail: lines.join('\n'), ms: performance.now() - t0 };
}

function gibOf(v: unknown): string {
  return typeof v === 'number' ? `${(v / 2 ** 30).toFixed(2)} GiB` : String(v);
}

/**
 * PyTorch with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True through a proxy
 * with a 4 GiB quota: bench/models/quota_check.py allocates 256 MiB tensors
 * until PyTorch's out-of-memory error, which must come at most at the quota and
 * not much before it; after freeing, the memory must be usable again.
 */
async function torchQuota(realLibcuda: string, logDir: string): Promise<CheckResult> {
  const check = `PyTorch expandable_segments: quota (${TORCH_QUOTA / 2 ** 30} GiB)`;
  const t0 = performance.now();
  let proxy: ProxyHandle;
  try {
    proxy = await startProxy({ libcuda: realLibcuda, logFile: join(logDir, 'proxy-torch-quota.log'), extraArgs: ['--guest-mem-quota', String(TORCH_QUOTA)] });
  } catch (err) {
    return { check, pass: false, detail: `FAIL vgpu-proxy with --guest-mem-quota did not start: ${(err as Error).message}`, ms: performance.now() - t0 };
  }
  try {
    const side = withEnv(makeSides(proxy, realLibcuda).libvgpu, { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' });
    const r = await runScript('quota_check.py', ['--quota', String(TORCH_QUOTA)], side, TORCH_QUOTA_TIMEOUT_MS);
    const j = r.json;
    const pass = r.status === 'ok' && r.problems.length === 0 && j !== null && j.pass === true;
    const lines: string[] = [];
    if (pass) {
      lines.push(
        `PASS quota_check: ${gibOf(j!.allocated)} allocated in ${String(j!.tensors)} tensors before PyTorch's out-of-memory error ` +
          `(quota ${gibOf(TORCH_QUOTA)}); freed, then ${gibOf(j!.again_bytes)} allocated again`,
      );
    } else {
      const why: string[] = [...r.problems];
      if (j !== null) {
        if (typeof j.error === 'string' && !why.some((w) => w.includes(j.error as string))) why.push(j.error);
        if (Array.isArray(j.reasons)) why.push(...j.reasons.map(String));
      }
      if (why.length === 0) why.push(`the script's verdict was pass ${JSON.stringify(j?.pass)}`);
      lines.push(`FAIL quota_check: ${why.join('; ')}`);
    }
    if (j !== null) lines.push(`  result: ${jsonWithNonFinite(j).replace(/\n\s*/g, ' ')}`);
    if (!pass) {
      lines.push(`  stderr (last lines):\n${stderrTail(r.result, 20)}`);
      lines.push(`  quota proxy log (last lines):\n${proxy.logTail(20)}`);
    }
    return { check, pass, detail: lines.join('\n'), ms: performance.now() - t0 };
  } finally {
    await proxy.stop();
  }
}

export async function runIsolationChecks(proxy: ProxyHandle, realLibcuda: string, logDir: string): Promise<CheckResult[]> {
  const results = [await isolation(proxy), await quota(realLibcuda, logDir), await vmmQuota(realLibcuda, logDir), await guestDeath(proxy)];
  if (process.env.VGPU_SKIP_PYTORCH !== '1') results.push(await torchQuota(realLibcuda, logDir));
  return results;
}
