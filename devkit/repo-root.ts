// The repository root, found from this module's own location so that the
// source (devkit/) and the compiled copy (dist/devkit/) agree.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'vgpu'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`no repository root (a folder with package.json and vgpu/) above ${start}`);
    }
    dir = parent;
  }
}

export const repoRoot: string = findRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the repository, from repo-relative parts. */
export function repoPath(...parts: string[]): string {
  return join(repoRoot, ...parts);
}
