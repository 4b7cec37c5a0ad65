// vgpu-proxy's main thread: the listening socket, an acceptor thread, and
// for each guest process a server of its own: a child process (the default,
// so a guest whose kernel faults cannot poison the others' CUDA state) or a
// worker thread.
import { ChildProcess, spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import * as C from './native/libc.js';
import { listenUnix } from './channel/unix-socket.js';
import type { ProxyConfig } from './config.js';
import type { GuestEnded, GuestWorkerData } from './guest/serve-guest.js';

const SHUT_RDWR = 2;
const workerUrl = (name: string): URL => new URL(name, import.meta.url);

export class ProxyServer {
  readonly #guests = new Map<number, Worker | ChildProcess>();
  readonly #stop = new SharedArrayBuffer(4);
  #listenFd = -1;
  #acceptor: Worker | null = null;
  #nextGuest = 1;

  constructor(readonly config: ProxyConfig, readonly log: Logger) {}

  get guestCount(): number {
    return this.#guests.size;
  }

  start(): void {
    const scratch = C.allocScratch(4096);
    this.#listenFd = listenUnix(this.config.socket, scratch);
    C.munmap(scratch.addr, scratch.size);
    this.#acceptor = new Worker(workerUrl('./acceptor.js'), { workerData: { listenFd: this.#listenFd } });
    this.#acceptor.on('message', (m: { fd: number }) => this.#startGuest(m.fd));
    this.#acceptor.on('error', (err) => this.log.error({ err }, 'acceptor thread failed: no new guests can connect'));
    this.log.info({ socket: this.config.socket, libcuda: this.config.libcuda, device: this.config.device }, 'vgpu-proxy ready');
  }

  #startGuest(fd: number): void {
    const guestId = this.#nextGuest++;
    if (this.config.guestIsolation === 'thread') this.#startThread(fd, guestId);
    else this.#startProcess(fd, guestId);
  }

  #startThread(fd: number, guestId: number): void {
    const data: GuestWorkerData = { fd, guestId, config: this.config, stop: this.#stop };
    const w = new Worker(workerUrl('./guest/guest-thread.js'), { workerData: data });
    this.#guests.set(guestId, w);
    w.on('message', (m: GuestEnded) => this.log.debug({ guest: m.guestId, reason: m.reason, served: m.served }, 'guest worker finished'));
    w.on('error', (err) => {
      // A bug in the worker: only this guest is affected.
      this.log.error({ guest: guestId, err }, 'guest worker crashed: that guest is disconnected');
      C.close(fd);
    });
    w.on('exit', () => this.#guests.delete(guestId));
  }

  #startProcess(fd: number, guestId: number): void {
    const settings = JSON.stringify({ guestId, config: this.config });
    let child: ChildProcess;
    try {
      // The guest's socket becomes the child's descriptor 3; the child's logs go where ours go.
      // VGPU_GUEST_NODE_ARGS: extra Node.js flags for guest servers (e.g. --cpu-prof to profile one).
      const nodeArgs = (process.env.VGPU_GUEST_NODE_ARGS ?? '').split(' ').filter(Boolean);
      child = spawn(process.execPath, [...nodeArgs, fileURLToPath(workerUrl('./guest/guest-process.js'))], {
        stdio: ['ignore', 'inherit', 'inherit', fd],
        env: { ...process.env, VGPU_GUEST_SETTINGS: settings, VGPU_PROXY_PID: String(process.pid) },
      });
    } finally {
      C.close(fd);
    }
    this.#guests.set(guestId, child);
    child.on('error', (err) => this.log.error({ guest: guestId, err: err.message }, 'cannot start the guest server process'));
    child.on('exit', (code, signal) => {
      this.#guests.delete(guestId);
      if (signal || (code !== 0 && code !== 3)) this.log.error({ guest: guestId, code, signal }, 'guest server process died: that guest is disconnected');
    });
  }

  /** Stops accepting, asks every guest worker to finish, and waits for them. */
  async stop(): Promise<void> {
    Atomics.store(new Int32Array(this.#stop), 0, 1);
    if (this.#listenFd >= 0) {
      C.shutdown(this.#listenFd, SHUT_RDWR);
      C.close(this.#listenFd);
      this.#listenFd = -1;
    }
    await this.#acceptor?.terminate();
    const pending = [...this.#guests.values()].map((g) => new Promise<void>((resolve) => g.once('exit', () => resolve())));
    // Guest processes end at SIGTERM (the driver frees what they held); guest threads see the stop flag.
    for (const g of this.#guests.values()) if (!(g instanceof Worker)) g.kill('SIGTERM');
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 5000))]);
    for (const g of this.#guests.values()) {
      if (g instanceof Worker) await g.terminate();
      else g.kill('SIGKILL');
    }
  }
}
