// Fuzz target shim-ttrpc-frames: a byte stream from containerd's side of the
// shim's socket, cut into chunks the way a socket delivers it, through the
// real FrameReader and the real TtrpcServer connection handler, down to the
// decoded request reaching a handler and the response written back.
//
// Input: byte 0 caps the chunk size (0: the whole stream in one chunk), byte 1
// seeds the chunk sizes, the rest is the stream.
//
// Stubbed: the handlers (each records the call and answers an empty
// response); the method table (service, method, request and response types)
// is the real Task service's.  The socket is in memory (harness.ts).
//
// The contract checked (framing.ts, server.ts):
// - ttrpc has no resynchronisation: the stream is consecutive frames, each a
//   10-byte header and `length` bytes.  Garbage is read as frames too; a
//   well-formed frame after it is decoded if the garbage happens to form
//   whole frames, swallowed while a frame it announced is incomplete, and
//   never reached once a header announces more than MAX_MESSAGE: then
//   push() throws and the server closes the connection, at the chunk that
//   completes that header.
// - push() throws nothing but that over-limit error; frames do not depend on
//   how the stream is cut; what it keeps buffered is under
//   HEADER_SIZE + MAX_MESSAGE.
// - every request frame dispatched is answered once, on its stream id, with a
//   type-2 frame whose ttrpc.Response carries: Unknown when the request or its
//   payload does not decode, Unimplemented for a service/method not served,
//   else the handler's response; no other frame type is answered.
import { FrameReader, HEADER_SIZE, MAX_MESSAGE, type Frame } from '../../../shim/ttrpc/framing.js';
import { Code } from '../../../shim/ttrpc/status.js';
import { decode } from '../../../src/proto/load.js';
import { TaskService } from '../../../shim/task-service.js';
import type { Service } from '../../../shim/ttrpc/server.js';
import { drain, serverWithConnections, silentLog, splitFrames } from './harness.js';

const SERVICE = 'containerd.task.v2.Task';
const calls: { method: string; request: unknown }[] = [];

// The real Task service's method table, its handlers replaced by recorders.
const real = new TaskService('fuzz', {} as never, {} as never, {} as never, silentLog, () => undefined).service();
const table: Service = {};
for (const [name, m] of Object.entries(real)) {
  table[name] = {
    requestType: m.requestType,
    responseType: m.responseType,
    handler: async (request: unknown) => {
      calls.push({ method: name, request });
      return {};
    },
  };
}
const { server, connect } = await serverWithConnections();
server.register(SERVICE, table);

const OVER_LIMIT = /^ttrpc: peer sent a frame of (\d+) bytes, over the 4194304-byte limit$/;

interface Model {
  frames: (Frame & { end: number })[];
  /** offset of the header announcing more than MAX_MESSAGE (and that length), or -1 */
  badAt: number;
  badLength: number;
}

/** The stream as the contract reads it: consecutive frames until an over-limit header or the end. */
function model(b: Buffer): Model {
  const frames: Model['frames'] = [];
  let off = 0;
  while (b.length - off >= HEADER_SIZE) {
    const length = b.readUInt32BE(off);
    if (length > MAX_MESSAGE) return { frames, badAt: off, badLength: length };
    if (b.length - off - HEADER_SIZE < length) break;
    const end = off + HEADER_SIZE + length;
    frames.push({ stream: b.readUInt32BE(off + 4), type: b[off + 8]!, flags: b[off + 9]!, payload: b.subarray(off + HEADER_SIZE, end), end });
    off = end;
  }
  return { frames, badAt: -1, badLength: 0 };
}

function chunks(cap: number, seed: number, b: Buffer): Buffer[] {
  if (cap === 0) return [b];
  const out: Buffer[] = [];
  let x = (seed | 0x100) * 2654435761;
  for (let off = 0; off < b.length; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const n = 1 + ((x >>> 0) % cap);
    out.push(b.subarray(off, off + n));
    off += n;
  }
  return out;
}

function fail(what: string): never {
  throw new Error(`shim-ttrpc-frames: ${what}`);
}

function sameFrame(a: Frame, b: Frame): boolean {
  return a.stream === b.stream && a.type === b.type && a.flags === b.flags && a.payload.equals(b.payload);
}

/** What the server must answer to one request frame: a status code, or 0 and the method whose handler runs. */
function expected(payload: Buffer): { code: number; method?: string } {
  let req: { service: string; method: string; payload: Buffer };
  try {
    req = decode('ttrpc.Request', payload);
  } catch {
    return { code: Code.Unknown };
  }
  const m = req.service === SERVICE && Object.hasOwn(table, req.method) ? table[req.method] : undefined;
  if (!m) return { code: Code.Unimplemented };
  try {
    decode(m.requestType, req.payload);
  } catch {
    return { code: Code.Unknown };
  }
  return { code: Code.OK, method: req.method };
}

/** The frame reader alone, fed chunk by chunk, against the model. */
function checkReader(parts: Buffer[], want: Model): void {
  const reader = new FrameReader();
  const got: Frame[] = [];
  let fed = 0;
  for (const part of parts) {
    fed += part.length;
    let frames: Frame[];
    try {
      frames = reader.push(part);
    } catch (err) {
      const m = err instanceof Error && err.constructor === Error ? OVER_LIMIT.exec(err.message) : null;
      if (!m) fail(`push threw something other than its over-limit error: ${String(err)}`);
      if (want.badAt < 0 || fed < want.badAt + HEADER_SIZE) fail(`push threw at byte ${fed}, the stream has no over-limit header there`);
      if (Number(m[1]) !== want.badLength) fail(`push named a length of ${m[1]}, the header says ${want.badLength}`);
      return;
    }
    got.push(...frames);
    const whole = want.frames.filter((f) => f.end <= fed);
    if (got.length !== whole.length || !got.every((f, i) => sameFrame(f, whole[i]!))) fail(`after ${fed} bytes: ${got.length} frames decoded, the stream holds ${whole.length} whole ones (or they differ)`);
    const kept = fed - (whole.at(-1)?.end ?? 0);
    if (kept >= HEADER_SIZE + MAX_MESSAGE) fail(`reader keeps ${kept} bytes, over HEADER_SIZE + MAX_MESSAGE`);
    if (want.badAt >= 0 && fed >= want.badAt + HEADER_SIZE) fail(`push did not reject the header at ${want.badAt} announcing over ${MAX_MESSAGE} bytes`);
  }
}

/** The real server's connection handler, fed the same chunks. */
function checkServer(parts: Buffer[], want: Model): void {
  const sock = connect();
  calls.length = 0;
  let fed = 0;
  let dispatched: Frame[] = [];
  for (const part of parts) {
    fed += part.length;
    sock.emit('data', part);
    drain();
    if (sock.destroyed) {
      if (want.badAt < 0 || fed < want.badAt + HEADER_SIZE) fail(`server closed the connection at byte ${fed} with no over-limit header there`);
      break;
    }
    dispatched = want.frames.filter((f) => f.end <= fed);
    if (want.badAt >= 0 && fed >= want.badAt + HEADER_SIZE) fail('server kept a connection whose peer announced an over-limit frame');
  }
  const requests = dispatched.filter((f) => f.type === 1);
  const answers = splitFrames(Buffer.concat(sock.written));
  if (answers.length !== requests.length) fail(`${requests.length} request frames dispatched, ${answers.length} answers written`);
  // Answers may come out of order (a decode error is answered before an earlier
  // call's handler resolves): match them by stream id and expected outcome.
  const key = (stream: number, code: number, method = ''): string => `${stream}/${code}/${method}`;
  const wantKeys: string[] = [];
  const wantCalls: string[] = [];
  for (const f of requests) {
    const e = expected(f.payload);
    wantKeys.push(key(f.stream, e.code));
    if (e.method) wantCalls.push(e.method);
  }
  const gotKeys: string[] = [];
  for (const a of answers) {
    if (a.type !== 2 || a.flags !== 0) fail(`answer of type ${a.type}, flags ${a.flags}`);
    const rsp = decode<{ status: { code: number } | null }>('ttrpc.Response', a.payload);
    gotKeys.push(key(a.stream, rsp.status?.code ?? 0));
  }
  if (wantKeys.sort().join() !== gotKeys.sort().join()) fail(`answers ${gotKeys.join(' ')}, expected ${wantKeys.join(' ')}`);
  if (calls.map((c) => c.method).sort().join() !== wantCalls.sort().join()) fail(`handlers called: ${calls.map((c) => c.method).join()}, expected ${wantCalls.join()}`);
  sock.destroy();
}

export function fuzz(data: Buffer): void {
  if (data.length < 2) return;
  const stream = data.subarray(2);
  const parts = chunks(data[0]!, data[1]!, stream);
  const want = model(stream);
  checkReader(parts, want);
  checkServer(parts, want);
}
