// A whole pod lifecycle through a real containerd with the xen-cri runtime
// (process backend), driven by crictl the way kubelet drives CRI:
// runp, create, start, ps, logs, exec --sync, exec (streaming), stop, rm,
// stopp, rmp — exit codes and log lines checked; nothing left behind.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUSYBOX_IMAGE, ContainerdEnv, containerdBinaries, whyNotContainerd } from '../../devkit/containerd-env.js';
import { leftovers, podConfig, containerConfig } from './cri-helpers.js';

/** A child the container's init leaves behind; the pod's PID namespace is shared (CRI's default, POD). */
const ORPHAN_SECONDS = 31337;
function orphans(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8') === `sleep\0${ORPHAN_SECONDS}\0`;
    } catch {
      return false;
    }
  }).map(Number);
}

t.setTimeout(300_000);
const why = whyNotContainerd();
for (const { name, bin } of containerdBinaries()) t.test(`pod lifecycle through ${name} and crictl`, { skip: why || false }, async (t) => {
  const env = new ContainerdEnv({ containerd: bin });
  await env.start();
  t.teardown(() => env.stop());
  const dir = env.dir;

  const pod = podConfig(dir, 'life');
  const pid = env.crictl(['runp', '--runtime', 'xen-cri', pod]).trim();
  t.match(pid, /^[0-9a-f]{64}$/, `runp --runtime xen-cri: pod ${pid.slice(0, 12)}`);
  t.match(env.crictl(['pods', '--id', pid]), /Ready\s+life\s+default\s+\d+\s+xen-cri/, 'pods: Ready, runtime xen-cri');

  const ctr = containerConfig(dir, 'main', BUSYBOX_IMAGE, ['sh', '-c', `echo hello-stdout; echo hello-stderr >&2; sleep ${ORPHAN_SECONDS} & trap "echo got-TERM; exit 7" TERM; while true; do sleep 0.1; done`]);
  env.crictl(['pull', BUSYBOX_IMAGE]);
  const cid = env.crictl(['create', pid, ctr, pod]).trim();
  t.match(cid, /^[0-9a-f]{64}$/, 'create');
  t.match(env.crictl(['ps', '-a', '--id', cid]), /Created\s+main/, 'ps: Created');
  env.crictl(['start', cid]);
  t.match(env.crictl(['ps', '--id', cid]), /Running\s+main/, 'ps: Running');

  // logs: both streams reach the CRI log file
  let logs = '';
  for (let i = 0; i < 50 && !logs.includes('hello-stderr'); i++) {
    logs = env.crictlResult(['logs', cid]).stdout + env.crictlResult(['logs', cid]).stderr;
    await new Promise((r) => setTimeout(r, 100));
  }
  const logFile = fs.readFileSync(path.join(dir, 'logs', 'main.log'), 'utf8');
  t.match(logFile, /stdout F hello-stdout/, 'log file: stdout line');
  t.match(logFile, /stderr F hello-stderr/, 'log file: stderr line');
  t.match(env.crictl(['logs', cid]), /hello-stdout/, 'crictl logs shows the output');

  // exec --sync: output and exit code
  const ok = env.crictlResult(['exec', '--sync', cid, 'sh', '-c', 'echo sync-out; echo sync-err >&2']);
  t.equal(ok.code, 0, 'exec --sync exits 0');
  t.match(ok.stdout, /sync-out/, 'exec --sync stdout');
  const bad = env.crictlResult(['exec', '--sync', cid, 'sh', '-c', 'exit 3']);
  t.not(bad.code, 0, 'exec --sync of a failing command fails');
  t.match(bad.stderr, /exited with 3/, 'exec --sync reports exit code 3');

  // exec (streaming): stdout, stdin, exit codes
  const st = env.crictlResult(['exec', cid, 'sh', '-c', 'echo streamed; exit 0']);
  t.equal(st.code, 0, 'exec exits 0');
  t.match(st.stdout, /streamed/, 'exec stdout streamed');
  const stin = env.crictlResult(['exec', '-i', cid, 'sh', '-c', 'tr a-z A-Z'], 60000, 'from stdin\n');
  t.equal(stin.code, 0, 'exec -i exits 0 once stdin ends');
  t.match(stin.stdout, /FROM STDIN/, 'exec -i: stdin reached the process and back');
  const st4 = env.crictlResult(['exec', cid, 'sh', '-c', 'exit 4']);
  t.not(st4.code, 0, 'exec of a failing command fails');
  t.match(st4.stderr, /command terminated with exit code 4/, 'exec: exit code 4 comes back');

  // stop: SIGTERM reaches the process, which exits 7; what it started in the pod's PID namespace
  // is killed with it (containerd 1.7+ would otherwise wait for its output to close, for ever)
  t.equal(orphans().length, 1, 'the container\'s background child runs');
  env.crictl(['stop', '--timeout', '10', cid]);
  t.same(orphans(), [], 'stop: the background child is gone too');
  const inspect = JSON.parse(env.crictl(['inspect', cid]));
  t.equal(inspect.status.state, 'CONTAINER_EXITED', 'stop: exited');
  t.equal(inspect.status.exitCode, 7, 'stop: the TERM trap ran, exit code 7');
  t.match(fs.readFileSync(path.join(dir, 'logs', 'main.log'), 'utf8'), /got-TERM/, 'the TERM trap logged');

  env.crictl(['rm', cid]);
  t.equal(env.crictl(['ps', '-a', '-q', '--id', cid]).trim(), '', 'rm: gone');
  env.crictl(['stopp', pid]);
  t.match(env.crictl(['pods', '--id', pid]), /NotReady/, 'stopp: NotReady');
  env.crictl(['rmp', pid]);
  t.equal(env.crictl(['pods', '-q', '--id', pid]).trim(), '', 'rmp: gone');

  const left = await leftovers(env, pid);
  t.same(left, [], 'no shim process, container process or mount left');
  t.notMatch(env.containerdLog(), /level=error msg=".*(shim|xen-cri)/, 'no shim error in containerd log');
});
