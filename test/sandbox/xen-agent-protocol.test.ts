// The agent protocol's frames (agent/proto.h): what the shim encodes, the
// agent's C code parses, and the other way round.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { encodeFrame, FrameReader, get, Msg } from '../../shim/sandbox/xen/agent-client.js';
import { repoPath } from '../../devkit/repo-root.js';

t.test('shim frames parsed by the agent, agent frames parsed by the shim', async (t) => {
  execFileSync('make', ['-s', '-C', repoPath('agent'), repoPath('build', 'agent', 'proto_check'), `BUILD=${repoPath('build')}`]);
  const input = Buffer.concat([
    encodeFrame(Msg.CREATE, 7, [['cid', 'abc'], ['arg', 'sh'], ['arg', '-c'], ['arg', 'echo a=b'], ['env', 'X=1=2']]),
    encodeFrame(Msg.STDIN, 0, [['cid', 'abc'], ['eid', '']], Buffer.from([0, 1, 2, 255])),
    encodeFrame(Msg.PING, 4294967295, []),
  ]);
  const out = execFileSync(repoPath('build', 'agent', 'proto_check'), { input });
  const split = out.indexOf('FRAMES\n');
  const lines = out.subarray(0, split).toString().trim().split('\n');
  t.same(lines, [
    '1 7 cid=abc;arg=sh;arg=-c;arg=echo a=b;env=X=1=2 data=',
    '5 0 cid=abc;eid= data=000102ff',
    '10 4294967295  data=',
  ]);
  const frames = new FrameReader().push(out.subarray(split + 7));
  t.equal(frames.length, 2);
  t.equal(frames[0]!.type, Msg.EXIT);
  t.same(frames[0]!.kv, [['cid', 'c1'], ['eid', ''], ['status', '137']]);
  t.equal(frames[1]!.type, Msg.OUTPUT);
  t.equal(get(frames[1]!, 'fd'), '2');
  t.same([...frames[1]!.data], [0, 1, ...Buffer.from('hello\n')]);
});

t.test('malformed frames are refused', async (t) => {
  const r = new FrameReader();
  const bad = Buffer.alloc(12);
  bad.writeUInt32LE(4, 0);
  t.throws(() => r.push(bad), /length 4/);
  t.throws(() => encodeFrame(Msg.CREATE, 1, [['a=b', 'c']]), /holds = or NUL/);
});

t.test('message numbers: agent/proto.h and the shim agree', async (t) => {
  const header = readFileSync(repoPath('agent', 'proto.h'), 'utf8');
  const c = new Map([...header.matchAll(/^\s*MSG_(\w+)\s*=\s*(\d+),/gm)].map((m) => [m[1]!, Number(m[2])]));
  t.ok(c.size >= 10, `${c.size} messages in agent/proto.h`);
  t.same(Object.fromEntries(c), Msg, 'the same names and numbers on both sides');
});
