// The pieces of the proxy's figures, without a proxy: a guest's counters
// (guest-stats.ts), the main process's directory (guest-directory.ts), the
// exposition built from them (exporter.ts), NVML's binding against a fake
// libnvidia-ml (nvml.ts), container ids from cgroups (container.ts), and
// --metrics-listen's address check (config.ts).
import t from 'tap';
import * as fs from 'node:fs';
import pino from 'pino';
import * as W from '../../proxy/wire/layout.js';
import * as C from '../../proxy/native/libc.js';
import type { Request } from '../../proxy/channel/rings.js';
import { GuestStats, LATENCY_BOUNDS, Refusal, Snap, SNAP_BYTES, snapClient, BUCKETS_PER_CLASS } from '../../proxy/metrics/guest-stats.js';
import { ENDED_KEEP_MS, GuestDirectory, viewGuest } from '../../proxy/metrics/guest-directory.js';
import { MetricsExporter } from '../../proxy/metrics/exporter.js';
import { Nvml } from '../../proxy/metrics/nvml.js';
import { containerFromCgroup, containerOfPid } from '../../proxy/metrics/container.js';
import { OP_CLASSES } from '../../proxy/metrics/op-class.js';
import { parseConfig, parseListen } from '../../proxy/config.js';
import { buildFakeNvml } from './fake-driver.js';
import { parseExposition, pick, total } from './observe-support.js';

const P = W.ReqHdr.SIZE;

function request(op: number, fill: (dv: DataView) => void = () => {}): Request {
  const bytes = new Uint8Array(W.RECORD_MAX);
  const dv = new DataView(bytes.buffer);
  fill(dv);
  return { op, flags: 0, seq: 1, ctx: 16, payloadLen: 256, bytes, dv };
}

const cls = (name: string): number => OP_CLASSES.indexOf(name as (typeof OP_CLASSES)[number]);

t.test('a snapshot fits one atomic pipe write', async (t) => {
  t.ok(SNAP_BYTES <= 4096, `${SNAP_BYTES} bytes <= PIPE_BUF`);
});

t.test('counting: classes, errors, launches, copies each way, latency buckets', async (t) => {
  const s = new GuestStats();
  s.record(request(W.Op.LAUNCH), 0);
  s.record(request(W.Op.LAUNCH), 0);
  s.record(request(W.Op.LAUNCH), 1); // refused: counted as an error, not as a launch
  s.record(request(W.Op.GRAPH_LAUNCH), 0);
  s.record(request(W.Op.MEMCPY_HTOD, (dv) => C.writeU64(dv, P + W.ReqMemcpyHtod.bytes, 3 * 2 ** 32 + 5)), 0);
  s.record(request(W.Op.MEMCPY_DTOH, (dv) => C.writeU64(dv, P + W.ReqMemcpyDtoh.bytes, 4096)), 0);
  s.record(request(W.Op.MEMCPY_DTOD, (dv) => C.writeU64(dv, P + W.ReqMemcpyDtod.bytes, 100)), 0);
  s.record(request(W.Op.MEMCPY_2D, (dv) => {
    C.writeU64(dv, P + W.ReqMemcpy2d.width_bytes, 10);
    C.writeU64(dv, P + W.ReqMemcpy2d.height, 3);
    dv.setUint32(P + W.ReqMemcpy2d.src_is_host, 1, true);
  }), 0);
  s.record(request(W.Op.MEMCPY_HTOD, (dv) => C.writeU64(dv, P + W.ReqMemcpyHtod.bytes, 999)), 1); // failed: no bytes
  s.record(request(500), 1);
  const a = s.snap;
  t.equal(a[Snap.REQUESTS + cls('launch')], 3);
  t.equal(a[Snap.ERRORS + cls('launch')], 1);
  t.equal(a[Snap.LAUNCH_KERNEL], 2, 'accepted kernel launches');
  t.equal(a[Snap.LAUNCH_GRAPH], 1, 'graph launches');
  t.equal(a[Snap.REQUESTS + cls('copy')], 5);
  t.equal(a[Snap.COPY_HTOD], 3 * 2 ** 32 + 5 + 30, 'host to device: the 1-D copy and the 2-D one');
  t.equal(a[Snap.COPY_DTOH], 4096);
  t.equal(a[Snap.COPY_DTOD], 100);
  t.equal(a[Snap.REQUESTS + cls('other')], 1, 'an unknown op is other');

  s.timed(W.Op.MEM_ALLOC, 0.000003);
  s.timed(W.Op.MEM_ALLOC, 0.00001); // on a bound: counted in it (le)
  s.timed(W.Op.MEM_ALLOC, 99); // past the last bound: +Inf
  const first = Snap.LAT_BUCKETS + cls('memory') * BUCKETS_PER_CLASS;
  t.equal(a[first], 1, 'le 5e-6');
  t.equal(a[first + 1], 1, 'le 1e-5');
  t.equal(a[first + LATENCY_BOUNDS.length], 1, '+Inf');
  t.equal(a[Snap.LAT_SUM + cls('memory')], 0.000003 + 0.00001 + 99);
  s.refused(Refusal.device_memory_quota);
  t.equal(a[Snap.REFUSALS + Refusal.device_memory_quota], 1);
});

t.test('a sink gets the snapshot as published and as the guest ends', async (t) => {
  const got: Float64Array[] = [];
  const s = new GuestStats();
  t.equal(s.flushAt, Infinity, 'no sink: never due');
  s.attach((snap) => got.push(snap.slice()), { guestId: 7, pid: 1234, domid: -1, transport: 'shm', client: 'python3 \u00e9' });
  t.equal(s.flushAt, 0, 'due at once');
  s.publish(5000, 100, 1000, 10, 20);
  t.equal(s.flushAt, 6000, 'then a second later');
  s.finish('guest_gone', null, { contexts: 2, libraries: 1, segments: 0, vmm_mappings: 0, vmm_allocations: 0, vmm_reservations: 0, device_bytes: 100 });
  t.equal(got.length, 2);
  t.equal(got[0]![Snap.MEM_USED], 100);
  t.equal(got[0]![Snap.GUEST], 7);
  t.equal(snapClient(got[0]!), 'python3 \u00e9', 'the client name survives');
  t.equal(got[1]![Snap.ENDED], 1);
  t.equal(got[1]![Snap.MEM_USED], 0, 'an ended guest holds nothing');
  t.equal(got[1]![Snap.RELEASED], 2, 'contexts released');
  s.attach(() => {
    throw new Error('pipe gone');
  }, { guestId: 7, pid: 1, domid: -1, transport: 'shm', client: '' });
  s.publish(7000, 0, 0, 0, 0);
  t.pass('a sink that throws costs the guest nothing');
});

function snapshotOf(guestId: number, fill: (s: GuestStats) => void, end?: Parameters<GuestStats['finish']>): Float64Array {
  let last: Float64Array | null = null;
  const s = new GuestStats();
  s.attach((snap) => (last = snap.slice()), { guestId, pid: 0, domid: -1, transport: 'shm', client: 'c' });
  fill(s);
  s.publish(0, 1 << 20, 1 << 30, 0, 8 << 30);
  if (end) s.finish(...end);
  return last!;
}

t.test('the directory: pods, guests, exits, faults, reclaimed, and forgetting', async (t) => {
  let now = 1_000_000;
  const d = new GuestDirectory(() => now);
  d.podRegistered('pod-a', { namespace: 'ns', name: 'a', uid: 'u' }, 1 << 30);
  d.started(1, 'pod-a');
  d.started(2, 'pod-a');
  t.equal(d.update(1, snapshotOf(2, () => {})), false, "another guest's snapshot is refused");
  t.equal(d.update(1, new Float64Array(3)), false, 'so is one that is not a snapshot');
  t.equal(d.update(1, snapshotOf(1, (s) => s.record(request(W.Op.MEM_ALLOC), 0))), true);
  t.equal(viewGuest(d.guests()[0]!).memUsed, 1 << 20);
  t.equal(viewGuest(d.guests()[0]!).requests, 1);
  d.update(2, snapshotOf(2, () => {}, ['fault', 'bad_record', { contexts: 1, libraries: 0, segments: 0, vmm_mappings: 0, vmm_allocations: 0, vmm_reservations: 0, device_bytes: 4096 }]));
  d.ended(2);
  d.ended(1); // no last snapshot: its server died
  const p = d.pod('pod-a')!;
  t.same([...p.exits], [0, 0, 1, 0, 0, 1], 'one fault, one server death');
  t.equal(p.faults.reduce((a, b) => a + b, 0), 1);
  t.equal(p.reclaimed[6], 4096, 'device bytes reclaimed');
  d.started(3, 'pod-a');
  d.stopping(3);
  d.ended(3);
  t.equal(d.pod('pod-a')!.exits[3], 1, 'ended by the proxy: stopped');
  t.equal(d.serving, 0);
  d.podUnregistered('pod-a');
  now += ENDED_KEEP_MS / 2;
  d.sweep();
  t.equal(d.guests().length, 3, 'ended guests are kept a while');
  now += ENDED_KEEP_MS;
  d.sweep();
  t.equal(d.guests().length, 0, 'then forgotten');
  t.equal(d.pod('pod-a'), undefined, 'and the pod gone with them');
});

t.test('the exposition: every metric, labelled, histograms cumulative', async (t) => {
  const d = new GuestDirectory();
  d.podRegistered('pod-a', { namespace: 'ns', name: 'a', uid: 'u' }, 1 << 30);
  d.started(1, 'pod-a');
  d.update(1, snapshotOf(1, (s) => {
    s.record(request(W.Op.LAUNCH), 0);
    s.timed(W.Op.CTX_SYNC, 0.002);
    s.timed(W.Op.CTX_SYNC, 0.0002);
  }));
  const e = new MetricsExporter(d, null, pino({ level: 'silent' }));
  const s = parseExposition(await e.scrape());
  const g = { pod: 'pod-a', namespace: 'ns', pod_name: 'a', guest: '1' };
  t.equal(total(s, 'vgpu_guest_launches_total', { ...g, kind: 'kernel' }), 1);
  t.equal(total(s, 'vgpu_guest_device_memory_used_bytes', g), 1 << 20);
  t.equal(total(s, 'vgpu_guest_request_duration_seconds_count', { ...g, class: 'context' }), 2);
  t.equal(total(s, 'vgpu_guest_request_duration_seconds_bucket', { ...g, class: 'context', le: '0.001' }), 1, 'le 1 ms: one');
  t.equal(total(s, 'vgpu_guest_request_duration_seconds_bucket', { ...g, class: 'context', le: '0.0025' }), 2, 'le 2.5 ms: both');
  t.equal(pick(s, 'vgpu_pod_guest_exits_total', { pod: 'pod-a' }).length, 6, 'every exit reason, zeros included');
  for (const name of ['vgpu_guest_requests_total', 'vgpu_guest_request_errors_total', 'vgpu_guest_copied_bytes_total', 'vgpu_guest_refusals_total',
    'vgpu_guest_pinned_memory_used_bytes', 'vgpu_guest_pinned_memory_quota_bytes', 'vgpu_guest_device_memory_quota_bytes', 'vgpu_guest_info',
    'vgpu_guest_start_time_seconds', 'vgpu_pod_info', 'vgpu_pod_guests', 'vgpu_pod_device_memory_used_bytes', 'vgpu_pod_device_memory_quota_bytes',
    'vgpu_pod_guest_faults_total', 'vgpu_pod_reclaimed_total', 'vgpu_pod_reclaimed_device_bytes_total', 'vgpu_proxy_guests', 'vgpu_proxy_nvml_up']) {
    t.ok(pick(s, name).length > 0, `${name} is exposed`);
  }
});

t.test('NVML through koffi, against a fake libnvidia-ml with two GPUs', async (t) => {
  const nvml = Nvml.open(buildFakeNvml());
  t.equal(nvml.count, 2);
  const gpus = nvml.read();
  t.same(gpus.map((g) => [g.index, g.uuid, g.name, g.memTotal, g.memUsed, g.utilGpu, g.utilMemory]), [
    [0, 'GPU-00000000-0000-0000-0000-000000000000', 'Fake H100', 80 * 2 ** 30, 2 ** 30, 42, 17],
    [1, 'GPU-00000000-0000-0000-0000-000000000001', 'Fake H100', 80 * 2 ** 30, 2 ** 31, -1, -1],
  ], 'memory, utilisation (or none), uuid and name of each');
  const e = new MetricsExporter(new GuestDirectory(), nvml, pino({ level: 'silent' }));
  const s = parseExposition(await e.scrape());
  t.equal(total(s, 'vgpu_gpu_utilization_ratio', { gpu: '0' }), 0.42);
  t.equal(pick(s, 'vgpu_gpu_utilization_ratio', { gpu: '1' }).length, 0, 'a GPU that does not say is left out');
  t.equal(total(s, 'vgpu_gpu_memory_used_bytes', { gpu: '1', uuid: 'GPU-00000000-0000-0000-0000-000000000001' }), 2 ** 31);
  t.equal(total(s, 'vgpu_proxy_nvml_up'), 1);
  t.throws(() => Nvml.open('/nonexistent/libnvidia-ml.so.1'), /cannot load/, 'absent: a reason, not a crash');
});

t.test('container ids from cgroup paths', async (t) => {
  const id = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);
  t.equal(id.length, 64);
  t.equal(containerFromCgroup(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice/cri-containerd-${id}.scope\n`), id, 'systemd driver');
  t.equal(containerFromCgroup(`0::/kubepods/burstable/pod1234/${id}\n`), id, 'cgroupfs driver');
  t.equal(containerFromCgroup(`12:memory:/k8s.io/${id}\n11:cpu:/k8s.io/${id}\n`), id, 'cgroup v1');
  t.equal(containerFromCgroup('0::/user.slice/user-0.slice/session-1.scope\n'), '', 'a login session is no container');
  t.equal(containerOfPid(0), '');
  t.equal(containerOfPid(process.pid), containerFromCgroup(fs.readFileSync(`/proc/${process.pid}/cgroup`, 'utf8')), 'this process, read from /proc');
});

t.test('--metrics-listen takes loopback only, unless told', async (t) => {
  t.same(parseListen('127.0.0.1:9464', false), { host: '127.0.0.1', port: 9464 });
  t.same(parseListen('[::1]:9464', false), { host: '::1', port: 9464 });
  t.same(parseListen('localhost:1', false), { host: 'localhost', port: 1 });
  t.throws(() => parseListen('0.0.0.0:9464', false), /not a loopback address.*--metrics-allow-remote/);
  t.throws(() => parseListen('[::]:9464', false), /not a loopback/);
  t.throws(() => parseListen('10.0.0.1:9464', false), /not a loopback/);
  t.same(parseListen('0.0.0.0:9464', true), { host: '0.0.0.0', port: 9464 }, 'allowed with --metrics-allow-remote');
  t.throws(() => parseListen('9464', false), /not HOST:PORT/);
  t.throws(() => parseListen('127.0.0.1:70000', false), /not HOST:PORT/);
  t.throws(() => parseConfig(['--metrics-listen', '0.0.0.0:9464']), /not a loopback/, 'the proxy refuses it at start');
  t.equal(parseConfig([]).metricsListen, '', 'off by default');
  t.equal(parseConfig(['--metrics-listen', '0.0.0.0:1', '--metrics-allow-remote']).metricsAllowRemote, true);
});
