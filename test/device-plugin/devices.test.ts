// The plugin's arithmetic and settings: units from the GPU's memory, device
// ids, the annotations Allocate answers (read back by the shim's own parser),
// the preferred allocation, and the flags it refuses.
import t from 'tap';
import { allocationAnnotations, deviceIds, isDeviceId, preferredAllocation, unitCount } from '../../device-plugin/devices.js';
import { parseConfig, USAGE } from '../../device-plugin/config.js';
import { formatMiB, gpuRequest, parseSize } from '../../src/gpu-annotations.js';

t.test('units and ids', async (t) => {
  const c = { gpu: 1, totalMiB: 81920, reserveMiB: 1000, unitMiB: 256 };
  t.equal(unitCount(c), 316, 'whole units of what the reserve leaves: (81920 - 1000) / 256, rounded down');
  const ids = deviceIds(c);
  t.equal(ids.length, 316);
  t.equal(ids[315], 'gpu1-mem-315', 'ids name the GPU and the unit');
  t.ok(ids.every((id) => id.length <= 63), 'at most 63 characters, as the API asks');
  t.ok(isDeviceId(c, 'gpu1-mem-0') && isDeviceId(c, 'gpu1-mem-315'), 'its own ids');
  for (const bad of ['gpu1-mem-316', 'gpu0-mem-1', 'gpu1-mem-01', 'gpu1-mem--1', 'gpu1-mem-', 'x']) t.notOk(isDeviceId(c, bad), `not ${bad}`);
  t.equal(unitCount({ ...c, reserveMiB: 81920 }), 0, 'a reserve of all the memory leaves no unit');
  t.throws(() => unitCount({ ...c, reserveMiB: 81921 }), /reserve .* more than the GPU's memory/);
  t.throws(() => unitCount({ ...c, unitMiB: 0 }), /more than 0 MiB/);
});

t.test('Allocate annotations', async (t) => {
  t.same(allocationAnnotations(5, 256), { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '1280Mi' });
  for (const mib of [1, 256, 1024, 81920]) t.equal(parseSize(formatMiB(mib)), mib * 2 ** 20, `${formatMiB(mib)} reads back as ${mib} MiB`);
  t.same(gpuRequest(allocationAnnotations(1, 512)), { memQuota: 512 * 2 ** 20 }, "the shim's gpuRequest reads the answer");
  t.throws(() => formatMiB(1.5), RangeError);
});

t.test('preferred allocation', async (t) => {
  t.same(preferredAllocation(['a-3', 'a-1', 'a-2'], [], 2), ['a-1', 'a-2'], 'the lowest ids');
  t.same(preferredAllocation(['a-3', 'a-10', 'a-2'], ['a-10'], 2), ['a-10', 'a-2'], 'must-include first');
  t.same(preferredAllocation(['a-1'], [], 3), ['a-1'], 'no more than there are');
  t.same(preferredAllocation(['a-1', 'a-1', 'a-2'], ['a-1'], 2), ['a-1', 'a-2'], 'each once');
});

t.test('flags', async (t) => {
  const c = parseConfig(['--gpu-memory', '80Gi', '--reserve', '1.5G', '--unit', '512Mi', '--gpu', '2', '--socket-dir', '/tmp/dp']);
  t.match(c, { totalMiB: 81920, reserveMiB: 1536, unitMiB: 512, gpu: 2, socketDir: '/tmp/dp', endpoint: 'xen-cri-vgpu.sock', resourceName: 'xen-cri.io/vgpu-memory', controlSocket: '/run/vgpu/control.sock' });
  t.equal(parseConfig(['--gpu-memory', '1Gi']).socketDir, '/var/lib/kubelet/device-plugins', "the kubelet's folder by default");
  t.equal(parseConfig(['--gpu-memory', '1Gi']).unitMiB, 256, '256Mi units by default');
  t.throws(() => parseConfig([]), /--gpu-memory is required/);
  t.throws(() => parseConfig(['--help']), { message: USAGE });
  t.throws(() => parseConfig(['--gpu-memory', 'lots']), /--gpu-memory: cannot read "lots" as a size/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--unit', '1.5M']), /--unit: 1.5M is not a whole number of MiB/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--unit', '0']), /at least 1Mi/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--reserve', '2Gi']), /--reserve .* is more than --gpu-memory/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--endpoint', '../x.sock']), /--endpoint/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--endpoint', 'kubelet.sock']), /not kubelet\.sock/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--resource-name', 'vgpu']), /not an extended resource name/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--interval-ms', '1']), /--interval-ms/);
  t.throws(() => parseConfig(['--gpu-memory', '1Gi', '--bogus']), /bogus/);
});
