// The rate limit on logging a guest's refusals (proxy/metrics/refusal-log.ts):
// the first few of a kind a window are logged, the rest counted and summed
// up in one line when the window ends or the guest leaves; kinds are
// limited apart; a flood costs a bounded number of lines.
import t from 'tap';
import pino from 'pino';
import { Writable } from 'node:stream';
import { RefusalLog } from '../../proxy/metrics/refusal-log.js';

function capture(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { out.push(String(chunk)); cb(); } });
  const log = pino({ level: 'info' }, pino.multistream([{ stream: sink }]));
  return { log, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

const KINDS = ['quota', 'unknown_op'];

t.test('the first perWindow of a kind are admitted, the rest held and summed at the window end', async (t) => {
  const { log, lines } = capture();
  const r = new RefusalLog(log, KINDS, { perWindow: 3, windowMs: 60_000 });
  const admitted = Array.from({ length: 10 }, (_, i) => r.admit(0, 1000 + i));
  t.same(admitted, [true, true, true, false, false, false, false, false, false, false], 'three logged, seven held');
  t.equal(r.held(0), 7);
  r.flush(30_000);
  t.equal(lines().length, 0, 'nothing summed before the window ends');
  r.flush(61_000);
  const l = lines();
  t.equal(l.length, 1, 'one line at the window end');
  t.match(l[0], { refusal: 'quota', not_logged: 7, window_s: 60 });
  t.equal(r.held(0), 0, 'the count starts again');
  t.equal(r.admit(0, 62_000), true, 'a new window logs again');
});

t.test('kinds are limited apart', async (t) => {
  const { log } = capture();
  const r = new RefusalLog(log, KINDS, { perWindow: 1 });
  t.equal(r.admit(0, 0), true);
  t.equal(r.admit(0, 1), false, 'a second quota refusal is held');
  t.equal(r.admit(1, 2), true, 'an unknown op is still logged');
});

t.test('a window that ends by a new refusal sums the old one up first', async (t) => {
  const { log, lines } = capture();
  const r = new RefusalLog(log, KINDS, { perWindow: 1, windowMs: 1000 });
  r.admit(1, 0);
  r.admit(1, 10);
  r.admit(1, 20);
  t.equal(r.admit(1, 1500), true, 'the next window logs');
  t.match(lines(), [{ refusal: 'unknown_op', not_logged: 2 }]);
});

t.test('flush with force sums up what is held (the guest leaves)', async (t) => {
  const { log, lines } = capture();
  const r = new RefusalLog(log, KINDS, { perWindow: 0 });
  r.admit(0, 0);
  r.admit(1, 0);
  r.flush(1, true);
  t.match(lines(), [{ refusal: 'quota', not_logged: 1 }, { refusal: 'unknown_op', not_logged: 1 }]);
  r.flush(2, true);
  t.equal(lines().length, 2, 'nothing held: nothing more');
});

t.test('a flood of a million refusals costs a few lines', async (t) => {
  const { log, lines } = capture();
  const r = new RefusalLog(log, KINDS);
  let logged = 0;
  // A million refusals over ten minutes of a fake clock.
  for (let i = 0; i < 1_000_000; i++) if (r.admit(i % 2, i * 0.6)) logged++;
  r.flush(600_000, true);
  t.ok(logged <= 2 * 5 * 11, `${logged} logged one by one`);
  t.ok(lines().length <= 2 * 11, `${lines().length} summary lines`);
  const summed = lines().reduce((a, l) => a + Number(l.not_logged), 0);
  t.equal(summed + logged, 1_000_000, 'every refusal is either logged or counted in a summary');
});
