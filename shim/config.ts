// The shim's configuration: a JSON file named by the runtime options
// containerd passes (runtimeoptions.v1.Options: ConfigPath, or ConfigBody),
// else $XEN_CRI_CONFIG, else /etc/xen-cri/config.json.  Every key is
// checked; an unknown one is an error, never ignored.
import * as fs from 'node:fs';
import { decode } from '../src/proto/load.js';

export interface VgpuConfig {
  /** vgpu-proxy's control socket (gRPC) */
  controlSocket: string;
  /** host folder holding libcuda.so.1 -> libvgpu.so, bind-mounted read-only into GPU containers */
  guestLibDir: string;
}

export interface ShimConfig {
  backend: 'process' | 'xen';
  /** runc binary (process backend) */
  runc: string;
  /** the runtime's state folder (runc roots, pod records) */
  stateDir: string;
  logLevel: string;
  vgpu: VgpuConfig;
  /** where the config came from, for messages */
  source: string;
}

export const DEFAULT_CONFIG_PATH = '/etc/xen-cri/config.json';
const KEYS = ['backend', 'runc', 'stateDir', 'logLevel', 'vgpu'];
const VGPU_KEYS = ['controlSocket', 'guestLibDir'];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export class ConfigError extends Error {}

export function parseConfig(text: string, source: string): ShimConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`xen-cri configuration ${source}: not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`xen-cri configuration ${source}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) throw new ConfigError(`xen-cri configuration ${source}: unknown option "${k}" (known: ${KEYS.join(', ')})`);
  const str = (v: unknown, key: string, dflt?: string): string => {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'string' || v === '') throw new ConfigError(`xen-cri configuration ${source}: "${key}" must be a non-empty string`);
    return v;
  };
  const backend = o.backend;
  if (backend !== 'process' && backend !== 'xen') {
    throw new ConfigError(`xen-cri configuration ${source}: "backend" must be "process" or "xen" (got ${JSON.stringify(backend)}); it is never chosen for you`);
  }
  const logLevel = str(o.logLevel, 'logLevel', 'info');
  if (!LEVELS.includes(logLevel)) throw new ConfigError(`xen-cri configuration ${source}: "logLevel" must be one of ${LEVELS.join(', ')}`);
  const v = (o.vgpu ?? {}) as Record<string, unknown>;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`xen-cri configuration ${source}: "vgpu" must be an object`);
  for (const k of Object.keys(v)) if (!VGPU_KEYS.includes(k)) throw new ConfigError(`xen-cri configuration ${source}: unknown option "vgpu.${k}" (known: ${VGPU_KEYS.join(', ')})`);
  return {
    backend,
    runc: str(o.runc, 'runc', 'runc'),
    stateDir: str(o.stateDir, 'stateDir', '/run/xen-cri'),
    logLevel,
    vgpu: {
      controlSocket: str(v.controlSocket, 'vgpu.controlSocket', '/run/vgpu/control.sock'),
      guestLibDir: str(v.guestLibDir, 'vgpu.guestLibDir', '/opt/xen-cri/lib/vgpu'),
    },
    source,
  };
}

export function readConfigFile(path: string): ShimConfig {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`xen-cri configuration ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parseConfig(text, path);
}

/**
 * The configuration for these runtime options (the Any containerd passes to
 * `start` on stdin and in CreateTaskRequest.options); null/empty: the default file.
 */
export function configFromOptions(options: { typeUrl: string; value: Buffer } | null, env: NodeJS.ProcessEnv = process.env): ShimConfig {
  if (options && options.typeUrl) {
    const t = options.typeUrl.replace(/^.*\//, '');
    if (t !== 'runtimeoptions.v1.Options') {
      throw new ConfigError(`xen-cri: runtime options of type ${options.typeUrl} are not understood; set ConfigPath (runtimeoptions.v1.Options) in containerd's runtime options`);
    }
    const o = decode<{ typeUrl: string; configPath: string; configBody: Buffer }>('runtimeoptions.v1.Options', options.value);
    if (o.configBody && o.configBody.length) return parseConfig(o.configBody.toString('utf8'), 'ConfigBody');
    if (o.configPath) return readConfigFile(o.configPath);
  }
  return readConfigFile(env.XEN_CRI_CONFIG || DEFAULT_CONFIG_PATH);
}
