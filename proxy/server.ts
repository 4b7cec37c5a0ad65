// vgpu-proxy's main thread: the listening socket, an acceptor thread, and
// for each guest process a server of its own: a child process (the default,
// so a guest whose kernel faults cannot poison the others' CUDA state) or a
// worker thread.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import * as C from './native/libc.js';
import { listenUnix } from './channel/unix-socket.js';
import type { ProxyConfig } from './config.js';
import type { GuestEnded, GuestWorkerData } from './guest/serve-guest.js';
import { GuestDirectory } from './metrics/guest-directory.js';
import { SNAP_BYTES } from './metrics/guest-stats.js';
import { STATS_FD } from './metrics/stats-pipe.js';

const SHUT_RDWR = 2;

/** A socket guests connect to: the proxy's own, or a pod's (proxy/control). */
export interface Listener {
  readonly path: string;
  readonly fd: number;
  readonly acceptor: Worker;
  readonly overrides: Partial<ProxyConfig>;
  /** '' for the proxy's main socket */
  readonly pod: string;
  readonly guests: Set<number>;
}
const workerUrl = (name: string): URL => new URL(name, import.meta.url);

export class ProxyServer {
  readonly #guests = new Map<number, Worker | ChildProcess>();
  readonly #stop = new SharedArrayBuffer(4);
  readonly #listeners = new Set<Listener>();
  #main: Listener | null = null;
  #nextGuest = 1;
  /** Every guest server's figures, as they report them (proxy/metrics). */
  readonly directory = new GuestDirectory();

  constructor(readonly config: ProxyConfig, readonly log: Logger) {}

  get guestCount(): number {
    return this.#guests.size;
  }

  start(): void {
    this.#main = this.addListener(this.config.socket, {}, '');
    this.log.info({ socket: this.config.socket, libcuda: this.config.libcuda, device: this.config.device }, 'vgpu-proxy ready');
  }

  /**
   * Listens on one more socket (a pod's, registered through the control API);
   * guests that connect there are served with `overrides` (the pod's quota).
   */
  addListener(path: string, overrides: Partial<ProxyConfig>, pod: string): Listener {
    const scratch = C.allocScratch(4096);
    let fd: number;
    try {
      fd = listenUnix(path, scratch);
    } finally {
      C.munmap(scratch.addr, scratch.size);
    }
    const acceptor = new Worker(workerUrl('./acceptor.js'), { workerData: { listenFd: fd } });
    const listener: Listener = { path, fd, acceptor, overrides, pod, guests: new Set() };
    acceptor.on('message', (m: { fd: number }) => this.#startGuest(m.fd, listener));
    acceptor.on('error', (err) => this.log.error({ err, socket: path }, 'acceptor thread failed: no new guests can connect there'));
    this.#listeners.add(listener);
    return listener;
  }

  /** Stops listening on a socket added by addListener and disconnects the guests that came through it. */
  async closeListener(listener: Listener): Promise<void> {
    if (!this.#listeners.delete(listener)) return;
    C.shutdown(listener.fd, SHUT_RDWR);
    C.close(listener.fd);
    await listener.acceptor.terminate();
    try {
      fs.unlinkSync(listener.path);
    } catch {
      /* already gone */
    }
    for (const id of listener.guests) {
      const g = this.#guests.get(id);
      if (!g) continue;
      this.directory.stopping(id);
      if (g instanceof Worker) await g.terminate();
      else g.kill('SIGTERM');
    }
  }

  #startGuest(fd: number, listener: Listener): void {
    const guestId = this.#nextGuest++;
    listener.guests.add(guestId);
    const config = { ...this.config, ...listener.overrides };
    this.directory.started(guestId, listener.pod);
    if (config.guestIsolation === 'thread') this.#startThread(fd, guestId, config, listener.pod);
    else this.#startProcess(fd, guestId, config, listener.pod);
    this.#guests.get(guestId)?.once('exit', () => listener.guests.delete(guestId));
  }

  #startThread(fd: number, guestId: number, config: ProxyConfig, pod: string): void {
    const data: GuestWorkerData = { fd, guestId, config, pod, stop: this.#stop };
    const w = new Worker(workerUrl('./guest/guest-thread.js'), { workerData: data });
    this.#guests.set(guestId, w);
    w.on('message', (m: GuestEnded | { stats: Float64Array }) => {
      if ('stats' in m) this.directory.update(guestId, m.stats);
      else this.log.debug({ guest: m.guestId, reason: m.reason, served: m.served }, 'guest worker finished');
    });
    w.on('error', (err) => {
      // A bug in the worker: only this guest is affected.
      this.log.error({ guest: guestId, err }, 'guest worker crashed: that guest is disconnected');
      C.close(fd);
    });
    w.on('exit', () => {
      this.#guests.delete(guestId);
      this.directory.ended(guestId);
    });
  }

  #startProcess(fd: number, guestId: number, config: ProxyConfig, pod: string): void {
    const settings = JSON.stringify({ guestId, config, pod });
    let child: ChildProcess;
    try {
      // The guest's socket becomes the child's descriptor 3, the pipe of its figures descriptor 4;
      // the child's logs go where ours go.
      // VGPU_GUEST_NODE_ARGS: extra Node.js flags for guest servers (e.g. --cpu-prof to profile one).
      const nodeArgs = (process.env.VGPU_GUEST_NODE_ARGS ?? '').split(' ').filter(Boolean);
      child = spawn(process.execPath, [...nodeArgs, fileURLToPath(workerUrl('./guest/guest-process.js'))], {
        stdio: ['ignore', 'inherit', 'inherit', fd, 'pipe'],
        env: { ...process.env, VGPU_GUEST_SETTINGS: settings, VGPU_PROXY_PID: String(process.pid) },
      });
    } finally {
      C.close(fd);
    }
    this.#guests.set(guestId, child);
    this.#readStats(child, guestId);
    child.on('error', (err) => {
      this.log.error({ guest: guestId, err: err.message }, 'cannot start the guest server process');
      this.directory.ended(guestId);
    });
    child.on('exit', (code, signal) => {
      this.#guests.delete(guestId);
      if (signal || (code !== 0 && code !== 3)) this.log.error({ guest: guestId, code, signal }, 'guest server process died: that guest is disconnected');
    });
    // 'close' comes after the figures' pipe is drained: its last snapshot says how the guest ended.
    child.on('close', () => this.directory.ended(guestId));
  }

  /** Cuts the child's figures pipe into snapshots (SNAP_BYTES each) for the directory. */
  #readStats(child: ChildProcess, guestId: number): void {
    const pipe = child.stdio[STATS_FD];
    if (!pipe) return;
    let held: Buffer = Buffer.alloc(0);
    pipe.on('data', (chunk: Buffer) => {
      held = held.length ? Buffer.concat([held, chunk]) : chunk;
      let at = 0;
      for (; held.length - at >= SNAP_BYTES; at += SNAP_BYTES) {
        // Copied out: a Float64Array needs its own aligned buffer.
        const snap = new Float64Array(SNAP_BYTES / 8);
        new Uint8Array(snap.buffer).set(held.subarray(at, at + SNAP_BYTES));
        if (!this.directory.update(guestId, snap)) this.log.debug({ guest: guestId }, 'guest server sent figures that are not a snapshot: ignored');
      }
      held = held.subarray(at);
    });
    pipe.on('error', () => {
      /* the child is gone; 'close' accounts for it */
    });
  }

  /** Stops accepting, asks every guest worker to finish, and waits for them. */
  async stop(): Promise<void> {
    Atomics.store(new Int32Array(this.#stop), 0, 1);
    for (const l of [...this.#listeners]) {
      this.#listeners.delete(l);
      C.shutdown(l.fd, SHUT_RDWR);
      C.close(l.fd);
      await l.acceptor.terminate();
      if (l !== this.#main) fs.rmSync(l.path, { force: true });
    }
    const pending = [...this.#guests.values()].map((g) => new Promise<void>((resolve) => g.once('exit', () => resolve())));
    // Guest processes end at SIGTERM (the driver frees what they held); guest threads see the stop flag.
    for (const id of this.#guests.keys()) this.directory.stopping(id);
    for (const g of this.#guests.values()) if (!(g instanceof Worker)) g.kill('SIGTERM');
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 5000))]);
    for (const g of this.#guests.values()) {
      if (g instanceof Worker) await g.terminate();
      else g.kill('SIGKILL');
    }
  }
}
