// containerd passes a container's xen-cri.io/* annotations (a device plugin's
// Allocate answer) to the shim only where the runtime lists them in
// container_annotations: the snippets do, and deploy/install.sh adds it to a
// xen-cri handler installed before it (once).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoPath } from '../../devkit/repo-root.js';

t.test('container_annotations in the snippets', async (t) => {
  t.match(fs.readFileSync(repoPath('deploy', 'containerd', 'xen-cri.toml'), 'utf8'), /runtimes\.xen-cri\]\n(?:[ #].*\n)*  container_annotations = \["xen-cri\.io\/\*"\]\n/, 'containerd 1.x');
  t.match(fs.readFileSync(repoPath('deploy', 'containerd', 'xen-cri.v3.toml'), 'utf8'), /runtimes\.xen-cri\]\n(?:[ #].*\n)*  container_annotations = \['xen-cri\.io\/\*'\]\n/, 'containerd 2.x');
});

t.test('install.sh adds container_annotations to an older handler', async (t) => {
  const root = fs.mkdtempSync('/tmp/xcri-dp-install-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const cfg = path.join(root, 'etc', 'containerd', 'config.toml');
  fs.mkdirSync(path.dirname(cfg), { recursive: true });
  const old = `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = ["example.com/*"]
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xen-cri]
  runtime_type = "io.containerd.xen-cri.v2"
  pod_annotations = ["xen-cri.io/*"]
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xen-cri.options]
  ConfigPath = "/etc/xen-cri/config.json"
`;
  fs.writeFileSync(cfg, old);
  const run = () => execFileSync('bash', [repoPath('deploy', 'install.sh'), '--backend', 'process', '--root', root, '--containerd-config', '/etc/containerd/config.toml', '--copy-node-modules', '--no-systemd'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.match(run(), /the xen-cri handler now passes container annotations/, 'install says so');
  const want = old.replace('  pod_annotations = ["xen-cri.io/*"]\n', '  pod_annotations = ["xen-cri.io/*"]\n  container_annotations = ["xen-cri.io/*"]\n');
  t.equal(fs.readFileSync(cfg, 'utf8'), want, "added to the xen-cri handler only, under its pod_annotations");
  t.match(run(), /already has the xen-cri handler/, 'a second install adds nothing');
  t.equal(fs.readFileSync(cfg, 'utf8'), want, 'the config is unchanged');
});
