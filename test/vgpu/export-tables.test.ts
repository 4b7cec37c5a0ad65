// libvgpu's cuGetExportTable without a GPU: every table the CUDA 13 libraries
// ask for, context-local storage, the integrity check's hash against known
// answers (the checks live in vgpu/tests/test_export_tables.c), and that
// refusals are logged once each.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';
import { parseUnsupportedSummary, unsupportedProblems } from '../../devkit/unsupported-summary.js';

const PROGRAM = repoPath('build', 'vgpu-tests', 'test_export_tables');

// No proxy is reached: the program never calls cuInit.
const r = spawnSync(PROGRAM, [], {
  encoding: 'utf8',
  env: { ...process.env, VGPU_PROXY_SOCKET: '/nonexistent/vgpu.sock', VGPU_LOG: 'warn' },
  timeout: 15_000,
});

t.test('every check of test_export_tables passes', async (t) => {
  t.equal(r.status, 0, 'exits 0', { output: r.stdout + r.stderr });
  const m = /^(PASS|FAIL): (\d+) checks, (\d+) failed/m.exec(r.stdout);
  t.ok(m, 'prints its summary', { output: r.stdout });
  t.equal(m?.[3], '0', 'no check failed', { output: r.stdout.split('\n').filter((l) => l.startsWith('FAIL')).join('\n') });
  t.ok(Number(m?.[2]) >= 70, 'storage, hash and all eleven tables were checked');
  for (const table of ['CUDART_INTERFACE', 'TOOLS_TLS', 'TOOLS_RUNTIME_CALLBACK_HOOKS', 'CONTEXT_LOCAL_STORAGE', 'CONTEXT_CHECKS',
    'INTEGRITY_CHECK', 'f8cff951', '69a28e9f', '21318c60', '1734dc26', 'da9151d3']) {
    t.match(r.stdout, new RegExp(`^ok   ${table}: a table$`, 'm'), `${table} is answered`);
  }
});

t.test('an unknown UUID is refused and logged once, naming it and the caller', async (t) => {
  const lines = r.stderr.match(/event=unsupported export_table_uuid=eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee .*/g) ?? [];
  t.equal(lines.length, 1, 'one line for two asks', { stderr: r.stderr });
  t.match(lines[0] ?? '', /caller=\S*test_export_tables result=CUDA_ERROR_INVALID_VALUE/);
});

t.test('an undocumented entry answers NOT_SUPPORTED and is logged once, naming table and slot', async (t) => {
  const lines = r.stderr.match(/event=unsupported function="export table 69a28e9f slot 5" result=CUDA_ERROR_NOT_SUPPORTED/g) ?? [];
  t.equal(lines.length, 1, 'one line for two calls', { stderr: r.stderr });
  t.notMatch(r.stderr, /unsupported_summary/, 'no exit summary below VGPU_LOG=info');
});

t.test('with VGPU_LOG=info, the exit summary names every unsupported function called and how often', async (t) => {
  const info = spawnSync(PROGRAM, [], {
    encoding: 'utf8',
    env: { ...process.env, VGPU_PROXY_SOCKET: '/nonexistent/vgpu.sock', VGPU_LOG: 'info' },
    timeout: 15_000,
  });
  t.equal(info.status, 0, 'exits 0', { output: info.stderr });
  // Two lines: libvgpu's, and that of the copy of log.c the test program links itself (it has none).
  const lines: string[] = info.stderr.match(/event=unsupported_summary .*/g) ?? [];
  t.ok(lines.includes('event=unsupported_summary functions=1 list="export table 69a28e9f slot 5 x2"'), 'the one entry, called twice', { stderr: info.stderr });
  // What test:gpu reads from it (devkit/unsupported-summary.ts).
  t.same(parseUnsupportedSummary(info.stderr), { functions: 1, list: 'export table 69a28e9f slot 5 x2' }, 'test:gpu parses it');
  t.match(unsupportedProblems(info.stderr, true)[0] ?? '', /NOT_SUPPORTED to 1 function\(s\): export table 69a28e9f slot 5 x2/, 'and fails the run on it');
  t.same(unsupportedProblems(r.stderr, true), ['libvgpu printed no unsupported-call summary at exit (VGPU_LOG=info)'], 'a run without the summary fails too');
});
