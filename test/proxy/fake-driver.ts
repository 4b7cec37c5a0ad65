// Builds test/proxy/fake-driver/fake_libcuda.c into a libcuda.so.1 for the
// metrics and status tests (no GPU here): the hand-written entry points of
// that file, plus one that answers CUDA_ERROR_NOT_SUPPORTED for every other
// function proxy/native/cuda.ts binds (read from its SIGNATURES, so a
// function added there needs no edit here).  And fake_nvml.c into a
// libnvidia-ml.so.1 with two GPUs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../devkit/repo-root.js';

/** The checkout (this file runs from test/proxy/ or dist/test/proxy/). */
export const REPO = repoRoot;

const CUDA_ERROR_NOT_SUPPORTED = 801;

/** The path of a freshly built fake libcuda.so.1. */
export function buildFakeLibcuda(): string {
  const source = readFileSync(join(REPO, 'test', 'proxy', 'fake-driver', 'fake_libcuda.c'), 'utf8');
  const bound = readFileSync(join(REPO, 'proxy', 'native', 'cuda.ts'), 'utf8');
  const wanted = [...bound.matchAll(/^\s+(cu\w+): '/gm)].map((m) => m[1]!);
  const defined = new Set([...source.matchAll(/^int (cu\w+)\(/gm)].map((m) => m[1]!));
  const stubs = wanted.filter((n) => !defined.has(n)).map((n) => `int ${n}() { return ${CUDA_ERROR_NOT_SUPPORTED}; }`);
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-fake-cuda-'));
  const c = join(dir, 'fake_libcuda.c');
  writeFileSync(c, `${source}\n/* generated: every other function vgpu-proxy binds */\n${stubs.join('\n')}\n`);
  const lib = join(dir, 'libcuda.so.1');
  execFileSync('cc', ['-std=gnu17', '-shared', '-fPIC', '-O1', '-o', lib, c], { stdio: 'pipe' });
  return lib;
}

/** The path of a freshly built fake libnvidia-ml.so.1 (two GPUs, fixed figures: fake_nvml.c). */
export function buildFakeNvml(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-fake-nvml-'));
  const lib = join(dir, 'libnvidia-ml.so.1');
  execFileSync('cc', ['-std=gnu17', '-shared', '-fPIC', '-O1', '-o', lib, join(REPO, 'test', 'proxy', 'fake-driver', 'fake_nvml.c')], { stdio: 'pipe' });
  return lib;
}
