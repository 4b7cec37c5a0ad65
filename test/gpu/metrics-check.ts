// GPU machine: vgpu-proxy's metrics during a real ResNet-50 run through
// libvgpu.  Starts a proxy on the real driver with --metrics-listen and
// --control-socket, registers a pod with a device-memory quota, runs
// bench/models/latency.py (ResNet-50, batch 1) on the pod's socket, scrapes
// /metrics every 250 ms while it runs and once after, and checks:
//   - the guest's device memory is reported, above 0 and never over the
//     pod's quota, and the quota reported is the pod's;
//   - the kernel-launch counter moved (at least one launch per forward);
//   - the request-latency histogram is populated (answered requests timed,
//     buckets cumulative, +Inf equal to the count), copies counted each way;
//   - NVML's per-GPU figures are there (vgpu_proxy_nvml_up 1);
//   - the guest's end is counted (guest_closed, or guest_gone) and nothing was refused.
// Prints `vgpu-proxy status` taken mid-run, the figures, and one line per
// check; exits 0 when every check passes.
//
//   node dist/test/gpu/metrics-check.js [--libcuda PATH] [--quota SIZE] [--iters N] [--isolation process|thread]
//
// Environment as for the PyTorch checks: VGPU_REAL_LIBCUDA, VGPU_PYTHON.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkLoadedLibcuda } from '../../devkit/loaded-libcuda.js';
import { DEFAULT_GUEST_LIB_DIR, requireGuestLib, startProxy } from '../../devkit/proxy-process.js';
import { repoPath } from '../../devkit/repo-root.js';
import { describeExit, runCommand, runMain } from '../../devkit/run-command.js';
import { parseSize } from '../../proxy/config.js';
import { controlClient, freePort, pick, scrape, total, type Sample } from '../proxy/observe-support.js';
import { lastJsonLine, MODELS_DIR, nativeEnv, pythonExe, realLibcudaPath } from './pytorch/python-scripts.js';

const POD = 'metrics-check';
const POD_LABELS = { pod: POD, namespace: 'gpu-check', pod_name: 'resnet50' };
const RUN_TIMEOUT_MS = 600_000;

interface Check {
  what: string;
  pass: boolean;
  detail: string;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { libcuda: { type: 'string' }, quota: { type: 'string' }, iters: { type: 'string' }, isolation: { type: 'string' } },
  });
  const libcuda = values.libcuda ?? realLibcudaPath();
  const quota = parseSize(values.quota ?? '4G', '--quota');
  const iters = Number(values.iters ?? 300);
  requireGuestLib();

  const dir = mkdtempSync(join(tmpdir(), 'vgpu-metrics-check-'));
  const control = join(dir, 'control.sock');
  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  const proxy = await startProxy({
    socket: join(dir, 'proxy.sock'),
    libcuda,
    logFile: join(dir, 'proxy.log'),
    extraArgs: ['--control-socket', control, '--pod-socket-dir', join(dir, 'pods'), '--metrics-listen', `127.0.0.1:${port}`,
      '--guest-isolation', values.isolation ?? 'process'],
  });
  const ctl = controlClient(control);
  const checks: Check[] = [];
  const check = (what: string, pass: boolean, detail: string): void => {
    checks.push({ what, pass, detail });
  };
  try {
    for (let i = 0; i < 100; i++) {
      try {
        await ctl.call('ListPods', {});
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const reg = await ctl.call<{ socketPath: string }>('RegisterPod', { podId: POD, memQuotaBytes: quota, namespace: POD_LABELS.namespace, name: POD_LABELS.pod_name, uid: 'metrics-check' });

    // The guest: PyTorch as installed (nativeEnv drops what points at libvgpu), then pointed at the pod's socket through libvgpu.
    const guestLib = DEFAULT_GUEST_LIB_DIR;
    const env = nativeEnv(guestLib);
    delete env.CUDA_CACHE_DISABLE;
    env.VGPU_PROXY_SOCKET = reg.socketPath;
    env.LD_LIBRARY_PATH = env.LD_LIBRARY_PATH ? `${guestLib}:${env.LD_LIBRARY_PATH}` : guestLib;
    const run = runCommand(pythonExe(), [join(MODELS_DIR, 'latency.py'), '--model', 'resnet50', '--batch', '1', '--iters', String(iters), '--warmup', '20'],
      { env, timeoutMs: RUN_TIMEOUT_MS });

    // Scrape while it runs.
    let done = false;
    void run.then(() => (done = true));
    let scrapes = 0;
    let maxUsed = 0;
    let overQuota = 0;
    let wrongQuota = 0;
    let maxGpuUsed = 0;
    let statusText = '';
    let last: Sample[] = [];
    while (!done) {
      try {
        last = await scrape(metricsUrl);
        scrapes++;
        for (const s of pick(last, 'vgpu_guest_device_memory_used_bytes', POD_LABELS)) {
          maxUsed = Math.max(maxUsed, s.value);
          if (s.value > quota) overQuota++;
        }
        for (const s of pick(last, 'vgpu_guest_device_memory_quota_bytes', POD_LABELS)) if (s.value !== quota) wrongQuota++;
        maxGpuUsed = Math.max(maxGpuUsed, total(last, 'vgpu_gpu_memory_used_bytes'));
        // Once the model runs (launches counted), take the status table once.
        if (!statusText && total(last, 'vgpu_guest_launches_total', { ...POD_LABELS, kind: 'kernel' }) > 0) {
          const st = spawnSync(process.execPath, [repoPath('dist', 'proxy', 'main.js'), 'status', '--control-socket', control], { encoding: 'utf8', timeout: 30_000 });
          statusText = st.status === 0 ? st.stdout : `vgpu-proxy status: exit ${st.status}: ${st.stderr}`;
        }
      } catch (err) {
        console.error(`scrape failed: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const r = await run;
    const json = lastJsonLine(r.stdout);
    const ran = r.code === 0 && json?.pass === true;
    check('ResNet-50 ran through libvgpu', ran, ran ? `latency p50 ${JSON.stringify((json?.latency_ms as Record<string, unknown>)?.p50)} ms over ${iters} forwards` : `${describeExit(r, RUN_TIMEOUT_MS)}: ${r.stderr.split('\n').slice(-15).join('\n')}`);
    const lib = json && json.error === undefined ? checkLoadedLibcuda(r.stderr, join(guestLib, 'libcuda.so.1')) : 'no JSON line';
    check('it loaded libvgpu', lib === null, lib ?? 'libvgpu');

    // After the run: the guest has ended; its counters stay (ENDED_KEEP_MS) for this scrape.
    await new Promise((r2) => setTimeout(r2, 1500));
    const end = await scrape(metricsUrl);
    const g = { ...POD_LABELS };
    check('memory used was reported during the run', maxUsed > 0, `max ${maxUsed} bytes over ${scrapes} scrapes`);
    check('memory used never over the quota', overQuota === 0 && maxUsed <= quota, `max ${maxUsed} of ${quota} bytes; ${overQuota} scrapes over`);
    check("the quota reported is the pod's", wrongQuota === 0, `${wrongQuota} scrapes with another quota`);
    const launches = total(end, 'vgpu_guest_launches_total', { ...g, kind: 'kernel' });
    check('the launch counter moved', launches >= iters, `${launches} kernel launches for ${iters + 21} forwards`);
    let timed = 0;
    let histogramOk = true;
    for (const cls of new Set(pick(end, 'vgpu_guest_request_duration_seconds_count', g).map((s) => s.labels.class!))) {
      const count = total(end, 'vgpu_guest_request_duration_seconds_count', { ...g, class: cls });
      const buckets = pick(end, 'vgpu_guest_request_duration_seconds_bucket', { ...g, class: cls });
      const inf = buckets.find((b) => b.labels.le === '+Inf')?.value ?? -1;
      if (inf !== count || !buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1]!.value)) histogramOk = false;
      timed += count;
    }
    check('the latency histogram is populated', timed > 0 && histogramOk,
      `${timed} answered requests timed (copy class ${total(end, 'vgpu_guest_request_duration_seconds_count', { ...g, class: 'copy' })}); buckets cumulative with +Inf = count: ${histogramOk}`);
    const htod = total(end, 'vgpu_guest_copied_bytes_total', { ...g, direction: 'htod' });
    const dtoh = total(end, 'vgpu_guest_copied_bytes_total', { ...g, direction: 'dtoh' });
    check('bytes copied each way', htod > 0 && dtoh > 0, `host->device ${htod}, device->host ${dtoh}`);
    check('NVML figures are there', total(end, 'vgpu_proxy_nvml_up') === 1 && pick(end, 'vgpu_gpu_memory_total_bytes').length > 0,
      `max GPU memory used (all GPUs, NVML) ${maxGpuUsed} bytes; guest's counted max ${maxUsed}`);
    // libvgpu closes its channel as the process exits (guest_closed); a process that ends without its exit handlers is guest_gone.
    const normalEnd = total(end, 'vgpu_pod_guest_exits_total', { ...POD_LABELS, reason: 'guest_closed' }) + total(end, 'vgpu_pod_guest_exits_total', { ...POD_LABELS, reason: 'guest_gone' });
    check("the guest's end is counted", normalEnd === 1 && total(end, 'vgpu_pod_guest_exits_total', POD_LABELS) === 1,
      pick(end, 'vgpu_pod_guest_exits_total', POD_LABELS).filter((s) => s.value > 0).map((s) => `${s.labels.reason} ${s.value}`).join(', ') || 'no exit counted');
    check('nothing refused', total(end, 'vgpu_guest_refusals_total', g) === 0, pick(end, 'vgpu_guest_refusals_total', g).filter((s) => s.value > 0).map((s) => `${s.labels.kind} ${s.value}`).join(', ') || 'none');
    check('vgpu-proxy status answered mid-run', statusText.includes(POD), statusText ? 'see the table above' : 'never taken (no launch seen while running)');

    console.log(`# vgpu-proxy status, mid-run\n${statusText}`);
    console.log('# requests by class');
    for (const s of pick(end, 'vgpu_guest_requests_total', g)) console.log(`  ${s.labels.class}: ${s.value}`);
    console.log(`# last scrape during the run had ${last.length} samples; the proxy's log: ${join(dir, 'proxy.log')}`);
  } finally {
    ctl.close();
    await proxy.stop();
  }
  for (const c of checks) console.log(`${c.pass ? 'PASS' : 'FAIL'} ${c.what}: ${c.detail}`);
  const failed = checks.filter((c) => !c.pass).length;
  console.log(failed === 0 ? `metrics-check: all ${checks.length} checks passed` : `metrics-check: ${failed} of ${checks.length} checks failed`);
  return failed === 0 ? 0 : 1;
}

runMain('metrics-check', main);
