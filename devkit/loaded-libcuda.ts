// Check which libcuda.so.1 a program loaded, from the "libcuda: <path>" line
// that loaded_libcuda.h prints on its stderr.
import { realpathSync } from 'node:fs';

export function loadedLibcuda(stderr: string): string | undefined {
  const m = /^libcuda: (.+)$/m.exec(stderr);
  return m?.[1]?.trim();
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** null when the program loaded `expected` (compared after resolving links), else what went wrong. */
export function checkLoadedLibcuda(stderr: string, expected: string): string | null {
  const got = loadedLibcuda(stderr);
  if (got === undefined) return `printed no "libcuda: <path>" line on stderr, so which driver it used is unknown`;
  if (real(got) !== real(expected)) return `loaded ${got} (${real(got)}), expected ${expected} (${real(expected)})`;
  return null;
}
