// What the shim's fuzz targets share: the real TtrpcServer's connection
// handler on an in-memory socket, a silent logger, and the microtask drain
// that lets the real (async) dispatch path finish inside one --sync iteration.
//
// Why the drain: with --sync, Jazzer.js 4.0 runs libFuzzer's whole loop from
// inside a promise continuation (core.js awaits before startFuzzing), so V8
// never performs a microtask checkpoint between iterations: an `await` in the
// server or the Task service would never resume, and every rejected promise
// would stay queued (measured: ~350 bytes an iteration, unbounded).  Here
// startFuzzing is deferred to a setImmediate callback, where
// process._tickCallback() (Node's own runNextTicks) can drain the queue after
// each input.  drain() checks that it really ran, so a Jazzer change that
// breaks this fails loudly instead of fuzzing half a path.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { TtrpcServer } from '../../../shim/ttrpc/server.js';

const require = createRequire(import.meta.url);

function deferFuzzLoop(): void {
  // Not under Jazzer (the corpus generator imports this module too): nothing to defer.
  if (!('Fuzzer' in globalThis)) return;
  const { fuzzer } = require('@jazzer.js/fuzzer') as { fuzzer: { startFuzzing: (...a: unknown[]) => unknown } };
  const start = fuzzer.startFuzzing.bind(fuzzer);
  fuzzer.startFuzzing = (...args: unknown[]) =>
    new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(start(...args));
        } catch (err) {
          reject(err);
        }
      }),
    );
}
deferFuzzLoop();

const tick = (process as unknown as { _tickCallback: () => void })._tickCallback;

/** Runs every queued microtask and nextTick; throws if the queue could not be drained. */
export function drain(): void {
  let ran = false;
  void Promise.resolve().then(() => (ran = true));
  tick();
  if (!ran) throw new Error('fuzz harness: microtasks did not run (is the fuzz loop still deferred to setImmediate? see harness.ts)');
}

export const silentLog = pino({ level: 'silent' });

/**
 * The server side of one connection, in memory: what TtrpcServer#serve uses of
 * net.Socket (on/emit, write, destroy, destroyed), recording what it writes.
 */
export class MemSocket extends EventEmitter {
  destroyed = false;
  readonly written: Buffer[] = [];

  write(b: Buffer): boolean {
    if (this.destroyed) throw new Error('fuzz harness: write on a destroyed socket');
    this.written.push(Buffer.from(b));
    return true;
  }

  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit('close', false);
    }
    return this;
  }
}

/**
 * A real TtrpcServer and its real per-connection handler (#serve, reached the
 * way net.Server reaches it: its 'connection' listener).  listen() binds a
 * unix socket in a temporary folder once, at module load.
 */
export async function serverWithConnections(): Promise<{ server: TtrpcServer; connect: () => MemSocket }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xen-cri-fuzz-'));
  const server = new TtrpcServer(silentLog);
  let netServer: net.Server | null = null;
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    netServer = this;
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
  try {
    await server.listen(path.join(dir, 'shim.sock'));
  } finally {
    net.Server.prototype.listen = listen;
  }
  const onConnection = (netServer as net.Server | null)?.listeners('connection')[0] as ((s: unknown) => void) | undefined;
  if (!onConnection) throw new Error('fuzz harness: TtrpcServer.listen did not add a connection listener');
  // The listening socket itself is not needed: inputs never touch the file system.
  (netServer as unknown as net.Server).close();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    server,
    connect: () => {
      const s = new MemSocket();
      onConnection(s);
      return s;
    },
  };
}

/** Splits a byte string of frames the way FrameReader does, without its limit: for checking responses. */
export function splitFrames(b: Buffer): { stream: number; type: number; flags: number; payload: Buffer }[] {
  const out = [];
  let off = 0;
  while (b.length - off >= 10) {
    const len = b.readUInt32BE(off);
    if (b.length - off - 10 < len) break;
    out.push({ stream: b.readUInt32BE(off + 4), type: b[off + 8]!, flags: b[off + 9]!, payload: b.subarray(off + 10, off + 10 + len) });
    off += 10 + len;
  }
  if (off !== b.length) throw new Error(`fuzz harness: the server wrote ${b.length - off} bytes that are not a whole frame`);
  return out;
}
