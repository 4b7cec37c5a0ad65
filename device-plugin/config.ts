// vgpu-device-plugin's settings, from the command line.
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parseSize } from '../src/gpu-annotations.js';
import { DEVICE_PLUGIN_DIR } from './api.js';
import type { Capacity } from './devices.js';

export const RESOURCE_NAME = 'xen-cri.io/vgpu-memory';

export interface PluginConfig extends Capacity {
  /** the kubelet's device-plugin folder: its kubelet.sock, and this plugin's socket */
  socketDir: string;
  /** this plugin's socket, a file name in socketDir */
  endpoint: string;
  resourceName: string;
  /** vgpu-proxy's control API; the devices are Unhealthy while it does not answer ('' : not checked) */
  controlSocket: string;
  /** ms between health checks, and between looks at kubelet.sock (besides inotify) */
  intervalMs: number;
  logLevel: string;
}

export const USAGE = `usage: vgpu-device-plugin --gpu-memory SIZE [options]

Advertises one GPU's device memory to the kubelet as the extended resource
xen-cri.io/vgpu-memory, one device per unit; a container that gets N units is
given N x unit of vGPU memory by the xen-cri runtime.

  --gpu-memory SIZE        the GPU's device memory (e.g. 80Gi; required)
  --reserve SIZE           memory not offered (default 0)
  --unit SIZE              memory per device, a whole number of MiB (default 256Mi)
  --gpu N                  the GPU's ordinal, part of the device ids (default 0)
  --resource-name NAME     the extended resource (default ${RESOURCE_NAME})
  --socket-dir DIR         the kubelet's device-plugin folder (default ${DEVICE_PLUGIN_DIR})
  --endpoint NAME          this plugin's socket in that folder (default xen-cri-vgpu.sock)
  --control-socket PATH    vgpu-proxy's control API, checked for health (default /run/vgpu/control.sock; '' : not checked)
  --interval-ms MS         health checks and kubelet.sock checks (default 5000)
  --log-level LEVEL        pino level (default info)
  --help`;

const MIB = 2 ** 20;
const RESOURCE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A size flag in MiB, through the annotations' size parser (src/gpu-annotations.ts): 'whole' refuses a part of a MiB, 'down' and 'up' round. */
function mib(flag: string, text: string, round: 'whole' | 'down' | 'up'): number {
  let bytes: number;
  try {
    bytes = parseSize(text);
  } catch {
    throw new Error(`${flag}: cannot read "${text}" as a size (examples: 256Mi, 80Gi)`);
  }
  if (round === 'whole' && bytes % MIB !== 0) throw new Error(`${flag}: ${text} is not a whole number of MiB`);
  return round === 'up' ? Math.ceil(bytes / MIB) : Math.floor(bytes / MIB);
}

function int(flag: string, text: string, min: number): number {
  if (!/^[0-9]+$/.test(text) || Number(text) < min) throw new Error(`${flag}: "${text}" is not a whole number of at least ${min}`);
  return Number(text);
}

export function parseConfig(argv: string[]): PluginConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'gpu-memory': { type: 'string' },
      reserve: { type: 'string', default: '0' },
      unit: { type: 'string', default: '256Mi' },
      gpu: { type: 'string', default: '0' },
      'resource-name': { type: 'string', default: RESOURCE_NAME },
      'socket-dir': { type: 'string', default: DEVICE_PLUGIN_DIR },
      endpoint: { type: 'string', default: 'xen-cri-vgpu.sock' },
      'control-socket': { type: 'string', default: '/run/vgpu/control.sock' },
      'interval-ms': { type: 'string', default: '5000' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) throw new Error(USAGE);
  if (!values['gpu-memory']) throw new Error('--gpu-memory is required (vgpu-proxy does not report the GPU\'s memory yet)');
  const unitMiB = mib('--unit', values.unit!, 'whole');
  if (unitMiB < 1) throw new Error('--unit: must be at least 1Mi');
  const endpoint = values.endpoint!;
  if (endpoint !== path.basename(endpoint) || !endpoint.endsWith('.sock') || endpoint === 'kubelet.sock') throw new Error(`--endpoint: "${endpoint}" must be a file name ending in .sock, not kubelet.sock`);
  const resourceName = values['resource-name']!;
  if (!RESOURCE.test(resourceName)) throw new Error(`--resource-name: "${resourceName}" is not an extended resource name (domain/name)`);
  const socketDir = path.resolve(values['socket-dir']!);
  if (Buffer.byteLength(path.join(socketDir, endpoint)) > 107) throw new Error(`--socket-dir/--endpoint: ${path.join(socketDir, endpoint)} is longer than a unix socket path may be`);
  const config: PluginConfig = {
    gpu: int('--gpu', values.gpu!, 0),
    totalMiB: mib('--gpu-memory', values['gpu-memory'], 'down'),
    reserveMiB: mib('--reserve', values.reserve!, 'up'),
    unitMiB,
    socketDir,
    endpoint,
    resourceName,
    controlSocket: values['control-socket']!,
    intervalMs: int('--interval-ms', values['interval-ms']!, 10),
    logLevel: values['log-level']!,
  };
  if (config.reserveMiB > config.totalMiB) throw new Error(`--reserve (${config.reserveMiB} MiB) is more than --gpu-memory (${config.totalMiB} MiB)`);
  return config;
}
