// Two guests on one GPU, through the raw channel (the C test guest
// build/vgpu-tests/ring_client): one guest names the other's context,
// stream and device memory, and is refused each time; the owner's memory is
// untouched.  And a guest's memory quota: the device reports it, and
// allocations stop at it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoPath } from '../support/repo-root.js';
import { startProxy, type ProxyHandle } from '../support/proxy-process.js';

const CLIENT = repoPath('build', 'vgpu-tests', 'ring_client');
const QUOTA = 2 * 2 ** 30;

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
  const ids = await waitFor(owner.output, /OWNER ctx=(\d+) stream=(\d+) dptr=(\d+)/, 30_000);
  if (!ids) {
    owner.child.kill('SIGKILL');
    return { check: 'two guests: isolation', pass: false, detail: `owner did not start: ${owner.output()}`, ms: performance.now() - t0 };
  }
  const intruder = await run(proxy, ['gpu-intruder', ids[1]!, ids[2]!, ids[3]!]).done;
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

export async function runIsolationChecks(proxy: ProxyHandle, realLibcuda: string, logDir: string): Promise<CheckResult[]> {
  return [await isolation(proxy), await quota(realLibcuda, logDir)];
}
