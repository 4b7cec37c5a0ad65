// vgpu-proxy's main thread: the listening socket, an acceptor thread, and a
// worker thread per guest process.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import * as C from './native/libc.js';
import { listenUnix } from './channel/unix-socket.js';
import type { ProxyConfig } from './config.js';
import type { GuestEnded, GuestWorkerData } from './guest/worker.js';

const SHUT_RDWR = 2;
const workerUrl = (name: string): URL => new URL(name, import.meta.url);

export class ProxyServer {
  readonly #guests = new Map<number, Worker>();
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
    const data: GuestWorkerData = { fd, guestId, config: this.config, stop: this.#stop };
    const w = new Worker(workerUrl('./guest/worker.js'), { workerData: data });
    this.#guests.set(guestId, w);
    w.on('message', (m: GuestEnded) => this.log.debug({ guest: m.guestId, reason: m.reason, served: m.served }, 'guest worker finished'));
    w.on('error', (err) => {
      // A bug in the worker: only this guest is affected; its descriptors close with the thread's process state.
      this.log.error({ guest: guestId, err }, 'guest worker crashed: that guest is disconnected');
      C.close(fd);
    });
    w.on('exit', () => this.#guests.delete(guestId));
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
    const pending = [...this.#guests.values()].map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 5000))]);
    for (const w of this.#guests.values()) await w.terminate();
  }
}
