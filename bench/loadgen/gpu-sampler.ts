// GPU utilisation and memory while a test runs, sampled through NVML by
// `nvidia-smi --query-gpu ... -lms PERIOD` (nvidia-smi is NVML's own client and
// comes with every driver).
//
// The whole GPU is sampled: through libvgpu the memory belongs to vgpu-proxy's
// process, natively to the SUT's; both count. Only samples inside the window
// that the SUT marks (LoadGen's test, without start-up and calibration) are
// summarized.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface GpuSample {
  /** ms since the epoch, taken when the line arrived. */
  t: number;
  utilPct: number;
  memUsedMiB: number;
  memTotalMiB: number;
}

export interface GpuStats {
  source: string;
  samples: number;
  periodMs: number;
  utilMeanPct: number;
  utilMaxPct: number;
  memUsedMeanMiB: number;
  memUsedMaxMiB: number;
  memTotalMiB: number;
}

/** null when nvidia-smi can be run, else why not. */
export function nvidiaSmiProblem(): string | null {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 15_000 });
  if (r.error) return `nvidia-smi cannot be run (${r.error.message}): GPU utilisation and memory are not sampled`;
  if (r.status !== 0) return `nvidia-smi failed (exit ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 200)})`;
  return null;
}

export function parseSmiLine(line: string, t: number): GpuSample | null {
  const parts = line.split(',').map((s) => s.trim());
  if (parts.length < 3) return null;
  const [util, used, total] = parts.map(Number);
  if (util === undefined || used === undefined || total === undefined) return null;
  if (![util, used, total].every(Number.isFinite)) return null; // "[N/A]" and the like
  return { t, utilPct: util, memUsedMiB: used, memTotalMiB: total };
}

export function summarize(samples: GpuSample[], from: number, to: number, periodMs: number): GpuStats | null {
  const inside = samples.filter((s) => s.t >= from && s.t <= to);
  if (inside.length === 0) return null;
  const mean = (f: (s: GpuSample) => number): number => inside.reduce((a, s) => a + f(s), 0) / inside.length;
  const max = (f: (s: GpuSample) => number): number => Math.max(...inside.map(f));
  return {
    source: 'NVML via nvidia-smi --query-gpu',
    samples: inside.length,
    periodMs,
    utilMeanPct: mean((s) => s.utilPct),
    utilMaxPct: max((s) => s.utilPct),
    memUsedMeanMiB: mean((s) => s.memUsedMiB),
    memUsedMaxMiB: max((s) => s.memUsedMiB),
    memTotalMiB: inside[0]!.memTotalMiB,
  };
}

export class GpuSampler {
  readonly #periodMs: number;
  readonly #gpu: string;
  #child: ChildProcess | null = null;
  #samples: GpuSample[] = [];
  #partial = '';
  #error: string | null = null;

  constructor(opts: { periodMs?: number; gpu?: string } = {}) {
    this.#periodMs = opts.periodMs ?? 200;
    this.#gpu = opts.gpu ?? process.env.CUDA_VISIBLE_DEVICES?.split(',')[0] ?? '0';
  }

  start(): void {
    const args = [
      '--query-gpu=utilization.gpu,memory.used,memory.total',
      '--format=csv,noheader,nounits',
      `-lms`,
      String(this.#periodMs),
      '-i',
      this.#gpu,
    ];
    const child = spawn('nvidia-smi', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', (err) => {
      this.#error = `nvidia-smi: ${err.message}`;
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const now = Date.now();
      const lines = (this.#partial + chunk).split('\n');
      this.#partial = lines.pop() ?? '';
      for (const line of lines) {
        const s = parseSmiLine(line, now);
        if (s) this.#samples.push(s);
      }
    });
    this.#child = child;
  }

  /** Stops sampling (the samples stay). */
  async end(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    }
  }

  /** Statistics over [from, to] (ms since the epoch), or null with the reason. */
  stats(from: number, to: number): { stats: GpuStats | null; error: string | null } {
    const stats = summarize(this.#samples, from, to, this.#periodMs);
    const error = this.#error ?? (stats === null ? 'no NVML sample fell inside the test window' : null);
    return { stats, error };
  }
}
