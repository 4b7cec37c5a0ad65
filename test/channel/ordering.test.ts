// The IDM channel between a C guest and vgpu-proxy, over real shared memory:
// ordering, wrap-around, payloads larger than the arena, many threads.
import t from 'tap';
import { runClient, startTestProxy } from './ring-client.js';

for (const isolation of ['process', 'thread']) {
  t.test(`channel with guest isolation ${isolation}`, async (t) => {
    const proxy = await startTestProxy(['--guest-isolation', isolation]);
    t.teardown(() => proxy.stop());

    t.test('an answered request sees every unanswered one sent before it', async (t) => {
      const r = await runClient(proxy, ['order', '500']);
      t.equal(r.code, 0, 'exits 0', { output: r.stdout + r.stderr });
      t.match(r.stdout, /^PASS order: 500 rounds/m);
    });

    t.test('records wrap a small request ring many times, PAD records included', async (t) => {
      const r = await runClient(proxy, ['wrap', '4000'], { VGPU_REQ_RING_KIB: '128' });
      t.equal(r.code, 0, 'exits 0', { output: r.stdout + r.stderr });
      const laps = Number(/\(([\d.]+) laps/.exec(r.stdout)?.[1]);
      t.ok(laps > 20, `went round the ring ${laps} times`);
    });

    t.test('a payload larger than the arena arrives byte for byte', async (t) => {
      const r = await runClient(proxy, ['bulk', '40'], { VGPU_ARENA_MIB: '4' });
      t.equal(r.code, 0, 'exits 0', { output: r.stdout + r.stderr });
      t.match(r.stdout, /PASS bulk: 40 MiB through a 4 MiB arena/);
    });

    t.test('16 threads share one channel and each gets its own answers', async (t) => {
      const r = await runClient(proxy, ['threads', '16', '400']);
      t.equal(r.code, 0, 'exits 0', { output: r.stdout + r.stderr });
      t.match(r.stdout, /PASS threads: 16 threads x 400/);
    });
  });
}
