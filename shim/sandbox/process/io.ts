// A process's standard streams.  Without a terminal, the container gets the
// FIFOs containerd made for stdout and stderr directly (opened read-write, so
// they never fail for want of a reader while containerd restarts), and a pipe
// for stdin that the shim fills from containerd's stdin FIFO, so that CloseIO
// can end it.  With a terminal, runc hands the pty master over a console
// socket and the shim copies between it and the FIFOs.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tty from 'node:tty';
import type { Stdio } from '../backend.js';
import { close, dup, listenUnixNonblocking, pipe, setWindowSize, tryAccept, tryRecvFd } from '../../native/linux.js';

const { O_RDWR, O_WRONLY, O_APPEND, O_CREAT } = fs.constants;

function openOutput(p: string): number {
  if (!p) return fs.openSync('/dev/null', O_WRONLY);
  const target = p.replace(/^file:\/\//, '');
  try {
    if (fs.statSync(target).isFIFO()) return fs.openSync(target, O_RDWR);
  } catch {
    /* a file to be created */
  }
  return fs.openSync(target, O_WRONLY | O_APPEND | O_CREAT, 0o640);
}

/** Streams for one process; the descriptors for runc come from runcStdio(). */
export class ProcessIo {
  #stdinPipe: [number, number] | null = null;
  #stdinSource: net.Socket | null = null;
  #stdinSink: net.Socket | null = null;
  #childFds: number[] = [];
  #consoleFd = -1;
  #consolePath = '';
  #master = -1;
  #masterIn: tty.ReadStream | null = null;
  #masterOut: tty.WriteStream | null = null;
  #outputDone: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(readonly stdio: Stdio) {}

  /** Prepares the streams; for a terminal, listens on consolePath for runc's pty master. */
  open(consolePath: string): void {
    if (this.stdio.terminal) {
      this.#consolePath = consolePath;
      fs.rmSync(consolePath, { force: true });
      this.#consoleFd = listenUnixNonblocking(consolePath);
      return;
    }
    const out = openOutput(this.stdio.stdout);
    const err = this.stdio.stderr && this.stdio.stderr !== this.stdio.stdout ? openOutput(this.stdio.stderr) : dup(out);
    let input: number;
    if (this.stdio.stdin) {
      this.#stdinPipe = pipe();
      input = this.#stdinPipe[0];
      const src = fs.openSync(this.stdio.stdin, O_RDWR);
      this.#stdinSource = new net.Socket({ fd: src, readable: true, writable: false });
      this.#stdinSink = new net.Socket({ fd: this.#stdinPipe[1], readable: false, writable: true });
      this.#stdinSink.on('error', () => undefined);
      this.#stdinSource.on('error', () => undefined);
      this.#stdinSource.pipe(this.#stdinSink);
    } else {
      input = fs.openSync('/dev/null', fs.constants.O_RDONLY);
    }
    this.#childFds = [input, out, err];
  }

  /** The descriptors runc gets as its stdio (the container inherits them when there is no terminal). */
  runcStdio(): [number | 'ignore', number | 'ignore', number | 'ignore'] {
    if (this.stdio.terminal) return ['ignore', 'ignore', 'ignore'];
    return [this.#childFds[0]!, this.#childFds[1]!, this.#childFds[2]!];
  }

  get consoleSocket(): string {
    return this.#consolePath;
  }

  /** After runc has created the process: drop the shim's copies, or take the pty master. */
  async afterCreate(runcDone: Promise<unknown>): Promise<void> {
    for (const fd of this.#childFds) fs.closeSync(fd);
    this.#childFds = [];
    if (this.#stdinPipe) {
      // the read end now belongs to the container
      this.#stdinPipe = null;
    }
    if (this.stdio.terminal) await this.#takeConsole(runcDone);
  }

  async #takeConsole(runcDone: Promise<unknown>): Promise<void> {
    let finished = false;
    void runcDone.finally(() => (finished = true)).catch(() => undefined);
    let conn = -1;
    try {
      for (let i = 0; conn < 0 || this.#master < 0; i++) {
        if (conn < 0) conn = tryAccept(this.#consoleFd);
        if (conn >= 0) this.#master = tryRecvFd(conn);
        if (this.#master >= 0) break;
        if (finished && i > 0 && conn < 0) throw new Error('runc ended without sending the terminal');
        if (i > 3000) throw new Error('runc sent no terminal within 30 s');
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      if (conn >= 0) close(conn);
      close(this.#consoleFd);
      this.#consoleFd = -1;
      fs.rmSync(this.#consolePath, { force: true });
    }
    // Master → stdout FIFO; stdin FIFO → master.
    const readFd = dup(this.#master);
    this.#masterIn = new tty.ReadStream(readFd);
    this.#masterIn.on('error', () => undefined); // EIO once the process side closes
    if (this.stdio.stdout) {
      const out = new net.Socket({ fd: openOutput(this.stdio.stdout), readable: false, writable: true });
      out.on('error', () => undefined);
      this.#outputDone = new Promise<void>((resolve) => {
        this.#masterIn!.on('close', () => out.end(() => resolve()));
        this.#masterIn!.on('end', () => out.end(() => resolve()));
      });
      this.#masterIn.pipe(out, { end: false });
    } else {
      this.#masterIn.resume();
    }
    if (this.stdio.stdin) {
      this.#masterOut = new tty.WriteStream(dup(this.#master));
      this.#masterOut.on('error', () => undefined);
      this.#stdinSource = new net.Socket({ fd: fs.openSync(this.stdio.stdin, O_RDWR), readable: true, writable: false });
      this.#stdinSource.on('error', () => undefined);
      this.#stdinSource.pipe(this.#masterOut);
    }
  }

  resize(cols: number, rows: number): void {
    if (this.#master < 0) throw new Error('the process has no terminal');
    setWindowSize(this.#master, cols, rows);
  }

  /** Ends the process's stdin (CloseIO): whatever was already written still arrives. */
  closeStdin(): void {
    const src = this.#stdinSource;
    if (!src) return;
    this.#stdinSource = null;
    setTimeout(() => {
      src.unpipe();
      src.destroy();
      if (this.#stdinSink) {
        this.#stdinSink.end();
        this.#stdinSink = null;
      }
      if (this.#masterOut) {
        // a terminal has no end-of-file: send the EOF character (^D)
        this.#masterOut.write(Buffer.from([4]));
      }
    }, 20);
  }

  /** Waits (bounded) for a terminal's output to be copied out once the process has ended. */
  async drain(timeoutMs = 2000): Promise<void> {
    await Promise.race([this.#outputDone, new Promise((r) => setTimeout(r, timeoutMs))]);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#childFds) fs.closeSync(fd);
    this.#childFds = [];
    this.#stdinSource?.destroy();
    this.#stdinSink?.destroy();
    this.#masterIn?.destroy();
    this.#masterOut?.destroy();
    if (this.#master >= 0) close(this.#master);
    this.#master = -1;
    if (this.#consoleFd >= 0) close(this.#consoleFd);
    if (this.#consolePath) fs.rmSync(this.#consolePath, { force: true });
  }
}
