import t from 'tap';
import { HandleTable } from '../../proxy/guest/handle-table.js';

t.test('ids are issued, typed, never reused, and bounded', async (t) => {
  const h = new HandleTable(3);
  const ctx = h.add('ctx', 0x1000, 0);
  const s = h.add('stream', 0x2000, ctx);
  t.ok(ctx >= 16 && s > ctx);
  t.equal(h.get(s, 'stream')?.ptr, 0x2000);
  t.equal(h.get(s, 'event'), undefined, 'the wrong kind is refused');
  t.equal(h.get(12345, 'stream'), undefined, 'an id never issued is refused');
  h.delete(s);
  const s2 = h.add('stream', 0x3000, ctx);
  t.not(s2, s, 'a freed id is not reused');
  h.add('event', 0x4000, ctx);
  t.equal(h.add('event', 0x5000, ctx), -1, 'the limit holds');
  t.equal(h.dropContext(ctx).length, 2);
  t.ok(h.get(ctx, 'ctx'), 'the context itself is dropped by its owner');
});
