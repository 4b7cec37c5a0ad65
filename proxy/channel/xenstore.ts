// A xenstore client for Dom0: xenstored's wire protocol (xen/io/xs_wire.h)
// over its unix socket.  Requests are answered in order; watch events arrive
// in between and are emitted as 'watch' (path, token).
import { EventEmitter } from 'node:events';
import * as net from 'node:net';

const XS = {
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
} as const;
const HDR = 16;
const PAYLOAD_MAX = 4096;

export const DEFAULT_XENSTORED_SOCKET = '/run/xenstored/socket';

export class XenstoreError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'XenstoreError';
  }
}

interface Pending {
  type: number;
  what: string;
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
}

export class Xenstore extends EventEmitter {
  readonly #sock: net.Socket;
  readonly #pending = new Map<number, Pending>();
  #buf: Buffer = Buffer.alloc(0);
  #nextId = 1;
  #closed: Error | null = null;

  private constructor(sock: net.Socket) {
    super();
    this.#sock = sock;
    sock.on('data', (d: Buffer) => this.#onData(d));
    sock.on('close', () => this.#fail(new XenstoreError('EPIPE', 'xenstored closed the connection')));
    sock.on('error', (err) => this.#fail(err));
  }

  static connect(path = DEFAULT_XENSTORED_SOCKET): Promise<Xenstore> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once('connect', () => resolve(new Xenstore(s)));
      s.once('error', (err) => reject(new XenstoreError('ECONNREFUSED', `cannot reach xenstored at ${path}: ${err.message} (is this Dom0 with xenstored running?)`)));
    });
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.emit('close', err);
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    while (this.#buf.length >= HDR) {
      const type = this.#buf.readUInt32LE(0);
      const reqId = this.#buf.readUInt32LE(4);
      const len = this.#buf.readUInt32LE(12);
      if (len > PAYLOAD_MAX) {
        this.#sock.destroy();
        this.#fail(new XenstoreError('EIO', `xenstored sent a ${len}-byte payload`));
        return;
      }
      if (this.#buf.length < HDR + len) return;
      const payload = Buffer.from(this.#buf.subarray(HDR, HDR + len));
      this.#buf = this.#buf.subarray(HDR + len);
      if (type === XS.WATCH_EVENT) {
        const [path = '', token = ''] = payload.toString('utf8').split('\0');
        this.emit('watch', path, token);
        continue;
      }
      const p = this.#pending.get(reqId);
      if (!p) continue;
      this.#pending.delete(reqId);
      if (type === XS.ERROR) {
        const code = payload.toString('utf8').replace(/\0.*$/s, '');
        p.reject(new XenstoreError(code, `xenstore ${p.what}: ${code}`));
      } else {
        p.resolve(payload);
      }
    }
  }

  #request(type: number, parts: (string | Buffer)[], what: string): Promise<Buffer> {
    if (this.#closed) return Promise.reject(this.#closed);
    const payload = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
    if (payload.length > PAYLOAD_MAX) return Promise.reject(new XenstoreError('E2BIG', `xenstore ${what}: request too large`));
    const id = this.#nextId++ >>> 0;
    const h = Buffer.alloc(HDR);
    h.writeUInt32LE(type, 0);
    h.writeUInt32LE(id, 4);
    h.writeUInt32LE(0, 8);
    h.writeUInt32LE(payload.length, 12);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { type, what, resolve, reject });
      this.#sock.write(Buffer.concat([h, payload]));
    });
  }

  /** The value at path, or null when there is none. */
  async read(path: string): Promise<string | null> {
    try {
      return (await this.#request(XS.READ, [path, '\0'], `read ${path}`)).toString('utf8');
    } catch (err) {
      if (err instanceof XenstoreError && err.code === 'ENOENT') return null;
      throw err;
    }
  }

  async write(path: string, value: string): Promise<void> {
    await this.#request(XS.WRITE, [path, '\0', value], `write ${path}`);
  }

  async mkdir(path: string): Promise<void> {
    await this.#request(XS.MKDIR, [path, '\0'], `mkdir ${path}`);
  }

  async rm(path: string): Promise<void> {
    try {
      await this.#request(XS.RM, [path, '\0'], `rm ${path}`);
    } catch (err) {
      if (!(err instanceof XenstoreError && err.code === 'ENOENT')) throw err;
    }
  }

  /** Children of path ([] when it does not exist). */
  async directory(path: string): Promise<string[]> {
    try {
      const b = await this.#request(XS.DIRECTORY, [path, '\0'], `directory ${path}`);
      return b.toString('utf8').split('\0').filter(Boolean);
    } catch (err) {
      if (err instanceof XenstoreError && err.code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Permissions of path, e.g. ['n0', 'r5'] (the first names the owner), or null when it does not exist. */
  async getPerms(path: string): Promise<string[] | null> {
    try {
      const b = await this.#request(XS.GET_PERMS, [path, '\0'], `get-perms ${path}`);
      return b.toString('utf8').split('\0').filter(Boolean);
    } catch (err) {
      if (err instanceof XenstoreError && err.code === 'ENOENT') return null;
      throw err;
    }
  }

  async setPerms(path: string, perms: string[]): Promise<void> {
    await this.#request(XS.SET_PERMS, [path, '\0', ...perms.map((p) => `${p}\0`)], `set-perms ${path}`);
  }

  /** Watches path and everything below it; xenstored fires once at once, then at each change. */
  async watch(path: string, token: string): Promise<void> {
    await this.#request(XS.WATCH, [path, '\0', token, '\0'], `watch ${path}`);
  }

  async unwatch(path: string, token: string): Promise<void> {
    try {
      await this.#request(XS.UNWATCH, [path, '\0', token, '\0'], `unwatch ${path}`);
    } catch (err) {
      if (!(err instanceof XenstoreError && err.code === 'ENOENT')) throw err;
    }
  }

  close(): void {
    this.#sock.destroy();
  }
}
