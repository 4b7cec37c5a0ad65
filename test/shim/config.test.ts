// The shim's configuration, command line, process states and vGPU annotations.
import t from 'tap';
import { parseConfig, configFromOptions } from '../../shim/config.js';
import { parseFlags } from '../../shim/flags.js';
import { ProcessState } from '../../shim/state.js';
import { readGpuRequest } from '../../shim/pod-vgpu/pod-gpu.js';
import { Code, StatusError } from '../../shim/ttrpc/status.js';
import { encode } from '../../src/proto/load.js';
import { shimSocketPath } from '../../shim/socket.js';

t.test('configuration', async (t) => {
  const c = parseConfig('{"backend":"process"}', 'test');
  t.match(c, { backend: 'process', runc: 'runc', stateDir: '/run/xen-cri', vgpu: { controlSocket: '/run/vgpu/control.sock' } }, 'defaults');
  t.throws(() => parseConfig('{}', 'test'), /"backend" must be "process" or "xen".*never chosen for you/, 'the backend is never chosen silently');
  t.throws(() => parseConfig('{"backend":"process","colour":1}', 'f.json'), /f\.json: unknown option "colour"/, 'unknown option');
  t.throws(() => parseConfig('{"backend":"process","vgpu":{"x":1}}', 'f'), /unknown option "vgpu\.x"/, 'unknown nested option');
  t.throws(() => parseConfig('nope', 'f'), /not JSON/, 'not JSON');
  t.throws(() => parseConfig('{"backend":"xen","logLevel":"loud"}', 'f'), /"logLevel" must be one of/, 'log level checked');
  const body = encode('runtimeoptions.v1.Options', { configBody: Buffer.from('{"backend":"xen"}') });
  t.equal(configFromOptions({ typeUrl: 'runtimeoptions.v1.Options', value: body }).backend, 'xen', 'ConfigBody in runtime options');
  t.throws(() => configFromOptions({ typeUrl: 'containerd.runc.v1.Options', value: Buffer.alloc(0) }), /runtime options of type containerd\.runc\.v1\.Options are not understood/, 'runc options refused');
  t.throws(() => configFromOptions(null, { XEN_CRI_CONFIG: '/nonexistent/x.json' }), /\/nonexistent\/x\.json: no such file/, 'missing file named');
});

t.test('command line', async (t) => {
  const f = parseFlags(['-namespace', 'k8s.io', '-address', '/run/c.sock', '-publish-binary', '/usr/bin/containerd', '-id', 'abc', '-debug', 'start']);
  t.match(f, { namespace: 'k8s.io', address: '/run/c.sock', id: 'abc', debug: true, action: 'start' });
  t.equal(parseFlags(['--bundle=/b', 'delete']).bundle, '/b', 'flag=value');
  t.throws(() => parseFlags(['-colour', 'x']), /unknown flag -colour/);
  t.throws(() => parseFlags(['start', 'extra']), /unexpected argument/);
  const a = shimSocketPath('/run/containerd/containerd.sock', 'k8s.io', 'pod1', '/run/containerd/s');
  t.match(a, /^\/run\/containerd\/s\/[0-9a-f]{64}$/, 'socket named like containerd names its shims');
  t.not(a, shimSocketPath('/run/containerd/containerd.sock', 'default', 'pod1', '/run/containerd/s'), 'per namespace');
});

t.test('process states', async (t) => {
  const s = new ProcessState('task x');
  s.move('running');
  t.throws(() => s.move('created'), /task x: cannot move from running to created/, 'an illegal move names both states');
  t.throws(() => s.require('start', 'created'), /task x: cannot start while running \(needs created\)/);
  s.move('stopped');
  s.move('deleted');
  t.throws(() => s.move('running'), /from deleted to running/);
});

t.test('vGPU annotations', async (t) => {
  // What the reader accepts: test/src/gpu-annotations.test.ts.  The shim answers what it refuses with InvalidArgument.
  t.same(readGpuRequest({ 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': '4G' }), { memQuota: 4 * 2 ** 30 });
  t.equal(readGpuRequest({}), null);
  const refused: Record<string, string>[] = [{ 'xen-cri.io/vgpu': 'yes' }, { 'xen-cri.io/vgpu-memory': '1G' }, { 'xen-cri.io/vgpu': 'true', 'xen-cri.io/vgpu-memory': 'lots' }];
  for (const bad of refused) {
    const err = t.throws(() => readGpuRequest(bad)) as unknown;
    t.ok(err instanceof StatusError && err.code === Code.InvalidArgument, `${JSON.stringify(bad)}: InvalidArgument`);
  }
});
