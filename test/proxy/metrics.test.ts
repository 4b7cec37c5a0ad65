// vgpu-proxy's Prometheus endpoint, against a real proxy: guests served by
// processes of their own (and by threads), driven by the C test guest
// (ring_client) over real shared memory, the driver the fake of
// fake-driver.ts.  Each figure is checked against what the guest did: its
// allocation is the memory reported, its requests are counted by class and
// timed, its death, faults and refusals are counted per pod.
import t from 'tap';
import * as fs from 'node:fs';
import { runClient, startClient, waitForOutput } from '../channel/ring-client.js';
import { controlClient, pick, scrape, scrapeUntil, startObservedProxy, total } from './observe-support.js';

const HELD = 100_000_000;
const POD_QUOTA = 1 << 30;
const POD = { podId: 'pod-m', memQuotaBytes: POD_QUOTA, namespace: 'ml', name: 'resnet-0', uid: '6f1c2d3e-0000-4000-8000-000000000001' };

t.test('metrics with guests served by processes', async (t) => {
  const obs = await startObservedProxy();
  const ctl = controlClient(obs.control);
  t.teardown(async () => {
    ctl.close();
    await obs.stop();
  });
  const reg = await ctl.call<{ socketPath: string }>('RegisterPod', POD);
  const podSocket = { VGPU_PROXY_SOCKET: reg.socketPath, VGPU_ARENA_MIB: '2' };
  const podLabels = { pod: 'pod-m', namespace: 'ml', pod_name: 'resnet-0' };

  t.test('the endpoint answers, on loopback, with the pod registered', async (t) => {
    const s = await scrape(obs.metricsUrl);
    t.same(pick(s, 'vgpu_pod_info', podLabels).map((x) => x.labels.pod_uid), [POD.uid], 'the pod with its namespace, name and uid');
    t.equal(total(s, 'vgpu_pod_device_memory_quota_bytes', podLabels), POD_QUOTA, 'its registered quota');
    t.equal(total(s, 'vgpu_proxy_nvml_up'), 0, 'no NVML on this machine: said so');
    t.equal(pick(s, 'vgpu_gpu_memory_total_bytes').length, 0, 'and no GPU figures');
    t.ok(pick(s, 'vgpu_proxy_process_resident_memory_bytes').length === 1, "the proxy's own process figures");
    const other = await fetch(obs.metricsUrl.replace('/metrics', '/nothing'));
    t.equal(other.status, 404, 'other paths are not found');
  });

  t.test('a guest holding device memory: memory, quota, requests by class, latency', async (t) => {
    const hold = startClient({ ...obs.proxy, socket: reg.socketPath }, ['gpu-hold', 'alloc', String(HELD)], podSocket);
    await waitForOutput(hold.output, 'HELD');
    const mine = { ...podLabels };
    const s = await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_guest_device_memory_used_bytes', mine) === HELD);
    const guest = pick(s, 'vgpu_guest_device_memory_used_bytes', mine)[0]!.labels.guest!;
    const g = { ...mine, guest };
    t.equal(total(s, 'vgpu_guest_device_memory_used_bytes', g), HELD, 'memory used is what the guest allocated');
    t.equal(total(s, 'vgpu_guest_device_memory_quota_bytes', g), POD_QUOTA, "the quota is the pod's");
    t.equal(total(s, 'vgpu_pod_device_memory_used_bytes', podLabels), HELD, 'and the pod holds the same');
    t.ok(total(s, 'vgpu_guest_pinned_memory_quota_bytes', g) > 0, 'a page-locked quota is reported');
    t.ok(total(s, 'vgpu_guest_pinned_memory_used_bytes', g) <= total(s, 'vgpu_guest_pinned_memory_quota_bytes', g), 'page-locked memory within it');
    const info = pick(s, 'vgpu_guest_info', g)[0]!.labels;
    t.equal(Number(info.pid), hold.child.pid, "the info metric names the guest's pid");
    t.equal(info.client, 'ring_client', 'and its program');
    t.equal(info.transport, 'shm');
    t.equal(total(s, 'vgpu_guest_requests_total', { ...g, class: 'memory' }), 2, 'memory ops counted: the allocation and the memset');
    t.equal(total(s, 'vgpu_guest_requests_total', { ...g, class: 'context' }), 1, 'the context retained');
    t.equal(total(s, 'vgpu_guest_requests_total', { ...g, class: 'launch' }), 0, 'no launch');
    t.equal(total(s, 'vgpu_guest_request_errors_total', g), 0, 'no request failed');
    const count = total(s, 'vgpu_guest_request_duration_seconds_count', { ...g, class: 'memory' });
    t.equal(count, 2, 'both memory calls were answered, so both were timed');
    const buckets = pick(s, 'vgpu_guest_request_duration_seconds_bucket', { ...g, class: 'memory' });
    t.equal(buckets.find((b) => b.labels.le === '+Inf')?.value, count, 'the +Inf bucket holds every timed request');
    t.ok(buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1]!.value), 'buckets are cumulative');
    t.ok(total(s, 'vgpu_guest_request_duration_seconds_sum', { ...g, class: 'memory' }) > 0, 'the time spent is summed');
    t.equal(total(s, 'vgpu_pod_guests', podLabels), 1, 'one guest served in the pod');

    hold.child.kill('SIGKILL');
    await hold.done;
    const after = await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_pod_guest_exits_total', { ...podLabels, reason: 'guest_gone' }) === 1);
    t.pass('a guest killed is counted as gone (a guest death)');
    t.equal(total(after, 'vgpu_pod_reclaimed_device_bytes_total', podLabels), HELD, 'the memory it held was reclaimed');
    t.equal(total(after, 'vgpu_pod_reclaimed_total', { ...podLabels, resource: 'contexts' }), 1, 'and its context');
    t.equal(pick(after, 'vgpu_guest_device_memory_used_bytes', g).length, 0, 'the dead guest holds nothing any more');
    t.equal(total(after, 'vgpu_guest_requests_total', { ...g, class: 'memory' }), 2, 'its counters stay for a while, for the next scrape');
    t.equal(total(after, 'vgpu_pod_guests', podLabels), 0, 'no guest served in the pod');
  });

  t.test('quota refusals are counted and logged with the pod and guest', async (t) => {
    const quota = 64 << 20;
    const small = await ctl.call<{ socketPath: string }>('RegisterPod', { podId: 'pod-q', memQuotaBytes: quota, namespace: 'ml', name: 'small' });
    const r = await runClient({ ...obs.proxy, socket: small.socketPath }, ['gpu-quota', String(quota)], { VGPU_PROXY_SOCKET: small.socketPath, VGPU_ARENA_MIB: '2' });
    t.equal(r.code, 0, 'the quota holds', { output: r.stdout + r.stderr });
    const labels = { pod: 'pod-q', namespace: 'ml', pod_name: 'small' };
    const s = await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_pod_guest_exits_total', labels) === 1);
    t.equal(total(s, 'vgpu_guest_refusals_total', { ...labels, kind: 'device_memory_quota' }), 2, 'both allocations past the quota counted');
    t.equal(total(s, 'vgpu_guest_request_errors_total', { ...labels, class: 'memory' }), 2, 'and answered as errors');
    const lines = fs.readFileSync(obs.logFile, 'utf8').split('\n').filter((l) => l.includes('"refusal":"device_memory_quota"')).map((l) => JSON.parse(l));
    t.equal(lines.length, 2, 'each logged once');
    t.match(lines[0], { pod: 'pod-q', refusal: 'device_memory_quota', op: 'MEM_ALLOC', quota, client: 'ring_client' }, 'with the pod, the op, the quota');
    t.ok(Number.isInteger(lines[0].guest) && lines[0].guest_pid > 0, 'and the guest id and pid');
  });

  t.test('hostile guests: refusals and faults by code', async (t) => {
    const bad = await runClient(obs.proxy, ['hostile', 'unknown-op']);
    t.equal(bad.code, 0, 'unknown op answered', { output: bad.stdout + bad.stderr });
    const broken = await runClient(obs.proxy, ['hostile', 'garbage']);
    t.equal(broken.code, 0, 'garbage closes the channel', { output: broken.stdout + broken.stderr });
    const main = { pod: '' };
    const s = await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_pod_guest_exits_total', main) === 2);
    t.equal(total(s, 'vgpu_guest_refusals_total', { ...main, kind: 'unknown_op' }), 1, 'the unknown op counted');
    t.equal(total(s, 'vgpu_pod_guest_exits_total', { ...main, reason: 'fault' }), 1, 'the garbage ended its guest as a fault');
    const faults = pick(s, 'vgpu_pod_guest_faults_total', main).filter((x) => x.value > 0);
    t.equal(faults.length, 1, 'one fault');
    t.match(faults[0]!.labels.code, /^bad_(record|index)$/, 'by its ChannelFault code');
  });

  t.test('a guest refused at hand-over counts as refused, with its fault code', async (t) => {
    const net = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(obs.proxy.socket);
      sock.on('connect', () => sock.write(Buffer.alloc(80, 0x41)));
      sock.on('data', () => {});
      sock.on('close', () => resolve());
      sock.on('error', reject);
    });
    const s = await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_pod_guest_exits_total', { pod: '', reason: 'refused' }) === 1);
    t.ok(total(s, 'vgpu_pod_guest_faults_total', { pod: '', code: 'bad_hello' }) >= 1, 'bad_hello counted');
  });
});

t.test('metrics with guests served by threads', async (t) => {
  const obs = await startObservedProxy(['--guest-isolation', 'thread']);
  t.teardown(() => obs.stop());
  const hold = startClient(obs.proxy, ['gpu-hold', 'alloc', String(HELD)], { VGPU_ARENA_MIB: '2' });
  await waitForOutput(hold.output, 'HELD');
  const s = await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_guest_device_memory_used_bytes', { pod: '' }) === HELD);
  t.equal(total(s, 'vgpu_guest_requests_total', { pod: '', class: 'memory' }), 2, 'counted in the worker, reported to the main thread');
  hold.child.kill('SIGKILL');
  await hold.done;
  await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_pod_guest_exits_total', { pod: '', reason: 'guest_gone' }) === 1);
  t.pass('its death counted');
});
