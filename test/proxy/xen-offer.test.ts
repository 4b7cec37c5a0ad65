// A xen guest's offer is checked before anything is mapped: every number it
// wrote in xenstore, the directory's shape, and the region's grant refs
// (proxy/channel/xen-handover.ts).  The maps themselves are tested under
// real Xen (test/xen/idm.test.ts).
import t from 'tap';
import { ChannelFault } from '../../proxy/channel/errors.js';
import { checkOffer, checkRegionRefs, guestNumber, MAX_REGION_PAGES, RESERVED_REFS } from '../../proxy/channel/xen-handover.js';

const offer = (o: Partial<{ regionPages: string; grefDir: string; eventChannel: string }>) => ({
  domid: 5, chan: 'c', client: 'x', memQuota: '0', regionPages: '1345', grefDir: '100 101', eventChannel: '7', ...o,
});

/** fn must throw a ChannelFault of this code (the guest's fault, closing only its channel). */
function faults(t: { ok: (v: unknown, m: string) => unknown; fail: (m: string) => unknown }, fn: () => unknown, code: string, what: string): void {
  try {
    fn();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.ok(err instanceof ChannelFault && err.code === code, `${what}: ${(err as Error).message}`);
  }
}

t.test('a well-formed offer', async (t) => {
  t.same(checkOffer(offer({})), { pages: 1345, dirRefs: [100, 101], port: 7 });
});

t.test('numbers the guest wrote', async (t) => {
  for (const bad of ['', '-1', '1e3', '0x10', ' 12', '12 ', '007', '99999999999', 'NaN']) {
    faults(t, () => guestNumber(bad, 'n', 0, 2 ** 32), 'bad_offer', JSON.stringify(bad));
  }
  t.equal(guestNumber('0', 'n', 0, 1), 0);
});

t.test('sizes and shapes', async (t) => {
  faults(t, () => checkOffer(offer({ regionPages: '0' })), 'bad_offer', 'no pages');
  faults(t, () => checkOffer(offer({ regionPages: String(MAX_REGION_PAGES + 1) })), 'bad_offer', 'more pages than any layout');
  faults(t, () => checkOffer(offer({ grefDir: '100' })), 'bad_offer', 'directory too short for the pages');
  faults(t, () => checkOffer(offer({ grefDir: '100 101 102' })), 'bad_offer', 'directory too long');
  faults(t, () => checkOffer(offer({ grefDir: '100  101' })), 'bad_offer', 'empty word');
  faults(t, () => checkOffer(offer({ grefDir: `${RESERVED_REFS - 1} 101` })), 'bad_offer', 'reserved directory ref');
  faults(t, () => checkOffer(offer({ eventChannel: '0' })), 'bad_offer', 'port 0');
});

t.test('region refs', async (t) => {
  t.doesNotThrow(() => checkRegionRefs(Uint32Array.from([8, 9, 10, 4000])));
  faults(t, () => checkRegionRefs(Uint32Array.from([8, 1, 10])), 'bad_grant', 'the xenstore page');
  faults(t, () => checkRegionRefs(Uint32Array.from([8, 9, 8])), 'bad_grant', 'a page twice');
});
