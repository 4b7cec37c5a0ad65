// deploy/install.sh into a staging root: the shim wrapper runs, the vGPU
// library folder, the configuration, the systemd unit and containerd's
// runtime handler are where containerd and systemd look for them.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoPath } from '../../devkit/repo-root.js';

t.test('deploy/install.sh', async (t) => {
  const root = fs.mkdtempSync('/tmp/xcri-install-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const ctrd = path.join(root, 'etc', 'containerd', 'config.toml');
  fs.mkdirSync(path.dirname(ctrd), { recursive: true });
  fs.writeFileSync(ctrd, 'version = 2\n');
  const run = (args: string[]) => execFileSync('bash', [repoPath('deploy', 'install.sh'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  t.throws(() => run(['--root', root]), /say --backend process/, 'the backend must be named');
  const out = run(['--backend', 'process', '--root', root, '--containerd-config', '/etc/containerd/config.toml', '--copy-node-modules']);
  t.match(out, /added the xen-cri handler/, out);
  const shim = path.join(root, 'usr', 'local', 'bin', 'containerd-shim-xen-cri-v2');
  const wrapper = fs.readFileSync(shim, 'utf8');
  t.match(wrapper, /exec \S*node \/opt\/xen-cri\/dist\/shim\/main\.js/, 'the wrapper names the installed shim');
  // run the installed tree (under the staging root) through the same command line
  const installed = wrapper.replace('/opt/xen-cri', path.join(root, 'opt', 'xen-cri'));
  fs.writeFileSync(path.join(root, 'shim-test'), installed, { mode: 0o755 });
  t.match(execFileSync(path.join(root, 'shim-test'), ['-v'], { encoding: 'utf8' }), /containerd-shim-xen-cri-v2:\s+Version: xen-cri/, 'the installed shim runs');
  t.equal(fs.readlinkSync(path.join(root, 'opt', 'xen-cri', 'lib', 'vgpu', 'libcuda.so.1')), 'libvgpu.so', 'libcuda.so.1 -> libvgpu.so');
  t.ok(fs.existsSync(path.join(root, 'opt', 'xen-cri', 'build', 'proto', 'github.com', 'containerd', 'containerd', 'api', 'runtime', 'task', 'v2', 'shim.proto')), "containerd's .proto files installed");
  t.match(JSON.parse(fs.readFileSync(path.join(root, 'etc', 'xen-cri', 'config.json'), 'utf8')), { backend: 'process' }, 'config names the backend');
  const unit = fs.readFileSync(path.join(root, 'etc', 'systemd', 'system', 'vgpu-proxy.service'), 'utf8');
  t.match(unit, /--control-socket \/run\/vgpu\/control\.sock/, 'vgpu-proxy unit serves the control API');
  t.match(unit, /--metrics-listen 127\.0\.0\.1:9464 /, 'and Prometheus metrics on loopback');
  const toml = fs.readFileSync(ctrd, 'utf8');
  t.match(toml, /runtimes\.xen-cri\]\n\s+runtime_type = "io\.containerd\.xen-cri\.v2"/, 'containerd handler added');
  t.match(toml, /pod_annotations = \["xen-cri\.io\/\*"\]/, 'with the pod annotations passed through');
  const again = run(['--backend', 'process', '--root', root, '--containerd-config', '/etc/containerd/config.toml', '--copy-node-modules']);
  t.match(again, /already has the xen-cri handler/, 'a second install adds nothing twice');
  t.match(again, /kept the existing \/etc\/xen-cri\/config.json/, 'and keeps the configuration');
});
