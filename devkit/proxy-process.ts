// Start and stop one vgpu-proxy (dist/proxy/main.js) for tests and benches.
//
//   const proxy = await startProxy({ libcuda: '/usr/local/nvidia/lib64/libcuda.so.1', logFile });
//   spawn(program, args, { env: proxy.env });   // the program now talks to the proxy through libvgpu
//   await proxy.stop();
//
// The proxy logs JSON lines to its stdout; both its streams go to logFile.
// It is ready once it has created its unix socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoPath } from './repo-root.js';

export interface StartProxyOptions {
  /** Unix socket path; default: a fresh path in the temp folder. */
  socket?: string;
  /** The real driver library the proxy loads. */
  libcuda: string;
  /** Receives the proxy's stdout and stderr (appended). */
  logFile: string;
  /** The proxy is meant to run without a driver (CI): serves only the diagnostic ops. */
  withoutGpu?: boolean;
  /** More proxy arguments; `--log-level info` is added unless they name one. */
  extraArgs?: string[];
  /** Folder holding libvgpu as libcuda.so.1; default build/lib/guest. */
  guestLibDir?: string;
  /** How long to wait for the socket; default 20 s. */
  readyTimeoutMs?: number;
  /** The proxy's entry script; default $VGPU_PROXY_MAIN, else dist/proxy/main.js. */
  proxyMain?: string;
}

export interface ProxyHandle {
  socket: string;
  pid: number;
  /** Environment for guest programs: VGPU_PROXY_SOCKET and LD_LIBRARY_PATH set. */
  env: NodeJS.ProcessEnv;
  /** False once the proxy process has exited. */
  alive(): boolean;
  /** How it exited ("exit 1", "signal SIGSEGV"), or null while it runs. */
  exitStatus(): string | null;
  /** SIGTERM, then SIGKILL after 5 s; removes the socket file. Safe to call twice. */
  stop(): Promise<void>;
  /** The last n lines of the log file. */
  logTail(n?: number): string;
}

// Both can be pointed elsewhere through the environment (VGPU_PROXY_MAIN,
// VGPU_GUEST_LIB_DIR), e.g. to rehearse a runner against stand-ins.
export const PROXY_MAIN = process.env.VGPU_PROXY_MAIN || repoPath('dist', 'proxy', 'main.js');
export const DEFAULT_GUEST_LIB_DIR = process.env.VGPU_GUEST_LIB_DIR || repoPath('build', 'lib', 'guest');

/** Environment under which a program loads libvgpu (from libDir) and finds the proxy at socket. */
export function guestEnv(socket: string, libDir: string = DEFAULT_GUEST_LIB_DIR, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const rest = base.LD_LIBRARY_PATH;
  return {
    ...base,
    VGPU_PROXY_SOCKET: socket,
    LD_LIBRARY_PATH: rest ? `${libDir}:${rest}` : libDir,
  };
}

/** Environment of a native run: no proxy socket, and the real driver's folder first on the library path. */
export function realDriverEnv(realLibcuda: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  delete env.VGPU_PROXY_SOCKET;
  const rest = env.LD_LIBRARY_PATH;
  env.LD_LIBRARY_PATH = rest ? `${dirname(realLibcuda)}:${rest}` : dirname(realLibcuda);
  return env;
}

/** Throws unless libvgpu is built as libDir/libcuda.so.1 (what guest programs load). */
export function requireGuestLib(libDir: string = DEFAULT_GUEST_LIB_DIR): void {
  if (!existsSync(join(libDir, 'libcuda.so.1'))) {
    throw new Error(`libvgpu is not built (no ${join(libDir, 'libcuda.so.1')}): run \`npm run build\` (make -C vgpu) first`);
  }
}

export function tailLines(file: string, n: number): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return `(no log at ${file})`;
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n).join('\n');
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

function removeStale(path: string): void {
  if (existsSync(path)) unlinkSync(path);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// A proxy left running would hold the GPU after the runner is gone.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startProxy(opts: StartProxyOptions): Promise<ProxyHandle> {
  const main = opts.proxyMain ?? PROXY_MAIN;
  if (!existsSync(main)) {
    throw new Error(`vgpu-proxy is not built (no ${main}): run \`npm run build\` first`);
  }
  if (!opts.withoutGpu && !existsSync(opts.libcuda)) {
    throw new Error(`the real driver library ${opts.libcuda} does not exist: point --libcuda (or VGPU_REAL_LIBCUDA) at libcuda.so.1`);
  }
  const guestLibDir = opts.guestLibDir ?? DEFAULT_GUEST_LIB_DIR;
  const socket = opts.socket ?? join(tmpdir(), `vgpu-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
  if (Buffer.byteLength(socket) > 107) {
    throw new Error(`unix socket path ${socket} is longer than 107 bytes: pass a shorter socket path or set TMPDIR to a short folder`);
  }
  removeStale(socket);
  mkdirSync(dirname(opts.logFile), { recursive: true });

  const extra = opts.extraArgs ?? [];
  const args = [main, '--socket', socket, '--libcuda', opts.libcuda];
  if (!extra.includes('--log-level')) args.push('--log-level', 'info');
  args.push(...extra);

  // The proxy must load the real driver, never libvgpu, and must not think it is a guest.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.VGPU_PROXY_SOCKET;
  const logFd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, args, { env, stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
  running.add(child);
  let status: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      status ??= `not started: ${err.message}`;
      running.delete(child);
      resolve();
    });
    child.on('exit', (code, signal) => {
      status = signal !== null ? `signal ${signal}` : `exit ${code}`;
      running.delete(child);
      resolve();
    });
  });

  const logTail = (n = 40): string => tailLines(opts.logFile, n);
  const stop = async (): Promise<void> => {
    if (status === null) {
      child.kill('SIGTERM');
      const ended = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5000);
        void exited.then(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!ended && status === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    running.delete(child);
    if (isSocket(socket)) unlinkSync(socket);
  };

  const limit = opts.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + limit;
  while (!isSocket(socket)) {
    if (status !== null) {
      throw new Error(
        `vgpu-proxy ended before creating its socket (${status}); command: ${process.execPath} ${args.join(' ')}\n` +
          `last lines of ${opts.logFile}:\n${logTail(30)}`,
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `vgpu-proxy did not create its socket ${socket} within ${limit / 1000} s (stopped it); ` +
          `command: ${process.execPath} ${args.join(' ')}\nlast lines of ${opts.logFile}:\n${logTail(30)}`,
      );
    }
    await sleep(50);
  }

  return {
    socket,
    pid: child.pid ?? -1,
    env: guestEnv(socket, guestLibDir),
    alive: () => status === null,
    exitStatus: () => status,
    stop,
    logTail,
  };
}
