// Where the runtime finds its own files: the folder above this module that
// holds package.json (the checkout, or the installed tree), whether this runs
// compiled (under dist/) or from source (in tests).
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null = null;

export function repoRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return (root = dir);
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`xen-cri: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
