// Summaries of repeated bench runs: median and spread.

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, in percent. */
  spreadPct: number;
  values: number[];
}

export function summarize(values: number[]): Summary {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  const min = v[0] ?? NaN;
  const max = v.at(-1) ?? NaN;
  return { median, min, max, spreadPct: median !== 0 ? ((max - min) / Math.abs(median)) * 100 : 0, values };
}

/** Unit and direction, from the metric's name suffix (see calls_bench.c). */
export function metricKind(name: string): { unit: string; better: 'lower' | 'higher' } {
  if (name.endsWith('_gbps')) return { unit: 'GB/s', better: 'higher' };
  if (name.endsWith('_per_s')) return { unit: '1/s', better: 'higher' };
  return { unit: 'µs', better: 'lower' };
}

export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 10000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(1);
  return Number(v.toPrecision(3)).toString();
}
