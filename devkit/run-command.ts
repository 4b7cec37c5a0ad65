// Run one program to completion: captured output, wall time, a hard timeout.
import { spawn } from 'node:child_process';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Killed with SIGKILL after this many milliseconds. */
  timeoutMs: number;
  /** Keep at most this many bytes of each stream (the tail). Default 4 MiB. */
  maxOutputBytes?: number;
}

export interface RunResult {
  command: string;
  /** Exit code, or null when ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, milliseconds. */
  ms: number;
  /** Set when the program could not be started at all. */
  spawnError?: string;
}

class TailBuffer {
  #chunks: Buffer[] = [];
  #bytes = 0;
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes > this.#max && this.#chunks.length > 1) {
      this.#bytes -= this.#chunks.shift()!.length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.#max)).toString('utf8');
  }
}

export function runCommand(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const command = [file, ...args].join(' ');
  const max = opts.maxOutputBytes ?? 4 << 20;
  const stdout = new TailBuffer(max);
  const stderr = new TailBuffer(max);
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e6;

  return new Promise((resolve) => {
    let timedOut = false;
    let spawnError: string | undefined;
    const child = spawn(file, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err) => {
      spawnError = `cannot start ${file}: ${err.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        command,
        code,
        signal,
        timedOut,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        ms: elapsed(),
      };
      if (spawnError !== undefined) result.spawnError = spawnError;
      resolve(result);
    });
  });
}

/** One line saying how a run ended: "exit 0", "exit 1", "signal SIGSEGV", "timeout after 120 s". */
export function describeExit(r: RunResult, timeoutMs?: number): string {
  if (r.spawnError !== undefined) return 'not started';
  if (r.timedOut) return timeoutMs !== undefined ? `timeout after ${Math.round(timeoutMs / 1000)} s` : 'timeout';
  if (r.signal !== null) return `signal ${r.signal}`;
  return `exit ${r.code}`;
}

/** Runs a command-line tool's main(): exits with its code, or prints the error under the tool's name and exits 2. */
export function runMain(tool: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`${tool}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(2);
    },
  );
}
