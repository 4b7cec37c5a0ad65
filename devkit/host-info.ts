// The machine a result was measured on: printed and stored with every result.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, release } from 'node:os';

export interface HostInfo {
  hostname: string;
  cpu: string;
  cpuCount: number;
  gpu: string | null;
  gpuDriver: string | null;
  kernel: string;
  node: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // not Linux: fall through to os.cpus()
  }
  return cpus()[0]?.model ?? 'unknown';
}

function nvidiaSmi(): { gpu: string | null; driver: string | null } {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (r.status !== 0 || typeof r.stdout !== 'string') return { gpu: null, driver: null };
  const first = r.stdout.split('\n')[0] ?? '';
  const [gpu, driver] = first.split(',').map((s) => s.trim());
  return { gpu: gpu || null, driver: driver || null };
}

export function hostInfo(): HostInfo {
  const smi = nvidiaSmi();
  return {
    hostname: hostname(),
    cpu: cpuModel(),
    cpuCount: cpus().length,
    gpu: smi.gpu,
    gpuDriver: smi.driver,
    kernel: release(),
    node: process.version,
  };
}

export function describeHost(h: HostInfo): string {
  const gpu = h.gpu ? `${h.gpu}${h.gpuDriver ? ` (driver ${h.gpuDriver})` : ''}` : 'no nvidia-smi';
  return `host ${h.hostname}: ${gpu}; ${h.cpu} x${h.cpuCount}; Linux ${h.kernel}; Node ${h.node}`;
}
