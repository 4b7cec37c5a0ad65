// The virtual-memory bookkeeping of one guest: what it owns, what counts
// against its quota, and what goes when it leaves.
import t from 'tap';
import { DeviceRanges } from '../../proxy/guest/device-ranges.js';
import { VmmTable } from '../../proxy/guest/vmm-table.js';

const MIB2 = 2 * 2 ** 20;
const VA = 0x7200_0000_0000;

function table(): { v: VmmTable; ranges: DeviceRanges } {
  const ranges = new DeviceRanges();
  return { v: new VmmTable(ranges), ranges };
}

t.test('physical memory counts from cuMemCreate until the last reference and the last mapping are gone', async (t) => {
  const { v, ranges } = table();
  const a = v.addAllocation(16, 0x1234n, 4 * MIB2);
  t.equal(v.physicalBytes, 4 * MIB2);
  v.addReservation(VA, 16 * MIB2);
  v.addMapping(VA, 4 * MIB2, a, 0);
  v.addMapping(VA + 8 * MIB2, 4 * MIB2, a, 0); // the same memory at a second address
  t.equal(a.maps, 2);
  t.ok(ranges.covers(VA + 8 * MIB2, 4 * MIB2), 'a mapping is device memory the guest owns');
  t.same(v.release(16), { releaseReal: true, gone: false }, 'released while mapped: the driver reference goes, the memory stays');
  t.equal(v.held(16), undefined, 'a released handle can no longer be named');
  t.equal(v.physicalBytes, 4 * MIB2, 'still counted: it is still mapped');
  t.same(v.removeMappings(VA, 4 * MIB2), [], 'one mapping left');
  const gone = v.removeMappings(VA + 8 * MIB2, 4 * MIB2);
  t.same(gone.map((g) => g.id), [16], 'the last unmap frees it');
  t.equal(v.physicalBytes, 0);
  t.notOk(ranges.covers(VA, 1));
  t.equal(v.release(16), undefined, 'a second release is refused');
});

t.test('references: retain and release pair up, and only the last release drops the driver reference', async (t) => {
  const { v } = table();
  const a = v.addAllocation(17, 0x99n, MIB2);
  v.addReservation(VA, MIB2);
  v.addMapping(VA, MIB2, a, 0);
  t.equal(v.mappingAt(VA + 100)?.alloc, a);
  t.equal(v.mappingAt(VA + MIB2), undefined, 'the first byte past the mapping');
  t.notOk(v.retain(a), 'a second reference: the proxy already holds the driver one');
  t.same(v.release(17), { releaseReal: false, gone: false });
  t.same(v.release(17), { releaseReal: true, gone: false });
  t.ok(v.retain(a), 'retained again after the last release: the proxy must take a driver reference anew');
  t.equal(v.held(17), a);
});

t.test('an import is a handle of its own: one more reference, gone with its release', async (t) => {
  const { v } = table();
  const a = v.addAllocation(20, 1n, MIB2);
  v.addImport(21, a);
  t.equal(v.held(21), a, 'the imported handle names the same allocation');
  t.ok(v.isImported(21));
  t.notOk(v.isImported(20), 'the handle cuMemCreate gave is not an import');
  t.same(v.release(20), { releaseReal: false, gone: false }, 'the creator released: the import still holds it');
  t.equal(v.held(20), undefined, "the creator's handle is gone with its own reference");
  t.equal(v.release(20), undefined, "and cannot release the import's reference (found by proxy-ring-race: a double cuMemRelease)");
  t.equal(v.held(21), a);
  t.equal(v.physicalBytes, MIB2, 'counted once, not once per handle');
  t.same(v.release(21), { releaseReal: true, gone: true }, 'the last reference: driver reference and allocation go');
  t.equal(v.held(21), undefined, 'a released import can no longer be named');
  t.notOk(v.isImported(21));
  t.equal(v.release(21), undefined, 'a second release is refused');
  t.equal(v.physicalBytes, 0);
});

t.test('reservations: mappings lie inside one, and it is freed whole and unmapped', async (t) => {
  const { v } = table();
  v.addReservation(VA, 8 * MIB2);
  v.addReservation(VA + 8 * MIB2, 8 * MIB2); // adjacent, but another reservation
  t.ok(v.reservationHolding(VA + MIB2, MIB2));
  t.equal(v.reservationHolding(VA + 7 * MIB2, 2 * MIB2), undefined, 'across two reservations');
  t.equal(v.reservationHolding(VA - 1, 2), undefined);
  t.equal(v.reservationHolding(VA, 0), undefined, 'an empty range');
  t.equal(v.reservationHolding(2 ** 60, MIB2), undefined, 'an address no JS number holds exactly');
  const a = v.addAllocation(18, 1n, MIB2);
  v.addMapping(VA + MIB2, MIB2, a, 0);
  t.equal(v.whyNotFreeable(VA, 4 * MIB2), 'not-reserved', 'the size must be the reserved size');
  t.equal(v.whyNotFreeable(VA, 8 * MIB2), 'mapped');
  t.equal(v.whyNotFreeable(VA + 8 * MIB2, 8 * MIB2), null);
  v.removeReservation(VA + 8 * MIB2);
  t.equal(v.reservedBytes, 8 * MIB2);
  t.same(v.mappingsIn(VA, 8 * MIB2).map((m) => m.start), [VA + MIB2]);
  t.same(v.mappingsIn(VA + 2 * MIB2, MIB2), [], 'right after the mapping');
});

t.test('a guest that leaves gives back everything', async (t) => {
  const { v, ranges } = table();
  const a = v.addAllocation(19, 5n, MIB2);
  const b = v.addAllocation(20, 6n, MIB2);
  v.addReservation(VA, 4 * MIB2);
  v.addMapping(VA, MIB2, a, 0);
  v.addMapping(VA + MIB2, MIB2, b, 0);
  v.release(20);
  const all = v.takeAll();
  t.equal(all.mappings.length, 2);
  t.same(all.referenced.map((r) => r.id), [19], 'only a still holds a driver reference');
  t.equal(all.reservations.length, 1);
  t.equal(v.physicalBytes, 0);
  t.same(v.counts, { allocations: 0, reservations: 0, mappings: 0 });
  t.notOk(ranges.covers(VA, 1));
});
