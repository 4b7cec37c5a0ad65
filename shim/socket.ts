// Where a pod's shim listens: one socket per (containerd, namespace, pod),
// named like containerd's own shims name theirs.
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';

export const SOCKET_ROOT = '/run/containerd/s';

export function shimSocketPath(containerdAddress: string, namespace: string, groupId: string, root = process.env.XEN_CRI_SOCKET_ROOT ?? SOCKET_ROOT): string {
  const d = createHash('sha256').update(path.join(containerdAddress, namespace, groupId)).digest('hex');
  return path.join(root, d);
}

/** true when something answers on the unix socket at p. */
export function socketAlive(p: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}
