#!/usr/bin/env bash
# Installs the xen-cri runtime shim and vgpu-proxy on a node, from a built
# checkout (npm ci && npm run build):
#
#   deploy/install.sh --backend process|xen [--prefix /opt/xen-cri] [--root DESTDIR]
#                     [--containerd-config /etc/containerd/config.toml] [--no-systemd]
#                     [--copy-node-modules]   (copy the checkout's node_modules instead of npm ci --omit=dev)
#
#   PREFIX/                      dist/, production node_modules, proto files, package.json
#   PREFIX/lib/vgpu/             libvgpu.so and libcuda.so.1 -> libvgpu.so (bind-mounted into GPU containers)
#   /usr/local/bin/containerd-shim-xen-cri-v2
#   /etc/xen-cri/config.json     (kept if present; the backend is never chosen for you)
#   /etc/systemd/system/vgpu-proxy.service, /etc/default/vgpu-proxy (kept if present)
#   containerd: the xen-cri handler added to its config (once; container_annotations added to
#   a handler that lacks it), when --containerd-config is given;
#   otherwise the snippet to add is printed.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
backend="" prefix=/opt/xen-cri root="" ctrd_config="" systemd=1 copy_modules=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --containerd-config) ctrd_config="$2"; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    --copy-node-modules) copy_modules=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$backend" in
  process) ;;
  xen) grep -qs control_d /proc/xen/capabilities || [ -n "$root" ] || { echo "install.sh: --backend xen, but this host is not a Xen dom0 (/proc/xen/capabilities)" >&2; exit 1; } ;;
  *) echo "install.sh: say --backend process (runc, no Xen) or --backend xen (pods in DomUs)" >&2; exit 2 ;;
esac
for f in dist/shim/main.js dist/proxy/main.js build/lib/libvgpu.so build/proto/.stamp; do
  [ -e "$src/$f" ] || { echo "install.sh: $src/$f is missing: run npm ci && npm run build first" >&2; exit 1; }
done
node="$(command -v node)" || { echo "install.sh: node (20 or later) is not on PATH" >&2; exit 1; }
dest="$root$prefix"
echo "installing xen-cri into $dest (backend $backend)"
mkdir -p "$dest" "$dest/lib/vgpu" "$root/usr/local/bin" "$root/etc/xen-cri"
rm -rf "$dest/dist" "$dest/proto" "$dest/build"
cp -a "$src/dist" "$dest/dist"
mkdir -p "$dest/build"
cp -a "$src/build/proto" "$dest/build/proto"
cp -a "$src/proto" "$dest/proto"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
[ -f "$src/README.md" ] && cp "$src/README.md" "$dest/"
rm -rf "$dest/node_modules"
if [ "$copy_modules" = 1 ]; then cp -a "$src/node_modules" "$dest/node_modules"; else (cd "$dest" && npm ci --omit=dev --no-audit --no-fund --loglevel=error --ignore-scripts >/dev/null) || {
  echo "install.sh: npm ci --omit=dev failed in $dest; copying the checkout's node_modules instead" >&2
  rm -rf "$dest/node_modules"; cp -a "$src/node_modules" "$dest/node_modules"; }; fi
install -m 0755 "$src/build/lib/libvgpu.so" "$dest/lib/vgpu/libvgpu.so"
ln -sfn libvgpu.so "$dest/lib/vgpu/libcuda.so.1"
ln -sfn libcuda.so.1 "$dest/lib/vgpu/libcuda.so"
cat >"$root/usr/local/bin/containerd-shim-xen-cri-v2" <<SH
#!/bin/sh
# containerd runtime shim v2 for handler xen-cri (installed by deploy/install.sh)
exec $node $prefix/dist/shim/main.js "\$@"
SH
chmod 0755 "$root/usr/local/bin/containerd-shim-xen-cri-v2"
if [ ! -f "$root/etc/xen-cri/config.json" ]; then
  sed -e "s|\"backend\": \"process\"|\"backend\": \"$backend\"|" -e "s|/opt/xen-cri/lib/vgpu|$prefix/lib/vgpu|" "$src/deploy/xen-cri/config.json" >"$root/etc/xen-cri/config.json"
  echo "wrote /etc/xen-cri/config.json (backend $backend)"
else
  echo "kept the existing /etc/xen-cri/config.json"
fi
if [ "$systemd" = 1 ]; then
  mkdir -p "$root/etc/systemd/system" "$root/etc/default"
  sed -e "s|/usr/bin/node|$node|" -e "s|/opt/xen-cri|$prefix|g" "$src/deploy/systemd/vgpu-proxy.service" >"$root/etc/systemd/system/vgpu-proxy.service"
  [ -f "$root/etc/default/vgpu-proxy" ] || cp "$src/deploy/systemd/vgpu-proxy.default" "$root/etc/default/vgpu-proxy"
  if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload && systemctl enable --now vgpu-proxy.service || echo "install.sh: vgpu-proxy.service did not start: systemctl status vgpu-proxy" >&2
  else
    echo "systemd unit written; start it with: systemctl enable --now vgpu-proxy"
  fi
  echo "vgpu-proxy's metrics: http://127.0.0.1:9464/metrics on this node (scraping them: deploy/prometheus/)"
fi
snippet="$src/deploy/containerd/xen-cri.toml"
if [ -n "$ctrd_config" ]; then
  cfg="$root$ctrd_config"
  grep -q '^version = 3' "$cfg" 2>/dev/null && snippet="$src/deploy/containerd/xen-cri.v3.toml"
  if grep -qs 'runtimes.xen-cri\]' "$cfg"; then
    if sed -n '/runtimes\.xen-cri\]/,/^\[/p' "$cfg" | grep -q 'container_annotations'; then
      echo "containerd config $ctrd_config already has the xen-cri handler"
    else
      # a handler from before the device plugin: pass the containers' xen-cri.io/* annotations too
      sed -i '/runtimes\.xen-cri\]/,/^\[/ s|^\(\s*\)pod_annotations = .*$|&\n\1container_annotations = ["xen-cri.io/*"]|' "$cfg"
      echo "containerd config $ctrd_config: the xen-cri handler now passes container annotations (container_annotations): restart containerd"
    fi
  else
    mkdir -p "$(dirname "$cfg")"
    { echo; cat "$snippet"; } >>"$cfg"
    echo "added the xen-cri handler to $ctrd_config: restart containerd"
  fi
else
  echo "add to containerd's config (then restart containerd):"
  sed 's/^/    /' "$snippet"
fi
echo "label the node for RuntimeClass xen-gpu: kubectl label node \$(hostname) xen-cri.io/runtime=true"
echo "done"
