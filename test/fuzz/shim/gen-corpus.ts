// Writes the seed corpora of the shim's fuzz targets with the real encoders:
//   node dist/test/fuzz/shim/gen-corpus.js
// into test/fuzz/corpus/shim-ttrpc-frames/, shim-proto/ and shim-agent-frames/
// (deterministic: the same files every run; old seeds of these names are replaced).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { anyOf, encode } from '../../../src/proto/load.js';
import { encodeFrame, FrameType, HEADER_SIZE, MAX_MESSAGE } from '../../../shim/ttrpc/framing.js';
import { TaskService } from '../../../shim/task-service.js';
import { repoRoot } from '../../../src/paths.js';
import { encodeFrame as agentFrame, Msg } from '../../../shim/sandbox/xen/agent-client.js';
import { silentLog } from './harness.js';

const SERVICE = 'containerd.task.v2.Task';
const table = new TaskService('fuzz', {} as never, {} as never, {} as never, silentLog, () => undefined).service();
const methods = Object.keys(table).sort();
// The bundles shim-proto sets up (shim-proto.fuzz.ts, BUNDLES; tmpfs: a bundle state write on /tmp costs ~2 ms here).
const BUNDLES = path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'xen-cri-fuzz-shim-proto');

function request(method: string, body: object): Buffer {
  return encode(table[method]!.requestType, body);
}

function call(method: string, body: object, service = SERVICE): Buffer {
  return encode('ttrpc.Request', { service, method, payload: request(method, body), timeoutNano: 5e9 });
}

const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const spec = anyOf('types.containerd.io/opencontainers/runtime-spec/1/Process', json({ args: ['sh', '-c', 'true'], env: ['PATH=/bin'], cwd: '/' }));
const resources = anyOf('types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', json({ cpu: { shares: 512 }, memory: { limit: 1 << 28 } }));
const io = { stdin: '', stdout: '/run/fifo/out', stderr: '/run/fifo/err', terminal: false };

// ---- shim-proto: sequences of [selector][u16 length][request] ----
function rec(method: string, body: object): Buffer {
  const b = request(method, body);
  const head = Buffer.alloc(3);
  head[0] = methods.indexOf(method);
  head.writeUInt16BE(b.length, 1);
  return Buffer.concat([head, b]);
}
const seq = (...r: Buffer[]): Buffer => Buffer.concat(r);

const proto: Record<string, Buffer> = {
  'state-connect-pids-stats': seq(rec('State', { id: 'c1' }), rec('Connect', { id: 'c1' }), rec('Pids', { id: 'c1' }), rec('Stats', { id: 'c1' })),
  'exec-lifecycle': seq(
    rec('Exec', { id: 'c1', execId: 'e1', ...io, spec }),
    rec('Start', { id: 'c1', execId: 'e1' }),
    rec('ResizePty', { id: 'c1', execId: 'e1', width: 80, height: 24 }),
    rec('CloseIO', { id: 'c1', execId: 'e1', stdin: true }),
    rec('Kill', { id: 'c1', execId: 'e1', signal: 9 }),
    rec('Wait', { id: 'c1', execId: 'e1' }),
    rec('Delete', { id: 'c1', execId: 'e1' }),
  ),
  'update-pause-resume': seq(rec('Update', { id: 'c1', resources, annotations: { a: 'b' } }), rec('Pause', { id: 'c1' }), rec('Resume', { id: 'c1' })),
  'create-second': seq(
    rec('Create', { id: 'c2', bundle: path.join(BUNDLES, 'c1'), rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a', 'upperdir=/b', 'workdir=/c'] }], ...io }),
    rec('Start', { id: 'c2' }),
    rec('State', { id: 'c2' }),
  ),
  'end-pod': seq(
    rec('Kill', { id: 'c1', signal: 15, all: true }),
    rec('Wait', { id: 'c1' }),
    rec('Delete', { id: 'c1' }),
    rec('Kill', { id: 'pod', signal: 9 }),
    rec('Delete', { id: 'pod' }),
    rec('Shutdown', { id: 'pod' }),
  ),
  'checkpoint': rec('Checkpoint', { id: 'c1', path: '/tmp/cp' }),
  'exec-bad-spec': rec('Exec', { id: 'c1', execId: 'e2', ...io, spec: anyOf('x', Buffer.from('{"args":')) }),
};

// ---- shim-ttrpc-frames: [chunk cap][chunk seed] + stream ----
function frame(stream: number, type: number, payload: Buffer, flags = 0): Buffer {
  return encodeFrame(stream, type as FrameType, payload, flags);
}
function header(length: number, stream = 1, type = 1, flags = 0): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt32BE(length >>> 0, 0);
  h.writeUInt32BE(stream, 4);
  h[8] = type;
  h[9] = flags;
  return h;
}
const stream = (cap: number, seed: number, ...parts: Buffer[]): Buffer => Buffer.concat([Buffer.from([cap, seed]), ...parts]);
const state = frame(1, 1, call('State', { id: 'c1' }));

const frames: Record<string, Buffer> = {
  'one-request': stream(0, 0, state),
  'requests-chunked': stream(7, 1, state, frame(3, 1, call('Create', { id: 'c2', bundle: '/run/b/c2', ...io })), frame(5, 1, call('Kill', { id: 'c1', signal: 9 })), frame(7, 1, call('Connect', { id: 'c1' }))),
  'exec-update': stream(16, 2, frame(9, 1, call('Exec', { id: 'c1', execId: 'e1', ...io, spec })), frame(11, 1, call('Update', { id: 'c1', resources }))),
  'unknown-method-service': stream(3, 3, frame(1, 1, call('State', { id: 'c1' }).subarray(0)), frame(3, 1, encode('ttrpc.Request', { service: SERVICE, method: 'Nope', payload: Buffer.alloc(0) })), frame(5, 1, call('State', { id: 'x' }, 'containerd.task.v3.Task'))),
  'other-types-flags': stream(5, 4, frame(1, 2, encode('ttrpc.Response', { payload: Buffer.from('x') })), frame(3, 3, Buffer.from('data'), 1), frame(0, 1, call('Pids', { id: 'c1' }), 0xff), frame(0xffffffff, 9, Buffer.alloc(0), 2)),
  'bad-request-payloads': stream(0, 0, frame(1, 1, Buffer.from([0xff, 0xff, 0xff])), frame(3, 1, encode('ttrpc.Request', { service: SERVICE, method: 'Start', payload: Buffer.from([0x0a, 0x7f]) }))),
  'garbage-then-frame': stream(2, 5, Buffer.from([0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 1, 0, 1, 2, 3]), state),
  'huge-length': stream(0, 0, header(0xffffffff), state),
  'over-limit-by-one': stream(4, 6, state, header(MAX_MESSAGE + 1), state),
  'at-limit-truncated': stream(0, 0, header(MAX_MESSAGE), state),
  'truncated': stream(1, 7, state, state.subarray(0, 15)),
  'empty-frames': stream(0, 0, frame(1, 1, Buffer.alloc(0)), frame(2, 0, Buffer.alloc(0))),
};

function write(target: string, files: Record<string, Buffer>): void {
  const dir = path.join(repoRoot(), 'test', 'fuzz', 'corpus', target);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (f.startsWith('seed-')) fs.rmSync(path.join(dir, f));
  for (const [name, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, `seed-${name}`), b);
  console.log(`${target}: ${Object.keys(files).length} seeds in ${dir}`);
}

// ---- shim-agent-frames: [chunk cap][seed][requests waiting] then the pod VM's frames ----
const agent = (cap: number, waiting: number, ...frames: Buffer[]): Buffer => Buffer.concat([Buffer.from([cap, 5, waiting]), ...frames]);
const ready = agentFrame(Msg.READY, 0, []);
const agentFrames: Record<string, Buffer> = {
  'ready-reply': agent(0, 2, ready, agentFrame(Msg.REPLY, 1, [['pid', '42']]), agentFrame(Msg.REPLY, 2, [['err', 'no such container']])),
  'output-exit': agent(7, 1, ready, agentFrame(Msg.OUTPUT, 0, [['cid', 'c1'], ['eid', ''], ['fd', '2']], Buffer.from('hello\n')), agentFrame(Msg.EXIT, 0, [['cid', 'c1'], ['pid', '42'], ['status', '137']])),
  'stats-reply': agent(3, 1, agentFrame(Msg.REPLY, 1, [['cpu_ns', '123456789'], ['rss', '4096'], ['cid', 'c1']])),
  'bad-exit': agent(0, 1, agentFrame(Msg.EXIT, 0, [['cid', 'c1'], ['status', 'x']])),
  'short-frame': agent(2, 3, Buffer.from([8, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0, 0])),
};

write('shim-proto', proto);
write('shim-ttrpc-frames', frames);
write('shim-agent-frames', agentFrames);
