// The PyTorch checks alone (run-gpu-tests.ts runs them too, with its proxy).
//
//   node dist/test/gpu/pytorch/run-pytorch-checks.js [--check ID]... [--tolerance X] [--timeout-s S] [--work-dir DIR] [--rehearse]
//
// Starts one vgpu-proxy (a fresh one, so that "cold" start-up means an empty
// module cache), runs every case of pytorch-checks.ts natively and through
// libvgpu, prints a table and writes pytorch-checks.md and .json to $OUT
// (else results/). --rehearse starts no proxy and runs the "libvgpu" column
// natively as well: a check of this harness, not of libvgpu.
//
// Environment: VGPU_REAL_LIBCUDA (default /usr/local/nvidia/lib64/libcuda.so.1),
// VGPU_PYTHON (default python3: the one that holds PyTorch), OUT, and
// VGPU_PROXY_MAIN / VGPU_GUEST_LIB_DIR (see devkit/proxy-process.ts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PYTORCH_CASES, pytorchChecksTable, runPytorchChecks } from './pytorch-checks.js';
import { jsonWithNonFinite, pythonExe, realLibcudaPath } from './python-scripts.js';
import { describeHost, hostInfo } from '../../../devkit/host-info.js';
import { requireGuestLib, startProxy, type ProxyHandle } from '../../../devkit/proxy-process.js';
import { writeResult } from '../../../devkit/report.js';
import { repoPath } from '../../../devkit/repo-root.js';

const DEFAULT_WORK_DIR = repoPath('build', 'pytorch-checks');
const PROXY_LOG = join(repoPath('build'), 'pytorch-checks-proxy.log');

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      check: { type: 'string', multiple: true },
      tolerance: { type: 'string' },
      rehearse: { type: 'boolean' },
      'timeout-s': { type: 'string' },
      'work-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`usage: run-pytorch-checks [--check ID]... [--tolerance X] [--timeout-s S] [--work-dir DIR] [--rehearse]\nchecks: ${PYTORCH_CASES.map((c) => c.id).join(', ')}`);
    return 0;
  }
  const tolerance = values.tolerance !== undefined ? Number(values.tolerance) : 0;
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new Error(`--tolerance ${values.tolerance} is not a number >= 0`);
  const timeoutS = values['timeout-s'] !== undefined ? Number(values['timeout-s']) : 300;
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout-s ${values['timeout-s']} is not a positive number`);
  const realLibcuda = realLibcudaPath();
  const rehearse = values.rehearse === true;
  const workDir = values['work-dir'] ?? DEFAULT_WORK_DIR;

  const host = hostInfo();
  console.log(describeHost(host));
  console.log(`python: ${pythonExe()}; real driver: ${realLibcuda}`);
  mkdirSync(workDir, { recursive: true });
  let proxy: ProxyHandle | null = null;
  if (!rehearse) {
    requireGuestLib();
    proxy = await startProxy({ libcuda: realLibcuda, logFile: PROXY_LOG });
    console.log(`vgpu-proxy ${proxy.pid} ready at ${proxy.socket} (log ${PROXY_LOG})`);
  }
  let report;
  try {
    report = await runPytorchChecks(proxy, { realLibcuda, checks: values.check, tolerance, timeoutMs: timeoutS * 1000, workDir });
  } finally {
    if (proxy !== null) {
      if (!proxy.alive()) console.log(`vgpu-proxy had ended (${proxy.exitStatus()}); last lines of its log:\n${proxy.logTail(30)}`);
      await proxy.stop();
    }
  }

  const text = pytorchChecksTable(report);
  const summaryLine = `${report.passed} passed, ${report.failed} failed`;
  console.log(`\n${text}\n\n${summaryLine}`);
  const md = `# PyTorch checks: native driver vs libvgpu\n\n${describeHost(host)}\n\n${text}\n\n${summaryLine}\n`;
  const mdPath = writeResult('pytorch-checks.md', md);
  writeResult('pytorch-checks.json', jsonWithNonFinite({ date: new Date().toISOString(), host, realLibcuda, python: pythonExe(), ...report }));
  console.log(`wrote ${mdPath} and pytorch-checks.json beside it; outputs and logs of each run in ${workDir}`);
  return report.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`run-pytorch-checks: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
