// Pod and container configs for crictl, and a check for what a pod leaves behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BUSYBOX_IMAGE, ContainerdEnv, type EnvOptions } from '../../devkit/containerd-env.js';
import { ControlClient } from '../../src/proxy-control-client.js';

/** A host-network pod config file (no CNI needed); returns its path. */
export function podConfig(dir: string, name: string, annotations: Record<string, string> = {}): string {
  const file = path.join(dir, `pod-${name}.json`);
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 1 },
    log_directory: path.join(dir, 'logs'),
    annotations,
    linux: { security_context: { namespace_options: { network: 2 } } },
  }));
  return file;
}

/** A container config file; `annotations` as kubelet would set them (a device plugin's Allocate answer among them). */
export function containerConfig(dir: string, name: string, image: string, command: string[], annotations: Record<string, string> = {}): string {
  const file = path.join(dir, `ctr-${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ metadata: { name }, image: { image }, command, log_path: `${name}.log`, annotations, linux: {} }));
  return file;
}

/** Processes of the shim or of the pod's containers, and mounts under the test folder, still there. */
export async function leftovers(env: ContainerdEnv, podId: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < 30; i++) {
    out.length = 0;
    const ps = execFileSync('ps', ['-eo', 'pid,stat,args'], { encoding: 'utf8' });
    for (const line of ps.split('\n')) {
      if (line.includes(`-id ${podId}`) && line.includes('daemon.js')) out.push(`shim: ${line.trim()}`);
    }
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mp = line.split(' ')[4] ?? '';
      if (mp.includes(podId) || (mp.startsWith(env.dir) && mp.endsWith('/rootfs'))) out.push(`mount: ${mp}`);
    }
    const runcRoot = path.join(env.stateDir, 'runc', 'k8s.io');
    if (fs.existsSync(runcRoot)) for (const c of fs.readdirSync(runcRoot)) if (!c.startsWith('.')) out.push(`runc state: ${c}`);
    if (out.length === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return [...out];
}

/**
 * Starts a containerd with vgpu-proxy (no GPU), a client of the proxy's control API and the
 * busybox image pulled; the test's teardown stops them.
 */
export async function startVgpuEnv(t: { teardown(fn: () => unknown): void }, opts: EnvOptions): Promise<{ env: ContainerdEnv; control: ControlClient }> {
  const env = new ContainerdEnv({ ...opts, vgpu: true });
  await env.start();
  const control = new ControlClient(env.controlSocket);
  t.teardown(async () => {
    control.close();
    await env.stop();
  });
  env.crictl(['pull', BUSYBOX_IMAGE]);
  return { env, control };
}
