// A pod VM process's standard streams on the host side: what the agent
// forwards (MSG_OUTPUT) goes into the FIFOs (or files) containerd made, so
// `crictl logs` and `exec --sync` see it; containerd's stdin FIFO is read
// and sent to the agent (MSG_STDIN).  FIFOs are opened read-write, so they
// never block or fail for want of a reader.
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Stdio } from '../backend.js';

const { O_RDWR, O_WRONLY, O_APPEND, O_CREAT } = fs.constants;

function openOutput(p: string): net.Socket | fs.WriteStream | null {
  if (!p) return null;
  const target = p.replace(/^file:\/\//, '');
  let fifo = false;
  try {
    fifo = fs.statSync(target).isFIFO();
  } catch {
    /* a file to be created */
  }
  if (fifo) {
    const s = new net.Socket({ fd: fs.openSync(target, O_RDWR), readable: false, writable: true });
    s.on('error', () => undefined);
    return s;
  }
  const w = fs.createWriteStream(target, { fd: fs.openSync(target, O_WRONLY | O_APPEND | O_CREAT, 0o640) });
  w.on('error', () => undefined);
  return w;
}

export class XenIo {
  readonly #out: net.Socket | fs.WriteStream | null;
  readonly #err: net.Socket | fs.WriteStream | null;
  #in: net.Socket | null = null;
  #closed = false;

  constructor(readonly stdio: Stdio) {
    this.#out = openOutput(stdio.stdout);
    this.#err = stdio.stderr && stdio.stderr !== stdio.stdout ? openOutput(stdio.stderr) : this.#out;
  }

  /** Starts copying containerd's stdin to send(data); send(null) at its end. */
  pipeStdin(send: (data: Buffer | null) => void): void {
    if (!this.stdio.stdin) return;
    this.#in = new net.Socket({ fd: fs.openSync(this.stdio.stdin, O_RDWR), readable: true, writable: false });
    this.#in.on('data', (d: Buffer) => {
      for (let at = 0; at < d.length; at += 65536) send(d.subarray(at, at + 65536));
    });
    this.#in.on('end', () => send(null));
    this.#in.on('error', () => undefined);
  }

  write(fd: 1 | 2, data: Buffer): void {
    if (this.#closed) return;
    (fd === 2 ? this.#err : this.#out)?.write(data);
  }

  /** Resolves once everything written so far has reached the FIFOs. */
  async drain(): Promise<void> {
    const flush = (s: net.Socket | fs.WriteStream | null): Promise<void> =>
      new Promise((resolve) => (s && s.writableLength > 0 ? s.once('drain', () => resolve()) : resolve()));
    await Promise.all([flush(this.#out), flush(this.#err)]);
  }

  closeStdin(): void {
    this.#in?.destroy();
    this.#in = null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeStdin();
    this.#out?.end();
    if (this.#err !== this.#out) this.#err?.end();
  }
}
