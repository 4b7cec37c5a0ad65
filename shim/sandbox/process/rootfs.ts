// The container's root file system: the mounts containerd's snapshotter
// prepared (usually one overlay), mounted at BUNDLE/rootfs with mount(8).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Mount } from '../backend.js';

const run = promisify(execFile);

export async function mountRootfs(bundle: string, mounts: Mount[]): Promise<boolean> {
  if (mounts.length === 0) return false;
  const target = path.join(bundle, 'rootfs');
  fs.mkdirSync(target, { recursive: true });
  for (const m of mounts) {
    const args = ['-t', m.type || 'none'];
    if (m.options.length) args.push('-o', m.options.join(','));
    args.push(m.source, target);
    try {
      await run('mount', args);
    } catch (err) {
      throw new Error(`mount ${m.type} ${m.source} on ${target}: ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}`);
    }
  }
  return true;
}

/** Unmounts BUNDLE/rootfs (all stacked mounts); absent or not mounted is fine. */
export async function unmountRootfs(bundle: string): Promise<void> {
  const target = path.join(bundle, 'rootfs');
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    try {
      await run('umount', [target]);
    } catch (err) {
      try {
        await run('umount', ['-l', target]);
      } catch {
        throw new Error(`umount ${target}: ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}`);
      }
    }
  }
}

export function isMountPoint(p: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  const want = path.resolve(p);
  return text.split('\n').some((line) => line.split(' ')[4]?.replace(/\\040/g, ' ') === want);
}
