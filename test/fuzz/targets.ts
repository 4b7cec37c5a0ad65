// The fuzz targets of `npm run fuzz`: every parser a hostile guest or peer
// reaches, each run by a coverage-guided libFuzzer engine.
//
// - 'libfuzzer': a C harness built with clang -fsanitize=fuzzer,address,undefined
//   (test/fuzz/c/Makefile) into build/fuzz/<name>.
// - 'jazzer': a TypeScript harness (test/fuzz/<dir>/<name>.fuzz.ts, compiled into
//   dist/) run by Jazzer.js, whose prebuilt libFuzzer addon needs the glibc of
//   build/fuzz-runtime (tools/fuzz-node.sh). `includes` names what Jazzer
//   instruments for coverage (parts of file paths).
//
// Both print libFuzzer's own status lines and final statistics, which
// libfuzzer-output.ts reads.
import { existsSync } from 'node:fs';
import { repoPath } from '../../devkit/repo-root.js';

export interface FuzzTarget {
  name: string;
  /** What a hostile input reaches, for the table's reader. */
  what: string;
  kind: 'libfuzzer' | 'jazzer';
  /** libfuzzer: the binary; jazzer: the compiled target module. */
  entry: string;
  /** jazzer only: path parts instrumented for coverage. */
  includes?: string[];
  /** Share of the run's time, relative to the other targets. */
  weight: number;
  /** The target runs a well-behaved second guest and prints a BYSTANDER line at exit. */
  bystander?: boolean;
  /** Whose committed seeds it starts from (default its own name). */
  seeds?: string;
}

const bin = (name: string): string => repoPath('build', 'fuzz', name);
const js = (dir: string, name: string): string => repoPath('dist', 'test', 'fuzz', dir, `${name}.fuzz.js`);

/** The shim's code, the .proto loader it shares with the device plugin (dist/src/), and protobufjs's decoder that turns containerd's bytes into messages. */
const SHIM_INCLUDES = ['dist/shim/', 'dist/src/', 'protobufjs/src/'];

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'proxy-ring',
    what: 'proxy: request records, ring indices, every op\'s arguments and ownership checks, arena references (TOCTOU rewrites, sizes near 2^32/2^64)',
    kind: 'jazzer',
    entry: js('proxy', 'proxy-ring'),
    includes: ['dist/proxy/'],
    weight: 6,
    bystander: true,
  },
  {
    name: 'proxy-ring-race',
    what: 'proxy: the same, with a second thread rewriting records and indices while the proxy reads them',
    kind: 'jazzer',
    entry: js('proxy', 'proxy-ring-race'),
    includes: ['dist/proxy/'],
    seeds: 'proxy-ring',
    weight: 1,
    bystander: true,
  },
  { name: 'agent-proto', what: 'guest agent: frames and messages from the shim', kind: 'libfuzzer', entry: bin('agent-proto'), weight: 1 },
  { name: 'vgpu-reply', what: 'libvgpu: response records and payloads from a hostile proxy', kind: 'libfuzzer', entry: bin('vgpu-reply'), weight: 1 },
  { name: 'shim-ttrpc-frames', what: 'shim: ttrpc frames from containerd\'s side (split, truncated, huge lengths)', kind: 'jazzer', entry: js('shim', 'shim-ttrpc-frames'), includes: SHIM_INCLUDES, weight: 1 },
  { name: 'shim-agent-frames', what: 'shim: frames, replies and events from the pod VM\'s agent (a hostile guest)', kind: 'jazzer', entry: js('shim', 'shim-agent-frames'), includes: ['dist/shim/'], weight: 1 },
  { name: 'shim-proto', what: 'shim: protobuf Task API requests and the checks after decoding', kind: 'jazzer', entry: js('shim', 'shim-proto'), includes: SHIM_INCLUDES, weight: 1 },
];

export function targetByName(name: string): FuzzTarget {
  const t = FUZZ_TARGETS.find((x) => x.name === name);
  if (t === undefined) throw new Error(`unknown fuzz target ${name}; known: ${FUZZ_TARGETS.map((x) => x.name).join(', ')}`);
  return t;
}

/** Why the target cannot run here (its build is missing), or null. */
export function missingBuild(t: FuzzTarget): string | null {
  if (existsSync(t.entry)) return null;
  return t.kind === 'libfuzzer'
    ? `${t.entry} is not built: run \`make -C test/fuzz/c\` (needs clang-14 and libclang-rt-14-dev: tools/install-fuzz-runtime.sh)`
    : `${t.entry} is not built: run \`npm run build\``;
}

export const SEED_DIR = (t: FuzzTarget): string => repoPath('test', 'fuzz', 'corpus', t.seeds ?? t.name);
export const REGRESSION_DIR = (t: FuzzTarget): string => repoPath('test', 'fuzz', 'regressions', t.name);
const JAZZER_CLI = repoPath('node_modules', '@jazzer.js', 'core', 'dist', 'cli.js');
const FUZZ_NODE = repoPath('tools', 'fuzz-node.sh');

/** Milliseconds after which one input counts as a hang. */
export const HANG_MS = 1000;

/**
 * The command that runs a target: fuzzing for `seconds` over `corpora` (the
 * first one receives new inputs), or, with seconds = 0, each of `corpora`'s
 * files once (regression mode: libFuzzer runs files given instead of folders).
 */
export function targetCommand(t: FuzzTarget, opts: { seconds: number; corpora: string[]; artifacts?: string; extra?: string[] }): [string, string[]] {
  const engine = [`-timeout=${Math.ceil(HANG_MS / 1000)}`, '-print_final_stats=1', '-rss_limit_mb=8192'];
  if (opts.seconds > 0) engine.push(`-max_total_time=${opts.seconds}`);
  if (opts.artifacts !== undefined) engine.push(`-artifact_prefix=${opts.artifacts.endsWith('/') ? opts.artifacts : `${opts.artifacts}/`}`);
  engine.push(...(opts.extra ?? []));
  if (t.kind === 'libfuzzer') return [t.entry, [...engine, ...opts.corpora]];
  const includes = (t.includes ?? []).flatMap((i) => ['-i', i]);
  return [FUZZ_NODE, [JAZZER_CLI, t.entry, ...opts.corpora, '--sync', `--timeout=${HANG_MS}`, ...includes, '--', ...engine]];
}

/**
 * The environment a target runs in: this process's, less what makes a Node
 * child load a test runner's hooks (tap sets NODE_OPTIONS for its own coverage
 * and process tracking; under them a Jazzer.js process died at exit, killed
 * mid-way through printing its statistics).
 */
export function fuzzEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (k === 'NODE_OPTIONS' || k === 'NODE_V8_COVERAGE' || k.startsWith('_TAPJS_') || k.startsWith('TAP')) continue;
    env[k] = v;
  }
  return env;
}
