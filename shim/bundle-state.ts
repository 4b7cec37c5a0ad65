// What the shim leaves in each bundle so that its `delete` action can clean
// up after it when it is gone (killed, or crashed).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShimConfig } from './config.js';

export interface BundleState {
  namespace: string;
  id: string;
  podId: string;
  isSandbox: boolean;
  config: ShimConfig;
  /** the pod id registered with vgpu-proxy, kept in the sandbox container's bundle */
  vgpuPod: string;
}

const FILE = 'xen-cri.json';

export function writeBundleState(bundle: string, s: BundleState): void {
  fs.writeFileSync(path.join(bundle, FILE), JSON.stringify(s), { mode: 0o600 });
}

export function readBundleState(bundle: string): BundleState | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(bundle, FILE), 'utf8')) as BundleState;
  } catch {
    return null;
  }
}
