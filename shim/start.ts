// The shim's `start` action: containerd runs it in the new task's bundle.
// Containers of one pod share one shim: if the pod's shim already runs, its
// address is the answer; otherwise a shim daemon is started (detached, in a
// session of its own) and its address printed once it listens.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decode, readAny } from '../src/proto/load.js';
import { configFromOptions } from './config.js';
import type { ShimFlags } from './flags.js';
import { readSpec, sandboxIdOf } from './task-service.js';
import { shimSocketPath, socketAlive } from './socket.js';

function readStdin(): Buffer {
  try {
    if (fs.fstatSync(0).isFIFO() || fs.fstatSync(0).isFile()) return fs.readFileSync(0);
  } catch {
    /* no stdin */
  }
  return Buffer.alloc(0);
}

export async function startAction(flags: ShimFlags): Promise<void> {
  const bundle = process.cwd();
  const raw = readStdin();
  const options = raw.length ? readAny(decode('google.protobuf.Any', raw)) : null;
  // Checked here so that a bad configuration fails the task's start, in containerd's log.
  const config = configFromOptions(options);
  const spec = readSpec(bundle);
  const group = sandboxIdOf(spec, flags.id);
  const sock = shimSocketPath(flags.address, flags.namespace, group);
  const address = `unix://${sock}`;
  if (!(await socketAlive(sock))) {
    fs.mkdirSync(path.dirname(sock), { recursive: true, mode: 0o711 });
    const daemon = fileURLToPath(new URL('./daemon.js', import.meta.url));
    const args = [daemon, '-namespace', flags.namespace, '-id', group, '-address', flags.address, '-socket', sock];
    if (flags.debug) args.push('-debug');
    const child = spawn(process.execPath, args, {
      cwd: bundle,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, XEN_CRI_CONFIG_JSON: JSON.stringify({ ...config, source: undefined }), XEN_CRI_CONFIG_SOURCE: config.source },
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
    let ready = false;
    for (let i = 0; i < 200 && !ready; i++) {
      const r = await Promise.race([exited.then((c) => `exit ${c}`), new Promise((res) => setTimeout(() => res(''), 50))]);
      if (r) throw new Error(`xen-cri shim daemon for pod ${group} ${r}: ${err.trim() || 'no message'}`);
      ready = await socketAlive(sock, 200);
    }
    if (!ready) {
      child.kill('SIGKILL');
      throw new Error(`xen-cri shim daemon for pod ${group} did not listen on ${sock} within 10 s: ${err.trim()}`);
    }
    child.stderr!.destroy();
    child.unref();
  }
  fs.writeFileSync(path.join(bundle, 'address'), address);
  process.stdout.write(address);
}
