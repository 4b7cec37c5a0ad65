// The local node under QEMU, for tests: builds the images (nodeimage/), runs
// one job in dom0 (nodeimage/boot-qemu.sh) and reads its results.
//
//   const run = await runInDom0('idm', readFileSync('test/xen/dom0/idm.sh'));
//   run.results   RESULT lines: { name, ok, detail }
//   run.timings   TIMING lines: name -> ms
//   run.output    everything the job printed; run.file('guest-x.log') its other files
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoPath } from '../../devkit/repo-root.js';

export interface JobResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Dom0Run {
  rc: number;
  output: string;
  results: JobResult[];
  timings: Map<string, number>;
  /** wall time of the whole boot, QEMU start to power-off, ms */
  bootMs: number;
  dir: string;
  file(name: string): string;
  serialTail(n?: number): string;
}

const NODEIMAGE = repoPath('nodeimage');
const OUT = repoPath('build', 'nodeimage');

/** Why this machine cannot boot the node (root, packages), or '' when it can. */
export function whyNotQemuNode(): string {
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot)';
  for (const tool of ['qemu-system-x86_64', 'debootstrap', 'cpio', 'busybox', 'mke2fs', 'modprobe']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (.ci/run installs qemu-system-x86 debootstrap cpio busybox-static e2fsprogs kmod)`;
    }
  }
  return '';
}

function run(script: string, args: string[] = []): void {
  execFileSync('bash', [path.join(NODEIMAGE, script), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Builds (or reuses) dom0 and the pod VM, and makes the payload disk dom0 mounts at /opt/xen-cri. */
export function buildNode(): void {
  run('build-dom0.sh');
  run('build-guest.sh');
  run('make-payload.sh', ['--image']);
}

export async function runInDom0(name: string, script: string, opts: { timeoutS?: number; files?: Record<string, string> } = {}): Promise<Dom0Run> {
  const dir = path.join(OUT, 'jobs', `${name}-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(repoPath('test', 'xen', 'dom0', 'lib.sh'), path.join(dir, 'lib.sh'));
  for (const [f, text] of Object.entries(opts.files ?? {})) fs.writeFileSync(path.join(dir, f), text);
  fs.writeFileSync(path.join(dir, 'run.sh'), script);
  const t0 = performance.now();
  const rc = await new Promise<number>((resolve) => {
    const child = spawn('bash', [path.join(NODEIMAGE, 'boot-qemu.sh'), dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, BOOT_TIMEOUT: String(opts.timeoutS ?? 900) },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code === 125) process.stderr.write(err);
      resolve(code ?? 1);
    });
  });
  const bootMs = performance.now() - t0;
  const read = (f: string): string => {
    try {
      return fs.readFileSync(path.join(dir, f), 'utf8');
    } catch {
      return '';
    }
  };
  const output = read('output.log');
  const results: JobResult[] = [];
  const timings = new Map<string, number>();
  // Guest consoles end lines with \r\n.
  for (const line of output.split('\n').map((l) => l.replace(/\r+$/, ''))) {
    let m = /^RESULT (\S+) (ok|fail) ?(.*)$/.exec(line);
    if (m) results.push({ name: m[1]!, ok: m[2] === 'ok', detail: m[3]! });
    m = /^TIMING (\S+) (\d+)$/.exec(line);
    if (m) timings.set(m[1]!, Number(m[2]));
  }
  return {
    rc,
    output,
    results,
    timings,
    bootMs,
    dir,
    file: read,
    serialTail: (n = 40) => read('serial.log').split('\n').slice(-n).join('\n'),
  };
}
