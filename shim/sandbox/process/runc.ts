// runc, as the distribution packages it, driven through its command line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Reaper } from './reaper.js';

export interface RuncIo {
  /** descriptors for the runc command's stdin, stdout, stderr (the container's, when not a terminal) */
  stdio?: [number | 'ignore', number | 'ignore', number | 'ignore'];
  input?: string;
  /** how long runc may take before it is killed and the call fails (default RUNC_TIMEOUT_MS) */
  timeoutMs?: number;
}

/** Every runc command the shim runs ends at once (create, exec are --detach): one that hangs is killed. */
export const RUNC_TIMEOUT_MS = 120_000;

export class Runc {
  constructor(readonly binary: string, readonly root: string, readonly reaper: Reaper) {}

  /** Runs `runc --root ROOT args...`; resolves with stdout, rejects with runc's own words. */
  run(args: string[], io: RuncIo = {}): Promise<string> {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const logFile = path.join(this.root, `.runc-${process.pid}-${Math.random().toString(36).slice(2)}.log`);
    const full = ['--root', this.root, '--log', logFile, '--log-format', 'json', ...args];
    return new Promise((resolve, reject) => {
      const passStdio = io.stdio !== undefined;
      const child = this.reaper.spawn(this.binary, full, {
        stdio: passStdio ? io.stdio! : [io.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      const limit = io.timeoutMs ?? RUNC_TIMEOUT_MS;
      let settled = false;
      let timedOut = false;
      const settle = (code: number | null, signal: NodeJS.Signals | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const logged = readRuncErrors(logFile);
        fs.rmSync(logFile, { force: true });
        if (code === 0) resolve(out);
        else if (timedOut) reject(new Error(`runc ${args[0]}: no answer after ${Math.round(limit / 1000)} s, killed${logged ? `; it logged: ${logged}` : ''}`));
        else reject(new Error(`runc ${args[0]}: ${signal ? `killed by ${signal}` : `exit ${code}`}: ${(logged || err).trim() || 'no message'}`));
      };
      const timer = setTimeout(() => {
        // Ended, but something it started holds its output open: its exit stands. Still running: killed.
        if (child.exitCode !== null || child.signalCode !== null) return settle(child.exitCode, child.signalCode);
        timedOut = true;
        child.kill('SIGKILL');
      }, limit);
      child.stdout?.on('data', (d) => (out += d));
      child.stderr?.on('data', (d) => (err += d));
      if (io.input !== undefined) child.stdin?.end(io.input);
      child.on('error', (e) => {
        settled = true;
        clearTimeout(timer);
        reject(new Error(`runc ${args[0]}: cannot run ${this.binary}: ${e.message}`));
      });
      child.on('close', (code, signal) => settle(code, signal));
    });
  }
}

/** The error lines of runc's JSON log, joined. */
function readRuncErrors(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const msgs: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as { level?: string; msg?: string };
      if ((o.level === 'error' || o.level === 'fatal') && o.msg) msgs.push(o.msg);
    } catch {
      msgs.push(line);
    }
  }
  return msgs.join('; ');
}
