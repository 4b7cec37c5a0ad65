// CI's bounded fuzz pass: every target, the committed corpus plus new inputs,
// about two and a half minutes of wall time in all (FUZZ_CI_SECONDS), two at a
// time. Any crash, hang or failed bystander round trip fails the test.
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';
import { runCommand } from '../../devkit/run-command.js';
import { buildFuzzTargets } from './fuzz-build.js';
import { fuzzEnv } from './targets.js';

const SECONDS = Number(process.env.FUZZ_CI_SECONDS ?? '150');
t.setTimeout((SECONDS + 900) * 1000);

t.test(`npm run fuzz -- --seconds ${SECONDS}`, async (t) => {
  const built = buildFuzzTargets();
  t.equal(built, null, 'the fuzz targets build', { output: built ?? '' });
  if (built !== null) return;
  const r = await runCommand('node', [repoPath('dist', 'test', 'fuzz', 'run-fuzz.js'), '--seconds', String(SECONDS), '--jobs', '2'], {
    timeoutMs: (SECONDS + 600) * 1000,
    env: { ...fuzzEnv(), OUT: repoPath('results') },
  });
  const out = r.stdout + r.stderr;
  t.comment(out.slice(out.lastIndexOf('| target')).trim());
  t.equal(r.code, 0, 'no crash, no hang, every bystander round trip in time', { output: out.slice(-6000) });
  t.match(out, /PASS: no crash, no hang/);
});
