// A hostile guest: every malformed request is answered with an error or
// closes that guest's channel, never the proxy, while another guest keeps
// being served throughout.
import * as net from 'node:net';
import t from 'tap';
import { runClient, startClient, startTestProxy } from './ring-client.js';

const ANSWERED = ['arena-out-of-range', 'arena-too-long', 'unknown-op', 'short-payload', 'stall-too-long', 'foreign-handle'];
const FAULTS = ['bad-length', 'length-past-tail', 'tail-beyond-ring', 'garbage', 'unread-answers'];

t.test('hostile requests', async (t) => {
  const proxy = await startTestProxy();
  t.teardown(() => proxy.stop());
  // The bystander: another guest doing checked echoes for the whole test.
  const bystander = startClient(proxy, ['bystander', '12']);

  for (const c of ANSWERED) {
    t.test(`${c}: answered with an error, the channel goes on`, async (t) => {
      const r = await runClient(proxy, ['hostile', c]);
      t.equal(r.code, 0, 'exits 0', { output: r.stdout + r.stderr });
      t.match(r.stdout, new RegExp(`^PASS hostile ${c}: answered \\d+, channel still serves`, 'm'));
    });
  }
  for (const c of FAULTS) {
    t.test(`${c}: that guest's channel is closed, and it is told at once`, async (t) => {
      const r = await runClient(proxy, ['hostile', c]);
      t.equal(r.code, 0, 'exits 0', { output: r.stdout + r.stderr });
      t.match(r.stdout, new RegExp(`^PASS hostile ${c}:`, 'm'));
    });
  }
  t.test('a hello of garbage is refused and the connection closed', async (t) => {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(proxy.socket);
      const chunks: Buffer[] = [];
      // Exactly a hello's size (80 bytes), so the proxy reads all of it before it answers and closes.
      s.on('connect', () => s.write(Buffer.alloc(80, 0x41)));
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
    t.equal(answer.readInt32LE(4) !== 0, true, 'the welcome carries a non-zero status');
    t.match(answer.subarray(16).toString('utf8'), /bad_hello|descriptors/);
  });

  const b = await bystander.done;
  t.equal(b.code, 0, 'exits 0', { output: `bystander: ${b.stdout}${b.stderr}` });
  t.match(b.stdout, /^PASS bystander: \d+ answered calls/m);
  t.ok(proxy.alive(), 'the proxy is still running');
});
