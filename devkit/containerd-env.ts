// A real containerd (the distribution's, pinned by .ci/run's install) with
// the xen-cri runtime, a local registry on 127.0.0.1 that containerd mirrors
// for registry.k8s.io and gcr.io, and images built by
// tools/build-test-images.sh: what the shim tests and critest run against.
// Needs root; say why not and skip where it cannot run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import { repoPath } from './repo-root.js';

export const CRI_NS = 'k8s.io';

/** The local name of each image and the names it is pushed under (registry paths, mirrored). */
export const IMAGES: Record<string, string[]> = {
  pause: ['xen-cri-test/pause:3.9', 'pause:3.9'],
  busybox: ['xen-cri-test/busybox:latest', 'e2e-test-images/busybox:1.29-2', 'k8s-staging-cri-tools/test-image-latest:latest', 'k8s-staging-cri-tools/test-image-tag:test', 'k8s-staging-cri-tools/test-image-tag:all'],
  'busybox-user-uid': ['k8s-staging-cri-tools/test-image-user-uid:latest'],
  'busybox-user-username': ['k8s-staging-cri-tools/test-image-user-username:latest'],
  'busybox-user-uid-group': ['k8s-staging-cri-tools/test-image-user-uid-group:latest'],
  'busybox-user-username-group': ['k8s-staging-cri-tools/test-image-user-username-group:latest'],
  'busybox-predefined-group': ['k8s-staging-cri-tools/test-image-predefined-group:latest'],
  'busybox-httpd': ['e2e-test-images/nginx:1.14-2', 'e2e-test-images/httpd:2.4.39-4'],
  'busybox-httpd-12003': ['k8s-staging-cri-tools/hostnet-nginx-amd64:latest'],
};

export const MIRRORED = ['registry.k8s.io', 'gcr.io', 'k8s.gcr.io', 'xen-cri.test'];
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.9';
export const BUSYBOX_IMAGE = 'xen-cri.test/xen-cri-test/busybox:latest';

/** Why this machine cannot run the containerd tests, or '' when it can. */
export function whyNotContainerd(): string {
  if (process.getuid?.() !== 0) return 'needs root (containerd, runc, mounts)';
  for (const tool of ['containerd', 'runc', 'skopeo', 'docker-registry', 'crictl', 'gcc']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: envWithGoBin() });
    } catch {
      return `${tool} is not installed (.ci/run installs it)`;
    }
  }
  return '';
}

export function envWithGoBin(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const gobin = process.env.GOBIN || path.join(process.env.HOME || '/root', 'go', 'bin');
  return { ...process.env, PATH: `${gobin}:/usr/local/go/bin:${process.env.PATH}`, ...extra };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms: number, child?: ChildProcess, log?: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    if (child && child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const tail = log && fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : '';
  throw new Error(`${what} not ready after ${ms} ms${tail ? `; log:\n${tail}` : ''}`);
}

const canConnect = (p: string): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** Where tools/install-containerd.sh builds the pinned releases. */
export const CONTAINERD_BUILDS = '/usr/local/lib/xen-cri-test';

export interface ContainerdBinary {
  name: string;
  bin: string;
  /** the release line the shim supports (1.7, 2.x); false for the distribution's 1.6 */
  supported: boolean;
}

/**
 * The containerd releases to test: the distribution's (Debian 12: 1.6) and the pinned 1.7 and 2.x
 * that tools/install-containerd.sh builds (each when present).
 */
export function containerdBinaries(): ContainerdBinary[] {
  const base = process.env.XEN_CRI_TEST_CONTAINERD_BUILDS || CONTAINERD_BUILDS;
  const out: ContainerdBinary[] = [{ name: 'containerd (distribution)', bin: 'containerd', supported: false }];
  for (const line of ['1.7', '2']) {
    const bin = path.join(base, `containerd${line}`, 'containerd');
    if (fs.existsSync(bin)) out.push({ name: `containerd ${line === '2' ? '2.x' : line}`, bin, supported: true });
  }
  return out;
}

export interface EnvOptions {
  /** containerd binary (default: $XEN_CRI_TEST_CONTAINERD, else containerd on PATH) */
  containerd?: string;
  /** extra lines for the xen-cri runtime's config (JSON keys) */
  shimConfig?: Record<string, unknown>;
  cni?: boolean;
  /** more runtime handlers: name → the JSON written as that handler's xen-cri config (may be invalid on purpose) */
  extraRuntimes?: Record<string, unknown>;
  /** start vgpu-proxy (no GPU) with its control API, and give the runtime libvgpu as libcuda.so.1 */
  vgpu?: boolean;
  /** the real CUDA driver for that vgpu-proxy (default: none, diagnostic ops only) */
  libcuda?: string;
}

export interface PodNetwork {
  bridge: string;
  /** the first three octets of the pods' /24 */
  prefix: string;
}

/** A bridge and a /24 under 10.88/16 picked from the test folder's random name. */
export function podNetworkFor(dir: string): PodNetwork {
  let h = 0;
  for (const c of path.basename(dir)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const n = 10 + (h % 240);
  return { bridge: `xcri${n}`, prefix: `10.88.${n}` };
}

function quietly(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/**
 * Removes what pods on this network left behind when their CNI DEL never ran (a shim or containerd
 * killed by a test): network namespaces (containerd 2.x keeps them in /run/netns), the portmap
 * plugin's DNAT chains towards the subnet, and the bridge.
 */
export function sweepPodNetwork(net: PodNetwork): void {
  const inSubnet = (text: string) => new RegExp(`inet ${net.prefix.replace(/\./g, '\\.')}\\.\\d+/`).test(text);
  for (const ns of fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : []) {
    if (!ns.startsWith('cni-')) continue;
    if (inSubnet(quietly('ip', ['netns', 'exec', ns, 'ip', '-4', '-o', 'addr', 'show']))) quietly('ip', ['netns', 'delete', ns]);
  }
  const rules = quietly('iptables', ['-t', 'nat', '-S']).split('\n');
  const stale = new Set(rules.filter((r) => r.startsWith('-A CNI-DN-') && r.includes(`--to-destination ${net.prefix}.`)).map((r) => r.split(' ')[1]!));
  for (const chain of stale) {
    for (const r of rules.filter((r) => r.startsWith('-A CNI-HOSTPORT-DNAT ') && r.endsWith(`-j ${chain}`))) {
      // the rule's own words, less "-A", name it for -D (iptables -S quotes as the shell would)
      quietly('sh', ['-c', `iptables -t nat -D ${r.slice(3)}`]);
    }
    quietly('iptables', ['-t', 'nat', '-F', chain]);
    quietly('iptables', ['-t', 'nat', '-X', chain]);
  }
  quietly('ip', ['link', 'delete', net.bridge]);
}

export class ContainerdEnv {
  readonly dir: string;
  readonly sock: string;
  readonly log: string;
  readonly bin: string;
  registryPort = 0;
  #containerd: ChildProcess | null = null;
  #registry: ChildProcess | null = null;
  #proxy: ChildProcess | null = null;

  /** This environment's own bridge and /24, so that pods another environment leaked never share its addresses or host ports' rules. */
  readonly network: PodNetwork;

  constructor(readonly opts: EnvOptions = {}) {
    this.dir = fs.mkdtempSync('/tmp/xcri-');
    this.network = podNetworkFor(this.dir);
    this.sock = path.join(this.dir, 'containerd.sock');
    this.log = path.join(this.dir, 'containerd.log');
    this.bin = path.join(this.dir, 'bin');
  }

  get shimConfigPath(): string {
    return path.join(this.dir, 'xen-cri.json');
  }

  get stateDir(): string {
    return path.join(this.dir, 'xen-cri');
  }

  /** Builds (once, into build/test-images) and serves the images, writes configs, starts containerd. */
  async start(): Promise<void> {
    const images = repoPath('build', 'test-images');
    if (!fs.existsSync(path.join(images, 'busybox-httpd-12003', 'index.json'))) {
      execFileSync('bash', [repoPath('tools', 'build-test-images.sh'), images], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    await this.#startRegistry(images);
    fs.mkdirSync(this.bin, { recursive: true });
    // containerd finds the runtime as containerd-shim-xen-cri-v2 on its PATH.
    fs.writeFileSync(path.join(this.bin, 'containerd-shim-xen-cri-v2'), `#!/bin/sh\nexec ${process.execPath} ${repoPath('dist', 'shim', 'main.js')} "$@"\n`, { mode: 0o755 });
    fs.writeFileSync(this.shimConfigPath, JSON.stringify({
      backend: 'process',
      stateDir: this.stateDir,
      logLevel: 'debug',
      vgpu: { controlSocket: path.join(this.dir, 'vgpu', 'control.sock'), guestLibDir: path.join(this.dir, 'vgpu-lib') },
      ...this.opts.shimConfig,
    }));
    if (this.opts.vgpu) await this.#startProxy();
    // What an earlier run left on this subnet (a pod whose removal failed) would answer for our pods.
    sweepPodNetwork(this.network);
    this.#writeCni();
    for (const [name, cfg] of Object.entries(this.opts.extraRuntimes ?? {})) fs.writeFileSync(path.join(this.dir, `${name}.json`), typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
    fs.writeFileSync(path.join(this.dir, 'config.toml'), this.#config());
    await this.startContainerd();
  }

  get controlSocket(): string {
    return path.join(this.dir, 'vgpu', 'control.sock');
  }

  async #startProxy(): Promise<void> {
    const lib = path.join(this.dir, 'vgpu-lib');
    fs.mkdirSync(lib, { recursive: true });
    fs.copyFileSync(repoPath('build', 'lib', 'libvgpu.so'), path.join(lib, 'libvgpu.so'));
    fs.symlinkSync('libvgpu.so', path.join(lib, 'libcuda.so.1'));
    fs.mkdirSync(path.join(this.dir, 'vgpu'), { recursive: true });
    const out = fs.openSync(path.join(this.dir, 'vgpu', 'proxy.log'), 'a');
    this.#proxy = spawn(process.execPath, [repoPath('dist', 'proxy', 'main.js'), '--socket', path.join(this.dir, 'vgpu', 'proxy.sock'), '--libcuda', this.opts.libcuda ?? path.join(this.dir, 'no-libcuda.so.1'),
      '--control-socket', this.controlSocket, '--pod-socket-dir', path.join(this.dir, 'vgpu', 'pods'), '--guest-isolation', 'thread'], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    await waitFor('vgpu-proxy control API', () => canConnect(this.controlSocket), 15000, this.#proxy, path.join(this.dir, 'vgpu', 'proxy.log'));
  }

  async #startRegistry(images: string): Promise<void> {
    this.registryPort = await freePort();
    const cfg = path.join(this.dir, 'registry.yml');
    fs.writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${this.dir}/registry\nhttp:\n  addr: 127.0.0.1:${this.registryPort}\n`);
    const rlog = fs.openSync(path.join(this.dir, 'registry.log'), 'a');
    this.#registry = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', rlog, rlog] });
    fs.closeSync(rlog);
    await waitFor('registry', async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${this.registryPort}/v2/`);
        return r.ok;
      } catch {
        return false;
      }
    }, 15000, this.#registry, path.join(this.dir, 'registry.log'));
    for (const [local, names] of Object.entries(IMAGES)) {
      for (const name of names) {
        execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${path.join(images, local)}:latest`, `docker://127.0.0.1:${this.registryPort}/${name}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      }
    }
  }

  #writeCni(): void {
    const conf = path.join(this.dir, 'cni', 'conf');
    fs.mkdirSync(conf, { recursive: true });
    if (this.opts.cni === false || !fs.existsSync('/usr/lib/cni/bridge')) return;
    fs.writeFileSync(path.join(conf, '10-xcri.conflist'), JSON.stringify({
      cniVersion: '0.4.0',
      name: 'xcri',
      plugins: [
        { type: 'bridge', bridge: this.network.bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: `${this.network.prefix}.0/24` }]], dataDir: path.join(this.dir, 'cni', 'ipam') } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }));
  }

  /** containerd's binary: $XEN_CRI_TEST_CONTAINERD (e.g. a containerd 2.x built with go install), else the one on PATH. */
  get containerdBinary(): string {
    return this.opts.containerd || process.env.XEN_CRI_TEST_CONTAINERD || 'containerd';
  }

  /** containerd's major version (1 or 2), from `containerd --version`. */
  containerdMajor(): number {
    const v = execFileSync(this.containerdBinary, ['--version'], { encoding: 'utf8' });
    return /\sv?2\.\d+/.test(v) || /containerd\/v2/.test(v) ? 2 : 1;
  }

  #config(): string {
    return this.containerdMajor() === 2 ? this.#configV3() : this.#configV2();
  }

  /** containerd 2.x (config version 3): registries mirrored through hosts.toml files. */
  #configV3(): string {
    const certs = path.join(this.dir, 'certs.d');
    for (const r of MIRRORED) {
      fs.mkdirSync(path.join(certs, r), { recursive: true });
      fs.writeFileSync(path.join(certs, r, 'hosts.toml'), `server = "https://${r}"\n[host."http://127.0.0.1:${this.registryPort}"]\n  capabilities = ["pull", "resolve"]\n`);
    }
    const rt = "plugins.'io.containerd.cri.v1.runtime'";
    const extra = Object.keys(this.opts.extraRuntimes ?? {}).map((name) => `[${rt}.containerd.runtimes.${name}]
  runtime_type = "io.containerd.xen-cri.v2"
  pod_annotations = ["xen-cri.io/*"]
  container_annotations = ["xen-cri.io/*"]
[${rt}.containerd.runtimes.${name}.options]
  ConfigPath = "${this.dir}/${name}.json"
`).join('');
    return `version = 3
root = "${this.dir}/root"
state = "${this.dir}/state"
[grpc]
  address = "${this.sock}"
[plugins.'io.containerd.internal.v1.opt']
  path = "${this.dir}/opt"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "${PAUSE_IMAGE}"
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = "${certs}"
[${rt}]
  restrict_oom_score_adj = true
  enable_selinux = false
[${rt}.containerd]
  default_runtime_name = "xen-cri"
[${rt}.containerd.runtimes.xen-cri]
  runtime_type = "io.containerd.xen-cri.v2"
  pod_annotations = ["xen-cri.io/*"]
  container_annotations = ["xen-cri.io/*"]
[${rt}.containerd.runtimes.xen-cri.options]
  ConfigPath = "${this.shimConfigPath}"
${extra}[${rt}.cni]
  bin_dirs = ["/usr/lib/cni"]
  conf_dir = "${this.dir}/cni/conf"
`;
  }

  #configV2(): string {
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    const mirrors = MIRRORED.map((r) => `[${cri}.registry.mirrors."${r}"]\n  endpoint = ["http://127.0.0.1:${this.registryPort}"]\n`).join('');
    return `version = 2
root = "${this.dir}/root"
state = "${this.dir}/state"
[grpc]
  address = "${this.sock}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${this.dir}/opt"
[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
[${cri}.containerd]
  default_runtime_name = "xen-cri"
[${cri}.containerd.runtimes.xen-cri]
  runtime_type = "io.containerd.xen-cri.v2"
  pod_annotations = ["xen-cri.io/*"]
  container_annotations = ["xen-cri.io/*"]
[${cri}.containerd.runtimes.xen-cri.options]
  ConfigPath = "${this.shimConfigPath}"
${Object.keys(this.opts.extraRuntimes ?? {}).map((name) => `[${cri}.containerd.runtimes.${name}]
  runtime_type = "io.containerd.xen-cri.v2"
  pod_annotations = ["xen-cri.io/*"]
  container_annotations = ["xen-cri.io/*"]
[${cri}.containerd.runtimes.${name}.options]
  ConfigPath = "${this.dir}/${name}.json"
`).join('')}[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${this.dir}/cni/conf"
${mirrors}`;
  }

  async startContainerd(): Promise<void> {
    const out = fs.openSync(this.log, 'a');
    this.#containerd = spawn(this.containerdBinary, ['--config', path.join(this.dir, 'config.toml'), '--log-level', 'debug'], {
      stdio: ['ignore', out, out],
      env: { ...process.env, PATH: `${this.bin}:${process.env.PATH}` },
    });
    fs.closeSync(out);
    await waitFor('containerd', () => canConnect(this.sock), 20000, this.#containerd, this.log);
    // The CRI plugin answers once it has loaded.
    await waitFor('containerd CRI', () => {
      try {
        this.crictl(['info'], 10000);
        return true;
      } catch {
        return false;
      }
    }, 20000, this.#containerd, this.log);
  }

  async stopContainerd(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const c = this.#containerd;
    if (!c || c.exitCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await Promise.race([done, new Promise((r) => setTimeout(r, 10000))]);
    if (c.exitCode === null) c.kill('SIGKILL');
    this.#containerd = null;
  }

  /** Runs crictl against this containerd; throws with its stderr on failure. */
  crictl(args: string[], timeoutMs = 60000, input?: string): string {
    return execFileSync('crictl', ['--runtime-endpoint', `unix://${this.sock}`, '--image-endpoint', `unix://${this.sock}`, '--timeout', '30s', ...args], {
      env: envWithGoBin(),
      timeout: timeoutMs,
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  }

  /** Like crictl(), but returns exit code and both streams instead of throwing. */
  crictlResult(args: string[], timeoutMs = 60000, input?: string): { code: number; stdout: string; stderr: string } {
    try {
      return { code: 0, stdout: this.crictl(args, timeoutMs, input), stderr: '' };
    } catch (err) {
      const e = err as { status?: number; stdout?: string; stderr?: string };
      return { code: e.status ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  containerdLog(): string {
    return fs.existsSync(this.log) ? fs.readFileSync(this.log, 'utf8') : '';
  }

  /** Stops everything: pods first (through CRI), then containerd and the registry; leaves no mount behind. */
  async stop(): Promise<void> {
    if (this.#containerd && this.#containerd.exitCode === null) {
      try {
        const pods = this.crictl(['pods', '-q']).split('\n').filter(Boolean);
        for (const p of pods) {
          this.crictlResult(['stopp', p]);
          this.crictlResult(['rmp', '-f', p]);
        }
      } catch {
        /* containerd not answering */
      }
    }
    await this.stopContainerd();
    this.#registry?.kill('SIGTERM');
    this.#proxy?.kill('SIGTERM');
    // containerd's own mounts under its root (snapshots, shm) are left by a stopped containerd.
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
      const mp = line.split(' ')[4];
      if (mp && mp.startsWith(this.dir + '/')) {
        try {
          execFileSync('umount', ['-l', mp], { stdio: 'ignore' });
        } catch {
          /* gone */
        }
      }
    }
    sweepPodNetwork(this.network);
    if (!process.env.XEN_CRI_KEEP_TEST_DIR) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
