// Where results go and how tables look.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from './repo-root.js';

/** $OUT when set (the GPU machine's return folder), else results/ in the repository. */
export function resultsDir(): string {
  const dir = process.env.OUT || repoPath('results');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function writeResult(name: string, content: string): string {
  const path = join(resultsDir(), name);
  writeFileSync(path, content.endsWith('\n') ? content : `${content}\n`);
  return path;
}

/** A markdown table with padded columns, readable as plain text too. */
export function markdownTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** 2026-11-25T17-30-00 — safe in file names. */
export function stamp(d: Date = new Date()): string {
  return d.toISOString().slice(0, 19).replace(/:/g, '-');
}
