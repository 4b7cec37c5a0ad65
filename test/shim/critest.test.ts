// critest (sigs.k8s.io/cri-tools v1.37.0) against containerd with the
// xen-cri runtime handler, images built here and mirrored from a local
// registry under the names critest uses.  Prints the pass/fail/skip counts;
// every spec run must pass.  Specs skipped here, each with its reason:
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { ContainerdEnv, containerdBinaries, envWithGoBin, whyNotContainerd } from '../../devkit/containerd-env.js';
import { repoPath } from '../../devkit/repo-root.js';

export const SKIPPED: [string, string][] = [
  ['Image Manager', "image-service specs (containerd's image service, not the runtime's); some pull upstream images by digest, which cannot be rebuilt offline"],
  ['NoNewPrivs', 'needs registry.k8s.io/e2e-test-images/nonewprivs:1.3 (a Go program of the Kubernetes tree), not rebuilt offline here'],
  ['HostPID', 'looks for a process named nginx (the nginx image) from another pod; the stand-in web server here is busybox httpd'],
  ['MaskedPaths', "expects `sh -c ls` to exec the masked /bin/ls; Debian's busybox-static shell runs applets in-process (standalone shell), so nothing is exec'ed"],
];

function whyNot(): string {
  const w = whyNotContainerd();
  if (w) return w;
  try {
    fs.accessSync(path.join('/usr/local/bin', 'critest'), fs.constants.X_OK);
  } catch {
    if (!envWithGoBin().PATH!.split(':').some((d) => fs.existsSync(path.join(d, 'critest')))) return 'critest is not installed (tools/install-cri-tools.sh)';
  }
  return '';
}

/** Skipped only with containerd 1.6 (the distribution's, tested when no 1.7/2.x build is there). */
const SKIPPED_1_6: [string, string][] = [
  ['Idempotence', "containerd 1.6's CRI answers NotFound for stopping an unknown pod or container (newer CRI plugins answer OK): containerd's behaviour, not the shim's"],
];

// critest runs against the releases the shim supports, 1.7 and 2.x (tools/install-containerd.sh);
// against the distribution's 1.6 only where neither was built.
const supported = containerdBinaries().filter((b) => b.supported);
const targets = supported.length > 0 ? supported : containerdBinaries();
t.setTimeout(2_000_000);
const why = whyNot();
for (const target of targets) t.test(`critest --runtime-handler=xen-cri (${target.name})`, { skip: why || false, timeout: 900_000 }, async (t) => {
  const env = new ContainerdEnv({ containerd: target.bin });
  const skipList = target.supported ? SKIPPED : [...SKIPPED, ...SKIPPED_1_6];
  await env.start();
  t.teardown(() => env.stop());
  const logFile = path.join(env.dir, 'critest.log');
  const args = [
    `--runtime-endpoint=unix://${env.sock}`,
    `--image-endpoint=unix://${env.sock}`,
    '--runtime-handler=xen-cri',
    '--ginkgo.no-color',
    `--ginkgo.skip=${skipList.map(([re]) => re).join('|')}`,
    // CRITEST_FOCUS=<regex> runs only the matching specs (to chase one failure)
    ...(process.env.CRITEST_FOCUS ? [`--ginkgo.focus=${process.env.CRITEST_FOCUS}`] : []),
  ];
  const run = (extra: string[], file: string): Promise<number> =>
    new Promise<number>((resolve) => {
      const out = fs.openSync(file, 'w');
      const c = spawn('critest', [...args, ...extra], { env: envWithGoBin(), stdio: ['ignore', out, out] });
      fs.closeSync(out);
      const timer = setTimeout(() => c.kill('SIGKILL'), 840_000);
      c.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? -1);
      });
    });
  const code = await run([], logFile);
  const log = fs.readFileSync(logFile, 'utf8');
  // kept for a look after the test folder is gone
  fs.copyFileSync(logFile, path.join(repoPath('build'), `critest-last-${target.name.replace(/\W+/g, '-')}.log`));
  const ran = /Ran (\d+) of (\d+) Specs in ([\d.]+) seconds/.exec(log);
  const counts = /(\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped/.exec(log);
  t.ok(ran && counts, 'critest ran and printed its counts', { tail: log.split('\n').slice(-30).join('\n') });
  if (!ran || !counts) return;
  const [passed, failedFirst, pending, skipped] = counts.slice(1).map(Number) as [number, number, number, number];
  const failuresFirst = [...log.matchAll(/^\s*\[FAIL\] (.*)$/gm)].map((m) => m[1]!);
  t.comment(`critest: ran ${ran[1]} of ${ran[2]} specs in ${ran[3]} s: ${passed} passed, ${failedFirst} failed, ${pending} pending, ${skipped} skipped`);
  t.comment(`skipped here: ${skipList.map(([re, why]) => `"${re}" (${why})`).join('; ')}; the rest of the skips are critest's own (Windows, AppArmor/SELinux/seccomp profiles not loaded, benchmarks, features this containerd lacks)`);
  for (const f of failuresFirst) t.comment(`FAILED: ${f}`);
  if (failedFirst > 0) {
    // What containerd and the shim logged about the object each failure last named (the
    // environment's folder, with containerd's log, is gone after the test), and the whole log kept.
    fs.copyFileSync(env.log, path.join(repoPath('build'), `critest-containerd-${target.name.replace(/\W+/g, '-')}.log`));
    for (const id of lastIdsBeforeFailures(log)) {
      const lines = env.containerdLog().split('\n').filter((l) => l.includes(id.slice(0, 12)));
      t.comment(`containerd's log on ${id.slice(0, 12)} (last ${Math.min(15, lines.length)} of ${lines.length} lines):\n${lines.slice(-15).map((l) => l.slice(0, 400)).join('\n')}`);
    }
  }
  // A failed spec runs once more, alone (kubelet's e2e jobs retry flakes the same way); a spec that
  // fails twice fails the test, and one that passes on retry is reported as flaky.
  let failures = failuresFirst;
  let failed = failedFirst;
  if (failedFirst > 0 && failuresFirst.length === failedFirst) {
    const focus = failuresFirst.map((f) => (f.split('[It] ').pop() ?? f).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    const retryLog = `${logFile}.retry`;
    await run([`--ginkgo.focus=${focus}`], retryLog);
    const retry = fs.readFileSync(retryLog, 'utf8');
    const retryCounts = /(\d+) Passed \| (\d+) Failed/.exec(retry);
    failures = [...retry.matchAll(/^\s*\[FAIL\] (.*)$/gm)].map((m) => m[1]!);
    failed = retryCounts ? Number(retryCounts[2]) : failedFirst;
    t.comment(`retried ${failedFirst} failed spec(s) alone: ${retryCounts ? `${retryCounts[1]} passed, ${retryCounts[2]} failed` : 'no counts'}`);
    for (const f of failuresFirst.filter((f) => !failures.includes(f))) t.comment(`FLAKY (passed on retry): ${f}`);
  }
  t.equal(failed, 0, 'every spec run passes', { failures });
  if (!process.env.CRITEST_FOCUS) t.ok(passed > 50, `${passed} specs passed`);
  t.equal(code, failedFirst === 0 ? 0 : 1, 'critest exit code');
});

/** For each failed spec in a critest log, the last container or pod id its timeline names. */
function lastIdsBeforeFailures(log: string): string[] {
  const ids: string[] = [];
  for (const block of log.split(/^• \[FAILED\]/m).slice(1)) {
    const timeline = block.split('<< Timeline')[0] ?? '';
    const found = [...timeline.matchAll(/\b[0-9a-f]{64}\b/g)].map((m) => m[0]);
    if (found.length > 0) ids.push(found[found.length - 1]!);
  }
  return ids;
}
