import t from 'tap';
import { parseConfig, parseSize } from '../../proxy/config.js';

t.test('sizes', async (t) => {
  t.equal(parseSize('512M', 'x'), 512 * 2 ** 20);
  t.equal(parseSize('8G', 'x'), 8 * 2 ** 30);
  t.equal(parseSize('1.5K', 'x'), 1536);
  t.equal(parseSize('4096', 'x'), 4096);
  t.throws(() => parseSize('lots', '--guest-mem-quota'), /--guest-mem-quota: cannot read "lots" as a size/);
});

t.test('defaults and options', async (t) => {
  const c = parseConfig([], {});
  t.equal(c.socket, '/run/vgpu/proxy.sock');
  t.equal(c.libcuda, 'libcuda.so.1');
  t.equal(c.guestIsolation, 'process');
  t.equal(c.memQuota, Number.MAX_SAFE_INTEGER);
  const d = parseConfig(['--socket', '/tmp/x.sock', '--guest-mem-quota', '2G', '--guest-isolation', 'thread'], { VGPU_REAL_LIBCUDA: '/opt/libcuda.so.1' });
  t.equal(d.socket, '/tmp/x.sock');
  t.equal(d.libcuda, '/opt/libcuda.so.1');
  t.equal(d.memQuota, 2 * 2 ** 30);
  t.equal(d.guestIsolation, 'thread');
  t.throws(() => parseConfig(['--guest-isolation', 'vm'], {}), /neither process nor thread/);
  t.throws(() => parseConfig(['--bogus'], {}), /Unknown option/);
});
