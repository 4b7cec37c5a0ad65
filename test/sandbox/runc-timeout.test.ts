// The shim's runc calls are bounded: a runc that does not answer is killed and
// the call fails saying so, instead of hanging containerd's request.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Runc } from '../../shim/sandbox/process/runc.js';
import { Reaper } from '../../shim/sandbox/process/reaper.js';

const hasRunc = (process.env.PATH ?? '').split(':').some((d) => fs.existsSync(path.join(d, 'runc')));

t.test('a runc that hangs is killed after its time limit', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runc-timeout-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // stands in for a runc stuck in a command: ignores its arguments, never answers
  const stuck = path.join(dir, 'stuck-runc');
  fs.writeFileSync(stuck, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
  const runc = new Runc(stuck, path.join(dir, 'root'), new Reaper());
  const t0 = Date.now();
  await t.rejects(runc.run(['start', 'c1'], { timeoutMs: 300 }), /runc start: no answer after 0 s, killed/);
  t.ok(Date.now() - t0 < 5000, 'the call failed soon after the limit, not when the command would have ended');
});

t.test('a runc that ends within its limit answers as usual', { skip: hasRunc ? false : 'runc is not installed (.ci/run installs it)' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runc-timeout-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const runc = new Runc('runc', path.join(dir, 'root'), new Reaper());
  t.match(await runc.run(['list', '--format', 'json'], { timeoutMs: 10_000 }), /^(null|\[\])?\s*$/, 'runc list on an empty root');
});
