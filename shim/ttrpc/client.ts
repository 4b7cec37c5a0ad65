// A ttrpc client for unary calls (used to publish events to containerd).
import * as net from 'node:net';
import { decode, encode } from '../../src/proto/load.js';
import { encodeFrame, FrameReader, FrameType } from './framing.js';
import { StatusError, CodeValue } from './status.js';

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class TtrpcClient {
  readonly #pending = new Map<number, Pending>();
  #sock: net.Socket | null = null;
  #connecting: Promise<net.Socket> | null = null;
  #nextStream = 1;

  constructor(readonly address: string) {}

  #connect(): Promise<net.Socket> {
    if (this.#sock && !this.#sock.destroyed) return Promise.resolve(this.#sock);
    if (this.#connecting) return this.#connecting;
    const path = this.address.replace(/^unix:\/\//, '');
    this.#connecting = new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect(path);
      const reader = new FrameReader();
      sock.once('connect', () => {
        this.#sock = sock;
        this.#connecting = null;
        resolve(sock);
      });
      sock.on('data', (chunk) => {
        let frames;
        try {
          frames = reader.push(chunk);
        } catch (err) {
          sock.destroy(err as Error);
          return;
        }
        for (const f of frames) {
          const p = this.#pending.get(f.stream);
          if (!p || f.type !== FrameType.Response) continue;
          this.#pending.delete(f.stream);
          clearTimeout(p.timer);
          p.resolve(f.payload);
        }
      });
      sock.on('error', (err) => {
        this.#connecting = null;
        reject(err);
      });
      sock.on('close', () => {
        if (this.#sock === sock) this.#sock = null;
        for (const [id, p] of this.#pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`ttrpc connection to ${path} closed`));
          this.#pending.delete(id);
        }
      });
    });
    return this.#connecting;
  }

  async call(service: string, method: string, requestType: string, request: object, responseType: string, timeoutMs = 5000): Promise<any> {
    const sock = await this.#connect();
    const stream = this.#nextStream;
    this.#nextStream = (this.#nextStream + 2) >>> 0 || 1;
    const payload = encode('ttrpc.Request', { service, method, payload: encode(requestType, request), timeoutNano: timeoutMs * 1e6 });
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(stream);
        reject(new Error(`ttrpc ${service}/${method}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(stream, { resolve, reject, timer });
      sock.write(encodeFrame(stream, FrameType.Request, payload));
    });
    const rsp = decode<{ status?: { code: number; message: string }; payload: Buffer }>('ttrpc.Response', raw);
    if (rsp.status && rsp.status.code !== 0) throw new StatusError(rsp.status.code as CodeValue, rsp.status.message);
    return decode(responseType, rsp.payload);
  }

  close(): void {
    this.#sock?.destroy();
    this.#sock = null;
  }
}
