// The shim's side of the agent protocol (agent/proto.h has the frame
// picture): requests with ids and their replies, and the agent's events
// (output, exits) as callbacks.
import { ChunkQueue } from '../../framing/chunk-queue.js';
import { Vchan } from './vchan.js';

export const Msg = {
  CREATE: 1,
  START: 2,
  EXEC: 3,
  SIGNAL: 4,
  STDIN: 5,
  RESIZE: 6,
  DELETE: 7,
  PIDS: 8,
  FILE: 9,
  PING: 10,
  DELETE_EXEC: 11,
  STATS: 12,
  REPLY: 100,
  OUTPUT: 101,
  EXIT: 102,
  READY: 103,
} as const;

export const FRAME_MAX = 1 << 20;
const HDR = 12;

/** Keys may repeat: a list of pairs. */
export type Pairs = [string, string][];

export interface Frame {
  type: number;
  id: number;
  kv: Pairs;
  data: Buffer;
}

export function encodeFrame(type: number, id: number, kv: Pairs, data: Buffer = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of kv) {
    if (k.includes('=') || k.includes('\0') || v.includes('\0')) throw new Error(`agent message: key ${JSON.stringify(k)} or its value holds = or NUL`);
    parts.push(Buffer.from(`${k}=${v}\0`, 'utf8'));
  }
  parts.push(Buffer.from([0]), data);
  const body = Buffer.concat(parts);
  if (body.length + 8 > FRAME_MAX) throw new Error(`agent message of ${body.length} bytes is larger than ${FRAME_MAX}`);
  const h = Buffer.alloc(HDR);
  h.writeUInt32LE(body.length + 8, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(0, 6);
  h.writeUInt32LE(id, 8);
  return Buffer.concat([h, body]);
}

/** Splits a byte stream into frames; throws on a malformed one (the pod VM is not trusted). */
export class FrameReader {
  readonly #bytes = new ChunkQueue();

  /** Bytes held for frames not yet whole. */
  get buffered(): number {
    return this.#bytes.length;
  }

  push(d: Buffer): Frame[] {
    const q = this.#bytes;
    q.push(d);
    const out: Frame[] = [];
    while (q.length >= HDR) {
      const len = q.front(HDR).readUInt32LE(0);
      if (len < 8 || len > FRAME_MAX) throw new Error(`agent sent a frame of length ${len}`);
      if (q.length < 4 + len) break;
      const whole = q.front(4 + len);
      const type = whole.readUInt16LE(4);
      const id = whole.readUInt32LE(8);
      const body = whole.subarray(HDR);
      q.consume(4 + len);
      out.push({ type, id, ...parseBody(body) });
    }
    return out;
  }
}

/** A frame's body: NUL-terminated key=value pairs, an empty one, then the data. */
function parseBody(body: Buffer): { kv: Pairs; data: Buffer } {
  const kv: Pairs = [];
  let at = 0;
  for (;;) {
    const nul = body.indexOf(0, at);
    if (nul < 0) throw new Error('agent sent a frame without its key list end');
    if (nul === at) {
      at++;
      break;
    }
    const s = body.subarray(at, nul).toString('utf8');
    const eq = s.indexOf('=');
    if (eq < 0) throw new Error('agent sent a key without a value');
    kv.push([s.slice(0, eq), s.slice(eq + 1)]);
    at = nul + 1;
  }
  return { kv, data: Buffer.from(body.subarray(at)) };
}

export const get = (f: Frame, k: string): string | undefined => f.kv.find(([key]) => key === k)?.[1];

/** An integer field in [0, max]; `absent` when the key is missing; null when it is not a decimal integer in range. */
function intField(f: Frame, k: string, absent: number, max: number): number | null {
  const v = get(f, k);
  if (v === undefined) return absent;
  if (!/^-?\d{1,10}$/.test(v)) return null;
  const n = Number(v);
  return n >= 0 && n <= max ? n : null;
}

export class AgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentError';
  }
}

export interface AgentEvents {
  output(cid: string, eid: string, fd: 1 | 2, data: Buffer): void;
  exit(cid: string, eid: string, pid: number, status: number): void;
  closed(why: string): void;
}

export class AgentClient {
  readonly #reader = new FrameReader();
  readonly #pending = new Map<number, { resolve: (f: Frame) => void; reject: (e: Error) => void; what: string }>();
  #nextId = 1;
  #closed: string | null = null;
  #ready: (() => void) | null = null;
  readonly ready: Promise<void>;

  constructor(readonly vchan: Vchan, readonly events: AgentEvents) {
    this.ready = new Promise((resolve) => (this.#ready = resolve));
    vchan.onData = (d) => {
      let frames: Frame[];
      try {
        frames = this.#reader.push(d);
      } catch (err) {
        this.#fail(`the agent broke the protocol: ${(err as Error).message}`);
        vchan.close();
        return;
      }
      try {
        for (const f of frames) this.#dispatch(f);
      } catch (err) {
        this.#fail(`the agent broke the protocol: ${(err as Error).message}`);
        vchan.close();
      }
    };
    vchan.onClose = (why) => this.#fail(why);
    vchan.start();
  }

  #dispatch(f: Frame): void {
    switch (f.type) {
      case Msg.REPLY: {
        const p = this.#pending.get(f.id);
        if (!p) return;
        this.#pending.delete(f.id);
        const err = get(f, 'err');
        if (err !== undefined) p.reject(new AgentError(`${p.what}: ${err}`));
        else p.resolve(f);
        return;
      }
      case Msg.OUTPUT:
        this.events.output(get(f, 'cid') ?? '', get(f, 'eid') ?? '', get(f, 'fd') === '2' ? 2 : 1, f.data);
        return;
      case Msg.EXIT: {
        // Numbers from the pod VM: decimal integers in range, else the agent broke the protocol
        // (a NaN exit status would reach containerd as a real one).
        const pid = intField(f, 'pid', 0, 0x7fffffff);
        const status = intField(f, 'status', 255, 0x7fffffff);
        if (pid === null || status === null) throw new Error(`EXIT with pid ${JSON.stringify(get(f, 'pid'))} and status ${JSON.stringify(get(f, 'status'))}, not integers in range`);
        this.events.exit(get(f, 'cid') ?? '', get(f, 'eid') ?? '', pid, status);
        return;
      }
      case Msg.READY:
        this.#ready?.();
        return;
    }
  }

  #fail(why: string): void {
    if (this.#closed) return;
    this.#closed = why;
    for (const p of this.#pending.values()) p.reject(new AgentError(`${p.what}: ${why}`));
    this.#pending.clear();
    this.events.closed(why);
  }

  get closed(): string | null {
    return this.#closed;
  }

  request(type: number, kv: Pairs, what: string, data?: Buffer): Promise<Frame> {
    if (this.#closed) return Promise.reject(new AgentError(`${what}: ${this.#closed}`));
    const id = this.#nextId++ >>> 0;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, what });
      this.vchan.send(encodeFrame(type, id, kv, data));
    });
  }

  /** Fire and forget (stdin). */
  send(type: number, kv: Pairs, data?: Buffer): void {
    if (!this.#closed) this.vchan.send(encodeFrame(type, 0, kv, data));
  }

  close(): void {
    this.vchan.close();
  }
}
