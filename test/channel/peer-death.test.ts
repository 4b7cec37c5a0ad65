// Either side dying mid-call: a killed guest has its state freed and others
// go on; a killed proxy makes the guest's call fail within a second.
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
});

t.test('proxy killed with 8 guests blocked in calls: every call fails within 1 s of the kill', async (t) => {
  const GUESTS = 8;
  const proxy = await startTestProxy();
  t.teardown(() => proxy.stop());
  const guests = Array.from({ length: GUESTS }, () => startClient(proxy, ['stall', '10000']));
  for (const g of guests) await waitForOutput(g.output, 'calling');
  await new Promise((r) => setTimeout(r, 200));
  // When each guest's failed call reaches us, measured from the kill (stdout arrives as the guest prints).
  const failedAt = guests.map((g) => new Promise<number>((resolve) => {
    const poll = setInterval(() => {
      if (/RESULT stall:/.test(g.output())) {
        clearInterval(poll);
        resolve(performance.now());
      }
    }, 1);
  }));
  const killedAt = performance.now();
  process.kill(proxy.pid, 'SIGKILL');
  const ms = (await Promise.all(failedAt)).map((at) => at - killedAt);
  const runs = await Promise.all(guests.map((g) => g.done));
  for (const r of runs) t.match(r.stdout, /RESULT stall: result=46 /, 'CUDA_ERROR_DEVICE_UNAVAILABLE');
  const sorted = [...ms].sort((a, b) => a - b);
  t.comment(`proxy death, ${GUESTS} guests blocked: kill -> error ms: median ${sorted[GUESTS >> 1]!.toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)} (${sorted.map((v) => v.toFixed(0)).join(' ')})`);
  t.ok(sorted.at(-1)! <= 1000, `the slowest guest saw the error ${sorted.at(-1)!.toFixed(0)} ms after the kill`);
});
