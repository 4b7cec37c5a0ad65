// Builds what the fuzz targets need before a test runs them: the C targets
// (test/fuzz/c/Makefile, clang-14 with libFuzzer) and the runtime for
// Jazzer.js (tools/install-fuzz-runtime.sh). A failure says what is missing.
import { spawnSync } from 'node:child_process';
import { repoPath } from '../../devkit/repo-root.js';

/** null when everything is built; else what failed and its output's tail. */
export function buildFuzzTargets(): string | null {
  const steps: [string, string, string[]][] = [
    ['tools/install-fuzz-runtime.sh', 'bash', [repoPath('tools', 'install-fuzz-runtime.sh')]],
    ['make -C test/fuzz/c', 'make', ['-s', '-C', repoPath('test', 'fuzz', 'c')]],
  ];
  for (const [name, file, args] of steps) {
    const r = spawnSync(file, args, { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) return `${name} failed (${r.error?.message ?? `exit ${r.status}`}):\n${(r.stdout + r.stderr).slice(-3000)}`;
  }
  return null;
}
