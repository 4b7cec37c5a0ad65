import t from 'tap';
import { DeviceRanges } from '../../proxy/guest/device-ranges.js';

t.test('a guest may name only bytes inside ranges it owns', async (t) => {
  const r = new DeviceRanges();
  r.add(0x7000_0000_0000, 4096, 'alloc', 16);
  r.add(0x7000_0001_0000, 256, 'global', 16);
  t.ok(r.covers(0x7000_0000_0000, 4096));
  t.ok(r.covers(0x7000_0000_0100, 16));
  t.notOk(r.covers(0x7000_0000_0f00, 512), 'runs past the end');
  t.notOk(r.covers(0x6fff_ffff_fff0, 32), 'starts before');
  t.notOk(r.covers(0x7000_0000_2000, 1), 'between ranges');
  t.notOk(r.covers(0x7000_0000_0000, -1));
  t.notOk(r.covers(Infinity, 1), 'an address above 2^53 (unsafe as a JS number)');
  t.equal(r.allocatedBytes, 4096, 'globals do not count against the quota');
  t.equal(r.remove(0x7000_0000_0010), undefined, 'only a range start frees');
  t.equal(r.remove(0x7000_0000_0000)?.kind, 'alloc');
  t.notOk(r.covers(0x7000_0000_0000, 1));
  t.equal(r.allocatedBytes, 0);
  r.add(0x8000_0000, 100, 'alloc', 17);
  r.dropContext(16);
  t.notOk(r.covers(0x7000_0001_0000, 1), 'ranges of a destroyed context are gone');
  t.ok(r.covers(0x8000_0000, 100));
});

t.test('a copy may run across owned ranges that follow one another, never across a gap', async (t) => {
  const r = new DeviceRanges();
  const base = 0x7100_0000_0000;
  const two = 2 * 2 ** 20;
  r.add(base, two, 'vmm', 0);
  r.add(base + two, two, 'vmm', 0);
  r.add(base + 3 * two, two, 'vmm', 0); // a gap of one chunk before it
  t.ok(r.covers(base + two - 16, 32), 'across the seam of two mappings');
  t.ok(r.covers(base, 2 * two), 'both whole');
  t.notOk(r.covers(base, 2 * two + 1), 'one byte into the gap');
  t.notOk(r.covers(base + two, 3 * two), 'over the gap to the third');
  t.notOk(r.covers(base + 2 * two, 1), 'inside the gap');
  t.ok(r.covers(base + 4 * two, 0), 'an empty copy at the end of a range');
  t.equal(r.allocatedBytes, 0, 'mappings are not counted here (their physical allocations are)');
});
