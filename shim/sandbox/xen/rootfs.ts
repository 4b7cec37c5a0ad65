// Container root file systems for pod VMs, as block devices built from
// containerd's snapshot (the overlayfs snapshotter's mount):
//
//   lowerdir=L1:L2:...  (image layers, read-only)  -> one ext4 image of the layers merged,
//                                                     cached by the layer list (layers never change)
//   upperdir=U          (the writable layer)       -> a sparse ext4 image made from U
//
// The guest agent mounts the first read-only, the second read-write, and
// joins them with overlayfs (agent/container.c).  ext4 without metadata
// checksums, so the pod VM needs no crc32c module.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Mount } from '../backend.js';
import { run } from './domain.js';

export interface SnapshotLayers {
  lower: string[];
  upper: string;
}

/** Reads containerd's rootfs mounts (one overlay mount, or a bind of a single directory). */
export function snapshotLayers(mounts: Mount[]): SnapshotLayers {
  if (mounts.length !== 1) throw new Error(`backend xen: the rootfs must be one mount (got ${mounts.length}); use containerd's overlayfs snapshotter`);
  const m = mounts[0]!;
  if (m.type === 'overlay') {
    const opt = (k: string): string => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
    const lower = opt('lowerdir').split(':').filter(Boolean);
    const upper = opt('upperdir');
    if (!lower.length || !upper) throw new Error('backend xen: the overlay rootfs lacks lowerdir or upperdir');
    return { lower, upper };
  }
  if (m.type === 'bind') return { lower: [], upper: m.source };
  throw new Error(`backend xen: rootfs mounts of type ${m.type} are not supported (use containerd's overlayfs snapshotter)`);
}

const MKE2FS = ['-q', '-t', 'ext4', '-O', '^metadata_csum,^64bit', '-E', 'root_owner=0:0', '-m', '0'];

async function duMiB(dir: string): Promise<number> {
  const out = await run('du', ['-sm', '--apparent-size', dir]);
  return Number(out.split('\t')[0]) || 0;
}

/** The image layers merged into one read-only ext4 image; cached by their list. */
export async function layersImage(diskDir: string, lower: string[]): Promise<string> {
  fs.mkdirSync(diskDir, { recursive: true });
  const key = createHash('sha256').update(lower.join(':')).digest('hex').slice(0, 24);
  const img = path.join(diskDir, `layers-${key}.img`);
  if (fs.existsSync(img)) return img;
  const tmp = `${img}.${process.pid}.tmp`;
  let src = lower[0] ?? '';
  let merged = '';
  try {
    if (lower.length === 0) {
      src = fs.mkdtempSync(path.join(os.tmpdir(), 'xen-cri-empty-'));
      merged = src;
    } else if (lower.length > 1) {
      // overlayfs merges the layers (whiteouts included) for us to copy from.
      merged = fs.mkdtempSync(path.join(os.tmpdir(), 'xen-cri-layers-'));
      await run('mount', ['-t', 'overlay', '-o', `ro,lowerdir=${lower.join(':')}`, 'overlay', merged]);
      src = merged;
    }
    const mib = Math.ceil((await duMiB(src)) * 1.3) + 16;
    fs.rmSync(tmp, { force: true });
    await run('mke2fs', [...MKE2FS, '-d', src, tmp, `${mib}M`], 600_000);
    fs.renameSync(tmp, img);
  } finally {
    fs.rmSync(tmp, { force: true });
    if (merged && lower.length > 1) await run('umount', [merged]).catch(() => undefined);
    if (merged) fs.rmSync(merged, { recursive: true, force: true });
  }
  return img;
}

/** The container's writable layer: a sparse ext4 image of sizeMiB, holding what the snapshot's upperdir holds. */
export async function writableImage(diskDir: string, containerId: string, upper: string, sizeMiB: number): Promise<string> {
  fs.mkdirSync(diskDir, { recursive: true });
  const img = path.join(diskDir, `rw-${containerId}.img`);
  fs.rmSync(img, { force: true });
  const args = [...MKE2FS];
  if (upper && fs.existsSync(upper) && fs.readdirSync(upper).length > 0) {
    // The layer's content sits under upper/ in the image: the agent uses upper/ and work/ there.
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'xen-cri-rw-'));
    try {
      fs.mkdirSync(path.join(stage, 'work'));
      await run('cp', ['-a', upper, path.join(stage, 'upper')]);
      await run('mke2fs', [...args, '-d', stage, img, `${sizeMiB}M`], 600_000);
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
  } else {
    await run('mke2fs', [...args, img, `${sizeMiB}M`], 600_000);
  }
  return img;
}

export function removeWritable(diskDir: string, containerId: string): void {
  fs.rmSync(path.join(diskDir, `rw-${containerId}.img`), { force: true });
}
