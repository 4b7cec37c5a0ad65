// `vgpu-proxy status`: the table it prints (formatStatus), and the command
// itself against a running proxy (GetStatus over the control API), with a
// registered pod whose guest holds device memory and a guest on the
// proxy's own socket, each served by a process of its own.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { startClient, waitForOutput } from '../channel/ring-client.js';
import { formatAge, formatStatus } from '../../proxy/status.js';
import type { StatusAnswer } from '../../proxy/control/status.js';
import { REPO } from './fake-driver.js';
import { controlClient, scrapeUntil, startObservedProxy, total } from './observe-support.js';

const MAIN = path.join(REPO, 'dist', 'proxy', 'main.js');

function status(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, 'status', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('the table', async (t) => {
  const answer: StatusAnswer = {
    proxyPid: 4242,
    uptimeMs: 3_723_000,
    guestIsolation: 'process',
    device: 0,
    gpus: [{ index: 0, uuid: 'GPU-1234', name: 'NVIDIA H100 80GB HBM3', memoryTotalBytes: 80 * 2 ** 30, memoryUsedBytes: 5 * 2 ** 30, utilizationPercent: 37 }],
    gpusAbsentReason: '',
    pods: [
      {
        podId: 'pod-a', namespace: 'ml', name: 'resnet-0', uid: 'u', memQuotaBytes: 4 * 2 ** 30, registered: true,
        guests: [{ guestId: 3, pid: 1234, domid: -1, transport: 'shm', client: 'python3\u0007', containerId: 'f'.repeat(64), deviceMemUsedBytes: 2 ** 30, deviceMemQuotaBytes: 4 * 2 ** 30, pinnedUsedBytes: 64 * 2 ** 20, pinnedQuotaBytes: 8 * 2 ** 30, requestsServed: 123456, ageMs: 61_000 }],
      },
      { podId: 'pod-b', namespace: '', name: '', uid: '', memQuotaBytes: 2 ** 30, registered: true, guests: [] },
      {
        podId: 'xen', namespace: '', name: '', uid: '', memQuotaBytes: 0, registered: true,
        guests: [{ guestId: 4, pid: 0, domid: 7, transport: 'xen', client: 'bench', containerId: '', deviceMemUsedBytes: 0, deviceMemQuotaBytes: Number.MAX_SAFE_INTEGER, pinnedUsedBytes: 0, pinnedQuotaBytes: 0, requestsServed: 5, ageMs: 1000 }],
      },
    ],
  };
  const text = formatStatus(answer);
  const lines = text.split('\n');
  t.ok(lines.every((l) => l.length === lines[0]!.length), 'a box: every line as wide');
  t.match(text, /vgpu-proxy {2}pid 4242 {2}up 1h02m/);
  t.match(text, /0 +NVIDIA H100 80GB HBM3 +GPU-1234 +5120MiB \/ 81920MiB +37%/, 'the GPU, as nvidia-smi shows it');
  t.match(text, /pod-a +ml\/resnet-0 +3 +1234 +ffffffffffff +python3\? +1024MiB \/ 4096MiB +64MiB +123456 +1m01s/, 'a guest: pod, names, ids, container, memory against quota, pinned, requests, age');
  t.match(text, /pod-b +- +- +- +- +\(no guest\) +quota 1024MiB/, 'a pod with no guest');
  t.match(text, /xen +- +4 +dom7 +- +bench +0MiB \/ no quota/, 'a xen guest: its domain, no quota of its own');
  t.match(text, /Guest processes: 2/);
  const none = formatStatus({ ...answer, gpus: [], gpusAbsentReason: 'NVML not available (cannot load libnvidia-ml.so.1: no such file)', pods: [] });
  t.match(none, /No GPU figures: NVML not available/);
  t.match(none, /No pods registered and no guest connected/);
  t.same([formatAge(5_000), formatAge(125_000), formatAge(7_380_000), formatAge(3 * 86_400_000)], ['5s', '2m05s', '2h03m', '3d00h']);
});

t.test('vgpu-proxy status against a running proxy', async (t) => {
  const obs = await startObservedProxy();
  const ctl = controlClient(obs.control);
  t.teardown(async () => {
    ctl.close();
    await obs.stop();
  });
  const reg = await ctl.call<{ socketPath: string }>('RegisterPod', { podId: 'pod-s', memQuotaBytes: 2 ** 30, namespace: 'ml', name: 'resnet-0', uid: 'uid-1' });
  await ctl.call('RegisterPod', { podId: 'pod-idle', memQuotaBytes: 0 });
  const hold = startClient(obs.proxy, ['gpu-hold', 'alloc', String(256 * 2 ** 20)], { VGPU_PROXY_SOCKET: reg.socketPath, VGPU_ARENA_MIB: '2' });
  const echo = startClient(obs.proxy, ['bystander', '30']);
  t.teardown(() => {
    hold.child.kill('SIGKILL');
    echo.child.kill('SIGKILL');
  });
  await waitForOutput(hold.output, 'HELD');
  // Status shows what the guest servers last reported (at most a second old): wait for the memory to be reported.
  await scrapeUntil(obs.metricsUrl, (s) => total(s, 'vgpu_guest_device_memory_used_bytes', { pod: 'pod-s' }) === 256 * 2 ** 20);

  const r = status(['--control-socket', obs.control]);
  t.equal(r.code, 0, 'exits 0', { err: r.err });
  t.comment(`\n${r.out}`);
  t.match(r.out, /No GPU figures: NVML not available/, 'no NVML here: said so');
  t.match(r.out, new RegExp(`pod-s +ml/resnet-0 +\\d+ +${hold.child.pid} +- +ring_client +256MiB / 1024MiB +0MiB +4 +\\d+s`), 'the pod guest: its pid, memory against the quota, requests');
  t.match(r.out, new RegExp(`\\(proxy socket\\) +- +\\d+ +${echo.child.pid} +- +ring_client +0MiB / no quota`), "the guest on the proxy's own socket");
  t.match(r.out, /pod-idle +- +- +- +- +\(no guest\)/, 'the registered pod with no guest');
  t.match(r.out, /Guest processes: 2/);

  const j = status(['--control-socket', obs.control, '--json']);
  t.equal(j.code, 0);
  const answer = JSON.parse(j.out) as StatusAnswer;
  const pod = answer.pods.find((p) => p.podId === 'pod-s')!;
  t.match(pod, { namespace: 'ml', name: 'resnet-0', uid: 'uid-1', memQuotaBytes: 2 ** 30, registered: true });
  t.match(pod.guests[0], { pid: hold.child.pid, transport: 'shm', client: 'ring_client', deviceMemUsedBytes: 256 * 2 ** 20, deviceMemQuotaBytes: 2 ** 30, requestsServed: 4 });
  t.equal(answer.proxyPid, obs.proxy.pid, "the proxy's pid");
  t.equal(answer.guestIsolation, 'process');

  const list = await ctl.call<{ pods: { podId: string; namespace: string; name: string; uid: string }[] }>('ListPods', {});
  t.match(list.pods.find((p) => p.podId === 'pod-s'), { namespace: 'ml', name: 'resnet-0', uid: 'uid-1' }, 'ListPods carries the names too');
  await t.rejects(ctl.call('RegisterPod', { podId: 'pod-x', memQuotaBytes: 0, name: 'bad\nname' }), /not printable ASCII/, 'names must be printable');
});

t.test('vgpu-proxy status with no proxy there', async (t) => {
  const r = status(['--control-socket', '/tmp/vgpu-no-such-control.sock']);
  t.equal(r.code, 1, 'exits 1');
  t.match(r.err, /cannot ask the proxy at \/tmp\/vgpu-no-such-control\.sock.*is vgpu-proxy running with --control-socket/);
  t.equal(status(['--bogus']).code, 2, 'an unknown option: exit 2');
});
