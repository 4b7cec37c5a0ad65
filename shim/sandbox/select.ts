// The backend named by the configuration: never chosen silently.
import type { Logger } from 'pino';
import type { ShimConfig } from '../config.js';
import type { SandboxBackend } from './backend.js';
import { ProcessBackend } from './process/backend.js';
import { XenBackend } from './xen/backend.js';

export function backendFor(config: ShimConfig, log: Logger): SandboxBackend {
  switch (config.backend) {
    case 'process':
      return new ProcessBackend({ runc: config.runc, stateDir: config.stateDir, vgpuLibDir: config.vgpu.guestLibDir }, log);
    case 'xen':
      return new XenBackend({ stateDir: config.stateDir }, log);
  }
}
