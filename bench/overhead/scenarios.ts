// The model scenarios of bench:overhead: one process of
// bench/models/latency.py per scenario and run.
import { field, numberField } from '../../test/gpu/pytorch/python-scripts.js';

export interface Scenario {
  id: string;
  title: string;
  model: 'resnet50' | 'bert-large';
  batch: number;
  /** Untimed forwards, then timed ones (before BENCH_ITERS_SCALE). */
  warmup: number;
  iters: number;
}

// Iterations: a few seconds of timed forwards each, so that p99 rests on at
// least 5 samples, and a whole run (3 x 2 processes per scenario) stays within
// a few minutes.
export const SCENARIOS: readonly Scenario[] = [
  { id: 'resnet50-bs1', title: 'ResNet-50 fp16 bs1', model: 'resnet50', batch: 1, warmup: 50, iters: 500 },
  { id: 'resnet50-bs64', title: 'ResNet-50 fp16 bs64', model: 'resnet50', batch: 64, warmup: 10, iters: 200 },
  { id: 'bert-large-bs8', title: 'BERT-Large fp16 bs8x384', model: 'bert-large', batch: 8, warmup: 10, iters: 150 },
];

/** latency.py's arguments; deterministic: the checks' settings instead of PyTorch's defaults. */
export function latencyArgs(s: Scenario, itersScale: number, deterministic: boolean): string[] {
  const iters = Math.max(1, Math.round(s.iters * itersScale));
  const warmup = Math.max(1, Math.round(s.warmup * itersScale));
  const args = ['--model', s.model, '--batch', String(s.batch), '--iters', String(iters), '--warmup', String(warmup)];
  return deterministic ? [...args, '--deterministic'] : args;
}

/** What one latency.py process measured. */
export interface LatencySample {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  throughputPerS: number;
  /** Process start to first result, seconds. */
  firstResultS: number | null;
  /** The device's name as PyTorch reported it. */
  device: string | null;
}

export function parseLatency(json: Record<string, unknown> | null): LatencySample {
  const p50 = numberField(field(json, 'latency_ms', 'p50'));
  const p99 = numberField(field(json, 'latency_ms', 'p99'));
  const mean = numberField(field(json, 'latency_ms', 'mean'));
  const tput = numberField(field(json, 'throughput_per_s'));
  if (p50 === null || p99 === null || mean === null || tput === null) {
    throw new Error(`latency.py's JSON lacks latency_ms.p50/p99/mean or throughput_per_s: ${JSON.stringify(json).slice(0, 400)}`);
  }
  return {
    p50Ms: p50,
    p99Ms: p99,
    meanMs: mean,
    throughputPerS: tput,
    firstResultS: numberField(field(json, 'startup_s', 'first_result')),
    device: typeof json?.device === 'string' ? json.device : null,
  };
}
