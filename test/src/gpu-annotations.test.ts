// The one reader of the vGPU annotations (src/gpu-annotations.ts): what it
// accepts and what it refuses, with the error text containerd shows.
import t from 'tap';
import { ANN_VGPU, ANN_VGPU_MEMORY, formatMiB, gpuRequest, parseSize } from '../../src/gpu-annotations.js';

const G = 2 ** 30;
const M = 2 ** 20;

t.test('the annotation names', async (t) => {
  t.equal(ANN_VGPU, 'xen-cri.io/vgpu');
  t.equal(ANN_VGPU_MEMORY, 'xen-cri.io/vgpu-memory');
});

t.test('xen-cri.io/vgpu: "true" or "1" ask; absent, "", "false" or "0" do not', async (t) => {
  for (const yes of ['true', '1']) t.same(gpuRequest({ [ANN_VGPU]: yes }), { memQuota: 0 }, `"${yes}": a vGPU with the proxy's default quota`);
  t.equal(gpuRequest({}), null, 'no annotation, no vGPU');
  for (const no of ['', 'false', '0']) t.equal(gpuRequest({ [ANN_VGPU]: no }), null, `"${no}": no vGPU`);
  for (const bad of ['yes', 'True', 'TRUE', 'on', '2', ' true']) {
    t.throws(() => gpuRequest({ [ANN_VGPU]: bad }), { message: `xen-cri.io/vgpu: "${bad}" is neither "true" nor "false"` }, `"${bad}" is refused`);
  }
});

t.test('xen-cri.io/vgpu-memory: the quota, only next to xen-cri.io/vgpu', async (t) => {
  t.same(gpuRequest({ [ANN_VGPU]: 'true', [ANN_VGPU_MEMORY]: '4G' }), { memQuota: 4 * G });
  t.same(gpuRequest({ [ANN_VGPU]: '1', [ANN_VGPU_MEMORY]: '768Mi' }), { memQuota: 768 * M });
  t.same(gpuRequest({ [ANN_VGPU]: 'true', [ANN_VGPU_MEMORY]: '0' }), { memQuota: 0 }, "0: the proxy's default");
  const none: Record<string, string>[] = [{}, { [ANN_VGPU]: 'false' }, { [ANN_VGPU]: '0' }, { [ANN_VGPU]: '' }];
  for (const no of none) {
    t.throws(() => gpuRequest({ ...no, [ANN_VGPU_MEMORY]: '1G' }), { message: 'xen-cri.io/vgpu-memory is set but xen-cri.io/vgpu is not "true"' }, `refused with ${JSON.stringify(no)}`);
  }
  t.throws(() => gpuRequest({ [ANN_VGPU]: 'true', [ANN_VGPU_MEMORY]: '' }), { message: 'xen-cri.io/vgpu-memory: cannot read "" as a size (examples: 512M, 4G)' });
  t.throws(() => gpuRequest({ [ANN_VGPU]: 'true', [ANN_VGPU_MEMORY]: 'lots' }), { message: 'xen-cri.io/vgpu-memory: cannot read "lots" as a size (examples: 512M, 4G)' });
});

t.test('sizes', async (t) => {
  const ok: [string, number][] = [
    ['4096', 4096],
    ['1.5', 1],
    ['0', 0],
    ['512K', 512 * 1024],
    ['512M', 512 * M],
    ['512Mi', 512 * M],
    ['512MiB', 512 * M],
    ['512MB', 512 * M],
    ['4g', 4 * G],
    ['4gib', 4 * G],
    ['1.5G', 1.5 * G],
    ['2T', 2 * 2 ** 40],
    ['100B', 100],
    [' 4 G ', 4 * G],
  ];
  for (const [text, bytes] of ok) t.equal(parseSize(text), bytes, `"${text}" is ${bytes} bytes`);
  for (const bad of ['', 'lots', 'G', '-1G', '+1G', '4P', '4 GB/s', '1e9', '.5G', '1,5G']) {
    t.throws(() => parseSize(bad), { message: `xen-cri.io/vgpu-memory: cannot read "${bad}" as a size (examples: 512M, 4G)` }, `"${bad}" is refused`);
  }
  t.throws(() => parseSize('lots', '--unit'), { message: '--unit: cannot read "lots" as a size (examples: 512M, 4G)' }, 'the error names what was read');
});

t.test('formatMiB writes what parseSize reads', async (t) => {
  for (const mib of [0, 1, 256, 81920]) t.equal(parseSize(formatMiB(mib)), mib * M);
  t.throws(() => formatMiB(1.5), RangeError);
  t.throws(() => formatMiB(-1), RangeError);
});
