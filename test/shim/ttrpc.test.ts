// The ttrpc layer: frames split and joined at any byte, a unary call through
// server and client over a unix socket, errors carried as status codes.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { encodeFrame, FrameReader, FrameType, HEADER_SIZE, MAX_MESSAGE } from '../../shim/ttrpc/framing.js';
import { TtrpcServer } from '../../shim/ttrpc/server.js';
import { TtrpcClient } from '../../shim/ttrpc/client.js';
import { Code, notFound, StatusError } from '../../shim/ttrpc/status.js';

t.test('frames', async (t) => {
  const a = encodeFrame(1, FrameType.Request, Buffer.from('hello'));
  const b = encodeFrame(3, FrameType.Response, Buffer.alloc(0), 2);
  t.equal(a.length, HEADER_SIZE + 5, '10-byte header');
  t.equal(a.readUInt32BE(0), 5, 'length, big-endian');
  t.equal(a.readUInt32BE(4), 1, 'stream id');
  t.equal(a[8], 1, 'type');
  const all = Buffer.concat([a, b]);
  const r = new FrameReader();
  const got = [];
  for (const byte of all) got.push(...r.push(Buffer.from([byte])));
  t.same(got.map((f) => [f.stream, f.type, f.flags, f.payload.toString()]), [[1, 1, 0, 'hello'], [3, 2, 2, '']], 'reassembled from single bytes');
  const huge = Buffer.alloc(HEADER_SIZE);
  huge.writeUInt32BE(MAX_MESSAGE + 1, 0);
  t.throws(() => new FrameReader().push(huge), /over the 4194304-byte limit/, 'an oversized frame is refused');
  t.throws(() => encodeFrame(1, FrameType.Request, Buffer.alloc(MAX_MESSAGE + 1)), /over the/, 'and never sent');
});

t.test('a unary call through server and client', async (t) => {
  const dir = fs.mkdtempSync('/tmp/ttrpc-');
  const sock = path.join(dir, 's.sock');
  const server = new TtrpcServer(pino({ level: 'silent' }));
  server.register('containerd.task.v2.Task', {
    Connect: { requestType: 'containerd.task.v2.ConnectRequest', responseType: 'containerd.task.v2.ConnectResponse', handler: async (r) => ({ shimPid: 42, taskPid: 7, version: `for ${r.id}` }) },
    State: { requestType: 'containerd.task.v2.StateRequest', responseType: 'containerd.task.v2.StateResponse', handler: async (r) => { throw notFound(`task ${r.id} not found`); } },
  });
  await server.listen(sock);
  const client = new TtrpcClient(`unix://${sock}`);
  t.teardown(async () => {
    client.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  t.equal((fs.statSync(sock).mode & 0o777).toString(8), '600', 'socket mode 0600');
  const [a, b] = await Promise.all([
    client.call('containerd.task.v2.Task', 'Connect', 'containerd.task.v2.ConnectRequest', { id: 'x' }, 'containerd.task.v2.ConnectResponse'),
    client.call('containerd.task.v2.Task', 'Connect', 'containerd.task.v2.ConnectRequest', { id: 'y' }, 'containerd.task.v2.ConnectResponse'),
  ]);
  t.same([a.shimPid, a.version, b.version], [42, 'for x', 'for y'], 'overlapping calls each get their answer');
  const e1 = (await client.call('containerd.task.v2.Task', 'State', 'containerd.task.v2.StateRequest', { id: 'gone' }, 'containerd.task.v2.StateResponse').catch((e) => e)) as StatusError;
  t.match({ code: e1.code, message: e1.message }, { code: Code.NotFound, message: /task gone not found/ }, 'an error keeps its status code');
  const e2 = (await client.call('containerd.task.v2.Task', 'Checkpoint', 'containerd.task.v2.CheckpointTaskRequest', { id: 'x' }, 'google.protobuf.Empty').catch((e) => e)) as StatusError;
  t.equal(e2.code, Code.Unimplemented, 'a method not served is Unimplemented');
});
