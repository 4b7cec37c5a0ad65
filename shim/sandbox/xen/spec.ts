// From an OCI bundle (config.json, as containerd's CRI wrote it for the
// host) to what the guest agent runs: the process, and mounts that make sense
// inside a pod VM.  Host files (hosts, resolv.conf, hostname, termination
// log) travel as copies; the pod's /dev/shm becomes a tmpfs of the VM.  Any
// other host directory cannot reach a pod VM: that is an error, never a silent
// omission.  A container given the pod's vGPU gets the pod VM's own copy of
// libvgpu and the Xen devices of its channel (grants, event channels,
// xenstore), and VGPU_TRANSPORT=xen.
import * as fs from 'node:fs';
import { GUEST_LIB_DIR, withVgpuEnv } from '../../pod-vgpu/container-env.js';
import type { Pairs } from './agent-client.js';

export interface OciProcess {
  args?: string[];
  env?: string[];
  cwd?: string;
  terminal?: boolean;
  user?: { uid?: number; gid?: number; additionalGids?: number[] };
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface GuestFile {
  name: string;
  data: Buffer;
}

export interface Translated {
  kv: Pairs;
  files: GuestFile[];
}

const FILE_MAX = 1 << 20;
const PASS_TYPES = new Set(['proc', 'sysfs', 'devpts', 'tmpfs', 'mqueue', 'cgroup', 'cgroup2']);
/** Where the pod VM keeps libvgpu (as libcuda.so.1): nodeimage/build-guest.sh. */
export const GUEST_VGPU_LIB = '/usr/lib/xen-cri/vgpu';

export function processPairs(p: OciProcess, withStdin: boolean): Pairs {
  const kv: Pairs = [];
  if (!p.args?.length) throw new Error('backend xen: the process has no arguments');
  for (const a of p.args) kv.push(['arg', a]);
  for (const e of p.env ?? []) kv.push(['env', e]);
  kv.push(['cwd', p.cwd || '/']);
  kv.push(['uid', String(p.user?.uid ?? 0)], ['gid', String(p.user?.gid ?? 0)]);
  kv.push(['gids', (p.user?.additionalGids ?? []).join(',')]);
  kv.push(['terminal', p.terminal ? '1' : '0'], ['stdin', withStdin ? '1' : '0']);
  return kv;
}

/**
 * The mounts of a container for the agent (TYPE|SOURCE|DEST|OPTIONS) and the
 * files to copy first.  vgpu: the container is given the pod's vGPU (the pod
 * VM's libvgpu at GUEST_LIB_DIR, read-only, and its Xen devices, after the
 * bundle's own mounts).
 */
export function translateMounts(mounts: OciMount[], vgpu: boolean): Translated {
  const kv: Pairs = [];
  const files: GuestFile[] = [];
  for (const [i, m] of mounts.entries()) {
    const type = m.type ?? 'bind';
    const opts = (m.options ?? []).filter((o) => !['rbind', 'bind', 'rprivate', 'private', 'rslave', 'slave'].includes(o));
    const isBind = type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (m.destination.includes('|') || (m.source ?? '').includes('|')) throw new Error(`backend xen: mount ${m.destination}: "|" in a path`);
    if (!isBind) {
      if (!PASS_TYPES.has(type)) throw new Error(`backend xen: mount ${m.destination} of type ${type} is not supported in pod VMs`);
      kv.push(['mount', `${type}|${m.source ?? type}|${m.destination}|${opts.join(',')}`]);
      continue;
    }
    const src = m.source ?? '';
    if (m.destination === '/dev/shm') {
      kv.push(['mount', 'tmpfs|shm|/dev/shm|nosuid,nodev,noexec,mode=1777,size=65536k']);
      continue;
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(src);
    } catch (err) {
      throw new Error(`backend xen: mount ${m.destination}: its source ${src}: ${(err as Error).message}`);
    }
    if (!st.isFile()) throw new Error(`backend xen: mount ${m.destination}: host directories (${src}) cannot be shared with a pod VM; only files are copied`);
    if (st.size > FILE_MAX) throw new Error(`backend xen: mount ${m.destination}: ${src} is ${st.size} bytes, more than the ${FILE_MAX} a pod VM gets copied`);
    const name = `m${i}`;
    files.push({ name, data: fs.readFileSync(src) });
    kv.push(['mount', `bind|file:${name}|${m.destination}|${opts.join(',')}`]);
  }
  if (vgpu) {
    kv.push(['mount', `bind|guest:${GUEST_VGPU_LIB}|${GUEST_LIB_DIR}|ro`]);
    // libvgpu's xen transport: grants, event channels and xenstore, through the pod VM's devices.
    kv.push(['mount', 'bind|guest:/dev/xen|/dev/xen|']);
  }
  return { kv, files };
}

/** The vGPU environment inside a pod VM: the library folder first, the xen transport (a socket the image names means nothing there). */
export function vgpuEnv(env: string[] | undefined): string[] {
  return withVgpuEnv(env, [['VGPU_TRANSPORT', 'xen']], ['VGPU_PROXY_SOCKET']);
}
