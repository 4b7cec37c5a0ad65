// Which container a guest process runs in, when the proxy can tell: a shm
// guest's pid (SO_PEERCRED, in the proxy's pid namespace) names a process
// of this host, and runc puts each container's processes in a cgroup named
// by the container's id (cgroupfs: .../<id>; systemd: .../cri-containerd-<id>.scope).
// A xen guest runs in a pod VM: no pid here, no container known.
import { readFileSync } from 'node:fs';

const ID = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$/;

/** The container id in one /proc/PID/cgroup text, or '' (the deepest path that names one wins). */
export function containerFromCgroup(text: string): string {
  let found = '';
  for (const line of text.split('\n')) {
    // hierarchy-ID:controllers:path
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    const m = ID.exec(path.trim());
    if (m) found = m[1]!;
  }
  return found;
}

/** The container id of process pid, or '' when it is in none (or gone, or pid 0). */
export function containerOfPid(pid: number, procRoot = '/proc'): string {
  if (!(pid > 0)) return '';
  try {
    return containerFromCgroup(readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8'));
  } catch {
    return '';
  }
}
