// Fuzz target shim-proto: Task API requests of every type the shim serves,
// decoded and handled by the real code: each input is a sequence of calls
// sent as ttrpc requests through the real TtrpcServer (its decode, method
// table and status mapping) into the real TaskService, on a pod set up before
// each input (sandbox container `pod` and container `c1`, both running).
//
// Input: records [method selector: 1 byte][length: 2 bytes BE][request bytes],
// the selector indexing the Task methods in name order (shim-proto.methods);
// the last record takes what is left.
//
// Stubbed: the sandbox backend (nothing is run; every call succeeds at once,
// records what reached it, and a kill reports the process's exit); the event
// Publisher has no containerd address (events are encoded, never sent).
//
// Checked, for every call:
// - it is answered once on its stream (Wait only once its process exits), and
//   the answer's ttrpc.Response decodes; a success's payload decodes as the
//   method's response type;
// - Unknown (a non-status error escaping the service) only for a request that
//   does not decode: the service's own checks end in a status of their own;
// - what reaches the backend keeps the backend interface's contract:
//   container and exec ids are containerd identifiers (backends build paths
//   and runc ids from them), an exec's process and an update's resources are
//   JSON objects.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decode, encode } from '../../../src/proto/load.js';
import { encodeFrame, FrameType } from '../../../shim/ttrpc/framing.js';
import { Code } from '../../../shim/ttrpc/status.js';
import { Publisher } from '../../../shim/events.js';
import { TaskService } from '../../../shim/task-service.js';
import type { ShimConfig } from '../../../shim/config.js';
import type { Sandbox, SandboxBackend, SandboxEvents } from '../../../shim/sandbox/backend.js';
import { drain, serverWithConnections, silentLog, splitFrames } from './harness.js';

const SERVICE = 'containerd.task.v2.Task';
export const BUNDLES = path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'xen-cri-fuzz-shim-proto');

// containerd's identifiers.Validate: what containerd itself lets through.
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

const violations: string[] = [];
function checkId(what: string, id: string): void {
  if (!IDENTIFIER.test(id) || id.length > 76) violations.push(`${what} ${JSON.stringify(id)} reached the backend: not a containerd identifier`);
}

class FakeSandbox implements Sandbox {
  readonly #pids = new Map<string, number>();
  #next = 1000;
  constructor(readonly id: string, readonly events: SandboxEvents) {}
  admitGpu(): void {}
  async createContainer(req: { id: string }): Promise<number> {
    checkId('container id', req.id);
    this.#pids.set(`${req.id}/`, ++this.#next);
    return this.#next;
  }
  async startContainer(): Promise<void> {}
  async createExec(req: { containerId: string; execId: string; process: object }): Promise<void> {
    checkId('exec id', req.execId);
    if (!isObject(req.process)) violations.push(`exec process ${JSON.stringify(req.process)} reached the backend: not a JSON object`);
  }
  async startExec(containerId: string, execId: string): Promise<number> {
    this.#pids.set(`${containerId}/${execId}`, ++this.#next);
    return this.#next;
  }
  async kill(containerId: string, execId: string, signal: number): Promise<void> {
    const pid = this.#pids.get(`${containerId}/${execId}`) ?? 0;
    queueMicrotask(() => this.events.exit({ containerId, execId, pid, status: 128 + (signal & 0x7f), at: new Date(0) }));
  }
  async resizePty(): Promise<void> {}
  async closeStdin(): Promise<void> {}
  async pids(): Promise<{ pid: number }[]> {
    return [...this.#pids.values()].map((pid) => ({ pid }));
  }
  async stats(): Promise<Record<string, unknown>> {
    return { memory: { usage: { usage: 4096 } } };
  }
  async update(_id: string, resources: object): Promise<void> {
    if (!isObject(resources)) violations.push(`update resources ${JSON.stringify(resources)} reached the backend: not a JSON object`);
  }
  async pause(): Promise<void> {}
  async resume(): Promise<void> {}
  async deleteContainer(): Promise<void> {}
  async deleteExec(): Promise<void> {}
  async destroy(): Promise<void> {}
}

const backend: SandboxBackend = {
  name: 'fuzz',
  probe: async () => undefined,
  createSandbox: async (pod, events) => new FakeSandbox(pod.id, events),
  cleanupDead: async () => 0,
};

const config: ShimConfig = {
  backend: 'process',
  runc: '/nonexistent/runc',
  stateDir: path.join(BUNDLES, 'state'),
  logLevel: 'silent',
  vgpu: { controlSocket: '/nonexistent/control.sock', guestLibDir: '/nonexistent/vgpu' },
  source: 'fuzz',
};

/** The bundles of the pod set up for each input (fixed paths, so corpus entries that name them stay valid). */
export function writeBundles(): { pod: string; c1: string } {
  const spec = (type: string) => ({ ociVersion: '1.1.0', process: { args: ['sleep', 'inf'], env: ['PATH=/bin'] }, annotations: { 'io.kubernetes.cri.container-type': type, 'io.kubernetes.cri.sandbox-id': 'pod' } });
  const out = { pod: path.join(BUNDLES, 'pod'), c1: path.join(BUNDLES, 'c1') };
  for (const [dir, type] of [[out.pod, 'sandbox'], [out.c1, 'container']] as const) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec(type)));
  }
  return out;
}

const bundles = writeBundles();
const events = new Publisher('', 'fuzz', silentLog);
const { server, connect } = await serverWithConnections();
const probe = new TaskService('fuzz', config, backend, events, silentLog, () => undefined).service();
export const methods = Object.keys(probe).sort();

function fail(what: string): never {
  throw new Error(`shim-proto: ${what}`);
}

function setUp(): TaskService {
  const svc = new TaskService('fuzz', config, backend, events, silentLog, () => undefined);
  server.register(SERVICE, svc.service());
  let err: unknown = null;
  void (async () => {
    await svc.create({ id: 'pod', bundle: bundles.pod, rootfs: [], stdin: '', stdout: '', stderr: '', terminal: false });
    await svc.start({ id: 'pod', execId: '' });
    await svc.create({ id: 'c1', bundle: bundles.c1, rootfs: [], stdin: '', stdout: '', stderr: '', terminal: false });
    await svc.start({ id: 'c1', execId: '' });
  })().catch((e) => (err = e));
  drain();
  if (err || svc.taskCount !== 2) fail(`setting up the pod failed: ${String(err)}`);
  return svc;
}

export function fuzz(data: Buffer): void {
  violations.length = 0;
  setUp();
  const sock = connect();
  const sent = new Map<number, { method: string; payload: Buffer }>();
  let stream = 1;
  for (let off = 0; off < data.length; stream += 2) {
    const method = methods[data[off]! % methods.length]!;
    const len = off + 3 <= data.length ? data.readUInt16BE(off + 1) : 0;
    const payload = data.subarray(off + 3, off + 3 + len);
    off += 3 + len;
    sent.set(stream, { method, payload });
    sock.emit('data', encodeFrame(stream, FrameType.Request, encode('ttrpc.Request', { service: SERVICE, method, payload })));
    drain();
    if (violations.length) fail(`${method}: ${violations.join('; ')}`);
  }
  const answered = new Set<number>();
  for (const a of splitFrames(Buffer.concat(sock.written))) {
    const call = sent.get(a.stream);
    if (!call || answered.has(a.stream) || a.type !== FrameType.Response) fail(`answer on stream ${a.stream} (type ${a.type}) that no call is waiting for`);
    answered.add(a.stream);
    const rsp = decode<{ status: { code: number; message: string } | null; payload: Buffer }>('ttrpc.Response', a.payload);
    const code = rsp.status?.code ?? Code.OK;
    const m = probe[call.method]!;
    if (code === Code.OK) {
      decode(m.responseType, rsp.payload);
      continue;
    }
    if (code === Code.Unknown) {
      let decodes = true;
      try {
        decode(m.requestType, call.payload);
      } catch {
        decodes = false;
      }
      if (decodes) fail(`${call.method} answered Unknown to a request that decodes (an error without a status escaped the service): ${rsp.status?.message}`);
    }
  }
  for (const [s, call] of sent) if (!answered.has(s) && call.method !== 'Wait') fail(`${call.method} on stream ${s} never answered`);
  sock.destroy();
}
