// Every input a fuzzer ever crashed or hung a target with
// (test/fuzz/regressions/<target>/) runs through that target again and must
// pass: the bug it found stays fixed.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCommand } from '../../devkit/run-command.js';
import { buildFuzzTargets } from './fuzz-build.js';
import { FUZZ_TARGETS, fuzzEnv, REGRESSION_DIR, targetCommand } from './targets.js';

t.setTimeout(900_000);
const built = buildFuzzTargets();

for (const target of FUZZ_TARGETS) {
  const dir = REGRESSION_DIR(target);
  const files = existsSync(dir) ? readdirSync(dir).sort().map((f) => join(dir, f)) : [];
  if (files.length === 0) continue;
  t.test(`${target.name}: ${files.length} past crash inputs`, async (t) => {
    t.equal(built, null, 'the fuzz targets build');
    if (built !== null) return;
    for (const f of files) {
      const [file, args] = targetCommand(target, { seconds: 0, corpora: [f] });
      const r = await runCommand(file, args, { timeoutMs: 60_000, env: fuzzEnv() });
      t.equal(r.code, 0, `${f.split('/').slice(-1)[0]} runs clean`, { output: (r.stdout + r.stderr).slice(-3000) });
    }
  });
}
