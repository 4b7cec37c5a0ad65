// Native against libvgpu outputs, sample by sample, from the two accuracy-mode
// runs' mlperf_log_accuracy.json: LoadGen writes every response's bytes there
// (the SUT's fp16 logits, see sut.py), keyed by QSL index.
//
// Reports how many samples are bit-identical, the largest absolute difference,
// and the samples whose prediction differs (ResNet-50: the top-1 class; BERT:
// the start or the end token) — a disagreement is what matters, a last-bit
// difference is not.
import { readFileSync } from 'node:fs';

export interface AccuracyComparison {
  samples: number;
  identical: number;
  maxAbsDiff: number;
  /** Samples whose prediction differs. */
  disagreements: number;
  /** The first few disagreeing QSL indices. */
  disagreeing: number[];
  /** In one log but not the other. */
  missing: number;
  nonFinite: { native: number; other: number };
}

interface Entry {
  qsl_idx: number;
  data: string;
}

export function readAccuracyLog(file: string): Map<number, Buffer> {
  let entries: Entry[];
  try {
    entries = JSON.parse(readFileSync(file, 'utf8')) as Entry[];
  } catch (err) {
    throw new Error(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(entries)) throw new Error(`${file} is not a LoadGen accuracy log (no JSON array)`);
  const out = new Map<number, Buffer>();
  for (const e of entries) out.set(e.qsl_idx, Buffer.from(e.data, 'hex'));
  return out;
}

/** IEEE 754 half (little-endian bytes at offset) to a number. */
export function halfAt(buf: Buffer, offset: number): number {
  const h = buf.readUInt16LE(offset);
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export function halves(buf: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < buf.length; i += 2) out.push(halfAt(buf, i));
  return out;
}

function argmax(v: number[], from: number, to: number): number {
  let best = from;
  for (let i = from; i < to; i++) if ((v[i] ?? -Infinity) > (v[best] ?? -Infinity)) best = i;
  return best - from;
}

/** The prediction a sample's logits stand for: one class, or (BERT) start and end tokens. */
function prediction(model: string, v: number[]): string {
  if (model === 'bert') {
    const seq = v.length / 2;
    return `${argmax(v, 0, seq)}:${argmax(v, seq, v.length)}`;
  }
  return String(argmax(v, 0, v.length));
}

export function compareAccuracy(model: string, native: Map<number, Buffer>, other: Map<number, Buffer>): AccuracyComparison {
  const result: AccuracyComparison = {
    samples: 0,
    identical: 0,
    maxAbsDiff: 0,
    disagreements: 0,
    disagreeing: [],
    missing: 0,
    nonFinite: { native: 0, other: 0 },
  };
  const keys = new Set([...native.keys(), ...other.keys()]);
  for (const k of [...keys].sort((a, b) => a - b)) {
    const a = native.get(k);
    const b = other.get(k);
    if (!a || !b) {
      result.missing++;
      continue;
    }
    result.samples++;
    if (a.equals(b)) {
      result.identical++;
      continue;
    }
    const va = halves(a);
    const vb = halves(b);
    if (va.some((x) => !Number.isFinite(x))) result.nonFinite.native++;
    if (vb.some((x) => !Number.isFinite(x))) result.nonFinite.other++;
    for (let i = 0; i < Math.max(va.length, vb.length); i++) {
      const d = Math.abs((va[i] ?? NaN) - (vb[i] ?? NaN));
      if (Number.isFinite(d)) result.maxAbsDiff = Math.max(result.maxAbsDiff, d);
    }
    if (va.length !== vb.length || prediction(model, va) !== prediction(model, vb)) {
      result.disagreements++;
      if (result.disagreeing.length < 20) result.disagreeing.push(k);
    }
  }
  return result;
}

/** Samples in one log, and how many hold a NaN or an infinity (a run with nothing to compare against). */
export function inspectAccuracy(log: Map<number, Buffer>): { samples: number; nonFinite: number } {
  let nonFinite = 0;
  for (const buf of log.values()) if (halves(buf).some((x) => !Number.isFinite(x))) nonFinite++;
  return { samples: log.size, nonFinite };
}
