// Runs the C test guest (vgpu/tests/ring_client.c, built on libvgpu's own
// channel code) against a proxy, for the channel tests.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../../devkit/repo-root.js';
import { startProxy, type ProxyHandle } from '../../devkit/proxy-process.js';

export const RING_CLIENT = repoPath('build', 'vgpu-tests', 'ring_client');

export interface ClientRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function requireRingClient(): void {
  if (!existsSync(RING_CLIENT)) throw new Error(`${RING_CLIENT} is missing: run \`npm run build\` first (it runs make -C vgpu tests)`);
}

/** A proxy with no GPU behind it (the diagnostic ops still work), logging into a fresh folder. */
export async function startTestProxy(extraArgs: string[] = []): Promise<ProxyHandle> {
  requireRingClient();
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-test-'));
  return startProxy({ socket: join(dir, 'proxy.sock'), libcuda: join(dir, 'no-such-libcuda.so.1'), withoutGpu: true, logFile: join(dir, 'proxy.log'), extraArgs });
}

/** Starts the client; `done` resolves when it exits. */
export function startClient(proxy: ProxyHandle, args: string[], env: NodeJS.ProcessEnv = {}) {
  const t0 = performance.now();
  const child = spawn(RING_CLIENT, args, { env: { ...process.env, VGPU_PROXY_SOCKET: proxy.socket, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ClientRun>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
  return { child, done, output: () => stdout };
}

export async function runClient(proxy: ProxyHandle, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ClientRun> {
  return startClient(proxy, args, env).done;
}

/** Resolves once the client's stdout contains text (or rejects after timeoutMs). */
export async function waitForOutput(output: () => string, text: string, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!output().includes(text)) {
    if (performance.now() > end) throw new Error(`client never printed "${text}"; got: ${output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
