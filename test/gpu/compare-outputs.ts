// Compare what a program wrote natively and through libvgpu: files byte for
// byte, and the stdout summaries line by line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Comparison {
  identical: boolean;
  files: number;
  /** One line per difference; empty when identical. */
  differences: string[];
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

export function compareDirs(native: string, vgpu: string): Comparison {
  const list = (d: string): string[] => readdirSync(d).filter((f) => statSync(join(d, f)).isFile()).sort();
  const a = list(native);
  const b = list(vgpu);
  const differences: string[] = [];
  for (const f of a) if (!b.includes(f)) differences.push(`${f}: written natively, missing through libvgpu`);
  for (const f of b) if (!a.includes(f)) differences.push(`${f}: written through libvgpu only`);
  for (const f of a.filter((x) => b.includes(x))) {
    const x = readFileSync(join(native, f));
    const y = readFileSync(join(vgpu, f));
    if (x.equals(y)) continue;
    differences.push(
      x.length !== y.length
        ? `${f}: ${x.length} bytes natively, ${y.length} through libvgpu`
        : `${f}: differs, first at byte ${firstDifference(x, y)} of ${x.length}`,
    );
  }
  return { identical: differences.length === 0, files: a.length, differences };
}

/** null when equal, else the first differing line of the two summaries. */
export function compareStdout(native: string, vgpu: string): string | null {
  if (native === vgpu) return null;
  const a = native.split('\n');
  const b = vgpu.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      return `stdout differs at line ${i + 1}: native ${JSON.stringify(a[i] ?? '(none)')}, libvgpu ${JSON.stringify(b[i] ?? '(none)')}`;
    }
  }
  return 'stdout differs';
}
