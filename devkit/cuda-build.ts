// Compile kernels (nvcc) and driver-API programs (cc) for the GPU tests and
// benches, one progress line per step.
//
// Settings (environment):
//   NVCC              nvcc to use; default /usr/local/cuda/bin/nvcc, else nvcc on PATH
//   CC                C compiler; default gcc
//   CUDA_INCLUDE_DIR  folder with cuda.h; default build/cuda/include (from
//                     tools/fetch-cuda-headers.sh), else <nvcc>/../include
//   CUDA_LINK_DIR     folder with libcuda.so or libcuda.so.1 to link against;
//                     default the toolkit's lib64/stubs, else the real driver's folder
//   CUDA_ARCH         default sm_90
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { repoPath, repoRoot } from './repo-root.js';

export type ImageKind = 'fatbin' | 'cubin' | 'ptx';

export interface CudaToolchain {
  nvcc: string;
  cc: string;
  includeDir: string;
  /** Linker arguments that resolve -lcuda (a stub is fine: the run picks the library). */
  linkArgs: string[];
  arch: string;
}

export interface ToolchainOptions {
  /** Overrides CUDA_INCLUDE_DIR. */
  includeDir?: string;
  /** Folder of the real libcuda.so.1, a fallback to link against. */
  realLibcudaDir?: string;
  env?: NodeJS.ProcessEnv;
}

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

export function findToolchain(opts: ToolchainOptions = {}): CudaToolchain {
  const env = opts.env ?? process.env;
  const nvcc = env.NVCC ?? firstExisting(['/usr/local/cuda/bin/nvcc']) ?? 'nvcc';
  const cudaHome = nvcc.includes('/') ? dirname(dirname(nvcc)) : '/usr/local/cuda';

  const includeCandidates = [opts.includeDir, env.CUDA_INCLUDE_DIR].filter((d): d is string => !!d);
  let includeDir: string | undefined;
  if (includeCandidates.length > 0) {
    includeDir = includeCandidates[0]!;
    if (!existsSync(join(includeDir, 'cuda.h'))) {
      throw new Error(`${includeDir} holds no cuda.h: point --cuda-include / CUDA_INCLUDE_DIR at a CUDA 13.0 include folder`);
    }
  } else {
    includeDir = firstExisting([repoPath('build', 'cuda', 'include'), join(cudaHome, 'include')].map((d) => join(d, 'cuda.h')));
    if (includeDir === undefined) {
      throw new Error('no cuda.h found: run tools/fetch-cuda-headers.sh, or set CUDA_INCLUDE_DIR to a CUDA 13.0 include folder');
    }
    includeDir = dirname(includeDir);
  }

  const linkDirs = env.CUDA_LINK_DIR
    ? [env.CUDA_LINK_DIR]
    : [join(cudaHome, 'lib64', 'stubs'), join(cudaHome, 'targets', 'x86_64-linux', 'lib', 'stubs'), opts.realLibcudaDir].filter(
        (d): d is string => !!d,
      );
  let linkArgs: string[] | undefined;
  for (const dir of linkDirs) {
    if (existsSync(join(dir, 'libcuda.so'))) linkArgs = [`-L${dir}`, '-lcuda'];
    else if (existsSync(join(dir, 'libcuda.so.1'))) linkArgs = [`-L${dir}`, '-l:libcuda.so.1'];
    if (linkArgs) break;
  }
  if (linkArgs === undefined) {
    throw new Error(`no libcuda.so or libcuda.so.1 to link against in ${linkDirs.join(', ')}: set CUDA_LINK_DIR`);
  }
  return { nvcc, cc: env.CC ?? 'gcc', includeDir, linkArgs, arch: env.CUDA_ARCH ?? 'sm_90' };
}

export function describeToolchain(tc: CudaToolchain): string {
  return `nvcc ${tc.nvcc} (${tc.arch}), cc ${tc.cc}, cuda.h from ${tc.includeDir}, link ${tc.linkArgs.join(' ')}`;
}

function show(path: string): string {
  return path.startsWith(repoRoot) ? relative(repoRoot, path) : path;
}

/** Runs one build command; prints one line; throws with the compiler's output on failure. */
export async function buildStep(label: string, file: string, args: string[]): Promise<void> {
  const started = Date.now();
  const { code, output, error } = await new Promise<{ code: number | null; output: string; error?: string }>((resolve) => {
    let output = '';
    const child = spawn(file, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', (err) => resolve({ code: null, output, error: err.message }));
    child.on('close', (c) => resolve({ code: c, output }));
  });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (error !== undefined || code !== 0) {
    console.log(`build  ${label}  FAILED (${secs} s)`);
    const why = error !== undefined ? `cannot run ${file}: ${error}` : `exit ${code}`;
    throw new Error(`build step "${label}" failed (${why}); command:\n  ${file} ${args.join(' ')}\n${output.trim()}`);
  }
  console.log(`build  ${label}  ok (${secs} s)`);
}

/** nvcc SRC into a FATBIN, cubin or PTX image at OUT. */
export function buildKernel(tc: CudaToolchain, kind: ImageKind, src: string, out: string): Promise<void> {
  mkdirSync(dirname(out), { recursive: true });
  return buildStep(`nvcc -${kind} ${basename(src)} -> ${show(out)}`, tc.nvcc, [`-arch=${tc.arch}`, `-${kind}`, '-o', out, src]);
}

/** cc SRC (C11, one program) linked against libcuda into OUT. */
export function buildProgram(tc: CudaToolchain, src: string, out: string, includeDirs: string[] = []): Promise<void> {
  mkdirSync(dirname(out), { recursive: true });
  const args = [
    '-std=c11',
    '-O2',
    '-g',
    '-Wall',
    '-Wextra',
    `-I${tc.includeDir}`,
    ...includeDirs.map((d) => `-I${d}`),
    '-o',
    out,
    src,
    ...tc.linkArgs,
    '-pthread',
    '-ldl',
  ];
  return buildStep(`${basename(tc.cc)} ${basename(src)} -> ${show(out)}`, tc.cc, args);
}

/** Include folder with loaded_libcuda.h, for every program. */
export const SUPPORT_INCLUDE_DIR = repoPath('devkit');
