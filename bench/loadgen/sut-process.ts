// Run one SUT process (bench/loadgen/run_sut.py): its stderr goes to a log
// file and, for progress lines, to our stdout; the lines that open and close
// LoadGen's test mark the window in which GPU samples count.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { loadedLibcuda } from '../../devkit/loaded-libcuda.js';

export interface SutRunOptions {
  python: string;
  script: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  timeoutMs: number;
  /** Printed before every forwarded line. */
  prefix: string;
}

export interface SutRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  spawnError: string | null;
  /** The last JSON object printed on stdout (run_sut.py's result), or null. */
  result: Record<string, unknown> | null;
  /** The libcuda.so.1 the process mapped, from its "libcuda: PATH" line. */
  libcuda: string | null;
  /** ms since the epoch: LoadGen's test began / ended (from the SUT's lines). */
  testStart: number | null;
  testEnd: number | null;
  wallMs: number;
  stderrTail: string;
}

// Forwarded to the console: the SUT's progress and its errors; everything goes to the log file.
const FORWARD = /^(\[|calibration:|run_sut:|SUT failed|Traceback|\w*Error)/;

export function describeSutExit(r: SutRunResult, timeoutMs: number): string {
  if (r.spawnError) return r.spawnError;
  if (r.timedOut) return `timeout after ${Math.round(timeoutMs / 1000)} s`;
  if (r.signal) return `signal ${r.signal}`;
  return `exit ${r.code}`;
}

export function runSut(opts: SutRunOptions): Promise<SutRunResult> {
  const started = Date.now();
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  log.write(`$ ${opts.python} ${opts.script} ${opts.args.join(' ')}\n`);
  const tail: string[] = [];
  let stdout = '';
  const r: SutRunResult = {
    code: null,
    signal: null,
    timedOut: false,
    spawnError: null,
    result: null,
    libcuda: null,
    testStart: null,
    testEnd: null,
    wallMs: 0,
    stderrTail: '',
  };
  return new Promise((resolve) => {
    const child = spawn(opts.python, [opts.script, ...opts.args], {
      env: { ...opts.env, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      r.timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      log.write(chunk);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 60) tail.shift();
        if (/LoadGen (performance|accuracy) run/.test(line)) r.testStart = Date.now();
        if (/LoadGen done in/.test(line)) r.testEnd = Date.now();
        const lib = loadedLibcuda(line);
        if (lib !== undefined) r.libcuda = lib;
        if (FORWARD.test(line)) console.log(`${opts.prefix}${line}`);
      }
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      log.write(chunk);
      stdout += chunk;
      if (stdout.length > 1 << 20) stdout = stdout.slice(-(1 << 19));
    });
    child.on('error', (err) => {
      r.spawnError = `cannot start ${opts.python}: ${err.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      r.code = code;
      r.signal = signal;
      r.wallMs = Date.now() - started;
      if (partial) tail.push(partial);
      r.stderrTail = tail.join('\n');
      const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
      try {
        const last = lines.at(-1);
        r.result = last ? (JSON.parse(last) as Record<string, unknown>) : null;
      } catch {
        r.result = null;
      }
      log.end(() => resolve(r));
    });
  });
}
