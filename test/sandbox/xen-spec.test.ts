// What reaches a pod VM from a bundle (shim/sandbox/xen/spec.ts) and how big
// the pod VM is (backend.ts podSize).  The xen backend's vGPU wiring: xen-vgpu.test.ts.
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { podSize } from '../../shim/sandbox/xen/backend.js';
import { processPairs, translateMounts, vgpuEnv, GUEST_VGPU_LIB } from '../../shim/sandbox/xen/spec.js';
import type { XenConfig } from '../../shim/sandbox/xen/config.js';

const dir = mkdtempSync(join(tmpdir(), 'xen-spec-'));
writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
mkdirSync(join(dir, 'shm'));
mkdirSync(join(dir, 'data'));

t.test('mounts', async (t) => {
  const r = translateMounts([
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/etc/hosts', type: 'bind', source: join(dir, 'hosts'), options: ['rbind', 'rprivate', 'rw'] },
    { destination: '/dev/shm', type: 'bind', source: join(dir, 'shm'), options: ['rbind', 'rw'] },
  ], false);
  t.same(r.kv, [
    ['mount', 'proc|proc|/proc|nosuid,noexec,nodev'],
    ['mount', 'bind|file:m1|/etc/hosts|rw'],
    ['mount', 'tmpfs|shm|/dev/shm|nosuid,nodev,noexec,mode=1777,size=65536k'],
  ]);
  t.equal(r.files.length, 1);
  t.equal(r.files[0]!.data.toString(), '127.0.0.1 localhost\n', 'files travel as copies');
  t.throws(() => translateMounts([{ destination: '/data', type: 'bind', source: join(dir, 'data'), options: ['rbind'] }], false),
    /host directories .* cannot be shared with a pod VM/, 'a host directory is an error, not skipped');
  t.throws(() => translateMounts([{ destination: '/x', type: 'nfs', source: 'srv:/x' }], false), /not supported/);
});

t.test('a container given the vGPU: the pod VM\'s libvgpu and Xen devices, the xen transport', async (t) => {
  // The bundle is as containerd wrote it: the shim adds nothing for the xen backend to take out again.
  const r = translateMounts([{ destination: '/etc/hosts', type: 'bind', source: join(dir, 'hosts'), options: ['rbind', 'ro'] }], true);
  t.same(r.kv, [
    ['mount', 'bind|file:m0|/etc/hosts|ro'],
    ['mount', `bind|guest:${GUEST_VGPU_LIB}|/usr/local/xen-cri/vgpu/lib|ro`],
    ['mount', 'bind|guest:/dev/xen|/dev/xen|'],
  ]);
  t.same(translateMounts([], false).kv, [], 'no vGPU, no vGPU mounts');
  t.same(vgpuEnv(['A=1']), ['A=1', 'LD_LIBRARY_PATH=/usr/local/xen-cri/vgpu/lib', 'VGPU_TRANSPORT=xen']);
  t.same(vgpuEnv(undefined), ['LD_LIBRARY_PATH=/usr/local/xen-cri/vgpu/lib', 'VGPU_TRANSPORT=xen']);
  t.same(vgpuEnv(['LD_LIBRARY_PATH=/opt/lib', 'VGPU_TRANSPORT=shm', 'VGPU_PROXY_SOCKET=/run/vgpu/proxy.sock', 'B=2']),
    ['LD_LIBRARY_PATH=/usr/local/xen-cri/vgpu/lib:/opt/lib', 'B=2', 'VGPU_TRANSPORT=xen'], "the library folder first; the image's transport and socket give way to the xen transport");
});

t.test('process', async (t) => {
  const kv = processPairs({ args: ['sh', '-c', 'echo hi'], env: ['PATH=/bin'], cwd: '/tmp', user: { uid: 5, gid: 6, additionalGids: [7, 8] }, terminal: false }, true);
  t.same(kv, [['arg', 'sh'], ['arg', '-c'], ['arg', 'echo hi'], ['env', 'PATH=/bin'], ['cwd', '/tmp'], ['uid', '5'], ['gid', '6'], ['gids', '7,8'], ['terminal', '0'], ['stdin', '1']]);
  t.throws(() => processPairs({ args: [] }, false), /no arguments/);
});

t.test('pod VM size', async (t) => {
  const c = { baseMemoryMiB: 160, defaultMemoryMiB: 256, defaultVcpus: 1 } as XenConfig;
  t.same(podSize({}, c), { memoryMiB: 416, vcpus: 1 });
  t.same(podSize({ 'xen-cri.io/memory': '1G', 'xen-cri.io/vcpus': '2' }, c), { memoryMiB: 1184, vcpus: 2 });
  t.same(podSize({ 'io.kubernetes.cri.sandbox-memory': String(512 * 2 ** 20), 'io.kubernetes.cri.sandbox-cpu-quota': '150000', 'io.kubernetes.cri.sandbox-cpu-period': '100000' }, c), { memoryMiB: 672, vcpus: 2 });
  t.same(podSize({ 'xen-cri.io/memory': '512' }, c), { memoryMiB: 672, vcpus: 1 }, 'a bare number is MiB');
  t.same(podSize({ 'xen-cri.io/memory': '1.5Gi' }, c), { memoryMiB: 1696, vcpus: 1 }, 'a size as the vGPU quota is written');
  t.throws(() => podSize({ 'xen-cri.io/memory': 'lots' }, c), { message: 'backend xen: annotation xen-cri.io/memory="lots" is not a size' });
  t.throws(() => podSize({ 'xen-cri.io/memory': '0' }, c), /not a size/);
});
