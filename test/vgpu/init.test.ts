// libvgpu's answers at start-up where no GPU can be reached: no proxy, or a
// proxy with no GPU behind it.  Clear errors, no hang, logged once.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { repoPath } from '../../devkit/repo-root.js';
import { startTestProxy } from '../channel/ring-client.js';

const CLIENT = repoPath('build', 'vgpu-tests', 'init_client');

function run(socket: string) {
  const r = spawnSync(CLIENT, [], { encoding: 'utf8', env: { ...process.env, VGPU_PROXY_SOCKET: socket }, timeout: 15_000 });
  return { ...r, field: (name: string) => new RegExp(`${name}=(-?\\d+)`).exec(r.stdout)?.[1] };
}

t.test('no proxy: cuInit says there is no device, and why', async (t) => {
  const r = run('/nonexistent/vgpu.sock');
  t.equal(r.status, 0, 'exits 0', { output: r.stderr });
  t.equal(r.field('driver_version'), '13000', 'the driver API version is known without a proxy');
  t.equal(r.field('count_before_init'), '3', 'CUDA_ERROR_NOT_INITIALIZED before cuInit');
  t.match(r.stdout, /init=100 name=CUDA_ERROR_NO_DEVICE/);
  t.match(r.stderr, /event=connect_failed socket=\/nonexistent\/vgpu.sock reason="cannot reach vgpu-proxy/);
  t.equal(r.field('count_after_failed_init'), '3');
});

t.test('an unsupported function answers NOT_SUPPORTED and is logged once', async (t) => {
  const r = run('/nonexistent/vgpu.sock');
  t.match(r.stdout, /unsupported=801 again=801/);
  t.equal(r.stderr.match(/event=unsupported function="cuTexRefCreate"/g)?.length, 1);
});

t.test('a proxy without a GPU: cuInit fails with NO_DEVICE, the proxy says why', async (t) => {
  const proxy = await startTestProxy();
  t.teardown(() => proxy.stop());
  const r = run(proxy.socket);
  t.match(r.stdout, /init=100 name=CUDA_ERROR_NO_DEVICE/);
  t.match(r.stderr, /event=init_failed/);
  await new Promise((res) => setTimeout(res, 300));
  t.match(proxy.logTail(20), /no GPU for this guest: CUDA requests will fail with CUDA_ERROR_NO_DEVICE/);
});
