// Either side dying mid-call: a killed guest has its state freed and others
// go on; a killed proxy makes the guest's call fail within a second.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { runClient, startClient, startTestProxy, waitForOutput } from './ring-client.js';

t.test('guest killed mid-call: the proxy frees its state and serves others', async (t) => {
  const proxy = await startTestProxy();
  t.teardown(() => proxy.stop());
  const victim = startClient(proxy, ['stall', '3000']);
  await waitForOutput(victim.output, 'calling');
  await new Promise((r) => setTimeout(r, 200));
  victim.child.kill('SIGKILL');
  await victim.done;
  const after = await runClient(proxy, ['order', '50']);
  t.equal(after.code, 0, 'exits 0', { output: 'another guest is served at once' });
  // The proxy notices at once, though the stalled call still runs out its time.
  await new Promise((r) => setTimeout(r, 3500));
  const log = proxy.logTail(50);
  t.match(log, new RegExp(`"guest_pid":${victim.child.pid}[^\\n]*"reason":"guest_gone"[^\\n]*everything it held is released`));
  t.ok(proxy.alive());
});

t.test('proxy killed mid-call: the call fails within a second, later calls fail fast', async (t) => {
  const proxy = await startTestProxy();
  t.teardown(() => proxy.stop());
  const guest = startClient(proxy, ['stall', '8000']);
  await waitForOutput(guest.output, 'calling');
  await new Promise((r) => setTimeout(r, 200));
  process.kill(proxy.pid, 'SIGKILL');
  // In process isolation the guest's own server process must die with the proxy's death too.
  const r = await guest.done;
  const m = /RESULT stall: result=(\d+) elapsed_ms=(\d+)/.exec(r.stdout);
  t.ok(m, r.stdout + r.stderr);
  t.equal(Number(m![1]), 46, 'CUDA_ERROR_DEVICE_UNAVAILABLE');
  t.ok(Number(m![2]) < 1200, `returned after ${m![2]} ms (killed ~200 ms into the call)`);
  const after = /RESULT after: result=(\d+) elapsed_ms=(\d+)/.exec(r.stdout);
  t.equal(Number(after![1]), 46);
  t.ok(Number(after![2]) < 50, 'a later call fails at once');
  t.match(r.stderr, /event=proxy_gone/);
  void readFileSync;
});
