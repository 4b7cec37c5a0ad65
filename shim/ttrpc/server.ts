// A ttrpc server for unary calls over a unix socket.  Each request is decoded
// by the service's method table, answered in its own time (calls on one
// connection may overlap), and errors become a status at this edge only.
import * as net from 'node:net';
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { decode, encode } from '../../src/proto/load.js';
import { encodeFrame, FrameReader, FrameType } from './framing.js';
import { Code, StatusError } from './status.js';

export interface Method {
  requestType: string;
  responseType: string;
  handler: (request: any) => Promise<object>;
}

export type Service = Record<string, Method>;

export class TtrpcServer {
  readonly #services = new Map<string, Service>();
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | null = null;

  constructor(readonly log: Logger) {}

  register(name: string, service: Service): void {
    this.#services.set(name, service);
  }

  /** Listens on path (mode 0600); a stale socket file there is replaced. */
  async listen(path: string): Promise<void> {
    try {
      if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const server = net.createServer((sock) => this.#serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    fs.chmodSync(path, 0o600);
    this.#server = server;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #serve(sock: net.Socket): void {
    this.#sockets.add(sock);
    const reader = new FrameReader();
    sock.on('data', (chunk) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'ttrpc: bad frame, connection closed');
        sock.destroy();
        return;
      }
      for (const f of frames) {
        if (f.type !== FrameType.Request) continue; // no streams served
        void this.#call(sock, f.stream, f.payload);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.#sockets.delete(sock));
  }

  async #call(sock: net.Socket, stream: number, payload: Buffer): Promise<void> {
    let response: object;
    let service = '';
    let method = '';
    try {
      const req = decode<{ service: string; method: string; payload: Buffer }>('ttrpc.Request', payload);
      service = req.service;
      method = req.method;
      const m = this.#services.get(service)?.[method];
      if (!m) throw new StatusError(Code.Unimplemented, `${service}/${method} is not served by this shim`);
      const out = await m.handler(decode(m.requestType, req.payload));
      response = { payload: encode(m.responseType, out) };
    } catch (err) {
      const e = err as Error;
      const code = err instanceof StatusError ? err.code : Code.Unknown;
      this.log.debug({ service, method, code, err: e.message }, 'ttrpc call failed');
      response = { status: { code, message: e.message } };
    }
    if (!sock.destroyed) sock.write(encodeFrame(stream, FrameType.Response, encode('ttrpc.Response', response)));
  }
}
