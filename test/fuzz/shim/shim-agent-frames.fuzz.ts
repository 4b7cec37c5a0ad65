// Fuzz target shim-agent-frames: what a hostile pod VM sends the shim over
// its vchan, cut into chunks as the vchan delivers it, through the real
// AgentClient (shim/sandbox/xen/agent-client.ts): the frame reader, the body's
// key=value list, replies matched to the shim's pending requests, output and
// exit events.
//
// Input: byte 0 caps the chunk size (0: the whole stream at once), byte 1
// seeds the chunk sizes, byte 2 says how many requests (0-7) the shim has
// waiting (ids 1..n) before the stream arrives; the rest is the stream.
//
// Stubbed: the vchan (Xen's libxenvchan cannot run here): an object with the
// same onData/onClose/start/send/close surface that records what the shim sends.
//
// The contract checked:
// - nothing the pod VM sends makes the client throw out of its data handler;
//   a protocol violation closes the channel (closed() once, vchan closed) and
//   rejects every waiting request with AgentError;
// - every waiting request settles at most once, a reply only settles the
//   request of its id; requests made after the close fail at once;
// - exit events carry integers in range.
import { AgentClient, AgentError, Msg } from '../../../shim/sandbox/xen/agent-client.js';
import type { Vchan } from '../../../shim/sandbox/xen/vchan.js';
import { drain } from './harness.js';

class FakeVchan {
  onData: (b: Buffer) => void = () => undefined;
  onClose: (why: string) => void = () => undefined;
  sent = 0;
  closed = 0;
  start(): void {}
  send(b: Buffer): void {
    this.sent += b.length;
  }
  close(): void {
    this.closed++;
  }
}

function fail(why: string): never {
  throw new Error(`shim-agent-frames: ${why}`);
}

export function fuzz(data: Buffer): void {
  if (data.length < 3) return;
  const cap = data[0]!;
  let seed = data[1]! | 1;
  const waiting = data[2]! & 7;
  const stream = data.subarray(3);

  const vchan = new FakeVchan();
  let closedCalls = 0;
  const client = new AgentClient(vchan as unknown as Vchan, {
    output: (cid, eid, fd, d) => {
      if (typeof cid !== 'string' || typeof eid !== 'string' || (fd !== 1 && fd !== 2) || !Buffer.isBuffer(d)) fail('bad output event');
    },
    exit: (cid, eid, pid, status) => {
      if (typeof cid !== 'string' || typeof eid !== 'string') fail('bad exit ids');
      if (!Number.isInteger(pid) || !Number.isInteger(status) || pid < 0 || status < 0) fail(`exit event with pid ${pid}, status ${status}`);
    },
    closed: () => {
      closedCalls++;
    },
  });

  const settled = new Map<number, 'resolved' | 'rejected'>();
  for (let i = 1; i <= waiting; i++) {
    client.request(Msg.PING, [['n', String(i)]], `request ${i}`).then(
      (f) => {
        if (settled.has(i)) fail(`request ${i} settled twice`);
        if (f.id !== i || f.type !== Msg.REPLY) fail(`request ${i} resolved with frame id ${f.id} type ${f.type}`);
        settled.set(i, 'resolved');
      },
      (err: unknown) => {
        if (settled.has(i)) fail(`request ${i} settled twice`);
        if (!(err instanceof AgentError)) fail(`request ${i} rejected with ${String(err)}`);
        settled.set(i, 'rejected');
      },
    );
  }

  // The vchan delivers the stream in chunks: the data handler must never throw.
  let at = 0;
  while (at < stream.length) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const n = cap === 0 ? stream.length : 1 + ((seed >>> 8) % cap);
    const chunk = stream.subarray(at, at + n);
    at += n;
    try {
      vchan.onData(Buffer.from(chunk));
    } catch (err) {
      fail(`the data handler threw: ${(err as Error).message}`);
    }
    if (client.closed !== null) break;
  }
  drain();

  if (client.closed !== null) {
    if (closedCalls !== 1) fail(`closed() called ${closedCalls} times`);
    if (vchan.closed < 1) fail('a protocol violation left the vchan open');
    for (let i = 1; i <= waiting; i++) if (settled.get(i) === undefined) fail(`request ${i} still waits after the close`);
    let late = false;
    client.request(Msg.PING, [], 'late').catch((err: unknown) => {
      late = err instanceof AgentError;
    });
    drain();
    if (!late) fail('a request after the close did not fail with AgentError');
  } else if (closedCalls !== 0) {
    fail('closed() without the client being closed');
  }
}
