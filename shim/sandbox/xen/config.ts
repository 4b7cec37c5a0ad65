// The xen backend's own settings: /etc/xen-cri/xen.json (or
// $XEN_CRI_XEN_CONFIG).  The shim's config.json names the backend; this file
// names the pod VM and how pods are sized.  Unknown keys are errors.
import * as fs from 'node:fs';

export interface XenConfig {
  /** the pod VM's PV kernel */
  kernel: string;
  /** the pod VM's initramfs (with the agent) */
  ramdisk: string;
  /** MiB every pod VM gets on top of what the pod asks for (kernel, agent, page cache) */
  baseMemoryMiB: number;
  /** MiB of a pod that asks for nothing */
  defaultMemoryMiB: number;
  defaultVcpus: number;
  /** where pod disks (image layers, writable layers) are made */
  diskDir: string;
  /** size of each container's writable layer, MiB (a sparse file) */
  writableMiB: number;
  /** how long a pod VM may take from xl create to its agent answering, ms */
  bootTimeoutMs: number;
  /** the pod VM's kernel command line, after console=hvc0 */
  extra: string;
  /** the xl binary */
  xl: string;
  /** libxl's hotplug script for pod disks (nodeimage/provision.sh installs it) */
  blockScript: string;
}

export const DEFAULT_XEN_CONFIG_PATH = '/etc/xen-cri/xen.json';

const DEFAULTS: XenConfig = {
  kernel: '/opt/xen-cri/guest/vmlinuz',
  ramdisk: '/opt/xen-cri/guest/initrd.img',
  baseMemoryMiB: 160,
  defaultMemoryMiB: 256,
  defaultVcpus: 1,
  diskDir: '/var/lib/xen-cri/disks',
  writableMiB: 1024,
  bootTimeoutMs: 120_000,
  extra: 'quiet',
  xl: 'xl',
  blockScript: '/usr/local/lib/xen-cri/hotplug-block',
};

export function readXenConfig(path = process.env.XEN_CRI_XEN_CONFIG || DEFAULT_XEN_CONFIG_PATH): XenConfig {
  let raw: Record<string, unknown> = {};
  if (fs.existsSync(path)) {
    try {
      raw = JSON.parse(fs.readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`backend xen: ${path}: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`backend xen: ${path}: expected a JSON object`);
  }
  const out: XenConfig = { ...DEFAULTS };
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in DEFAULTS)) throw new Error(`backend xen: ${path}: unknown option "${k}" (known: ${Object.keys(DEFAULTS).join(', ')})`);
    const want = typeof DEFAULTS[k as keyof XenConfig];
    if (typeof v !== want || (want === 'number' && !(Number(v) > 0))) throw new Error(`backend xen: ${path}: "${k}" must be a ${want === 'number' ? 'positive number' : want}`);
    (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}
