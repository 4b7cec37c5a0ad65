#!/bin/bash
# nodeimage/provision.sh — turns a Debian 12 system into an xen-cri node's
# dom0.  The one provisioning script of both node builds:
#
#   Packer (GCE image, nodeimage/packer/):  provision.sh --target gce --payload /tmp/xen-cri-payload.tar.gz
#   local build (QEMU, build-dom0.sh):      provision.sh --target qemu   (run in a chroot)
#
# What it does, in order:
#   1. apt: bookworm + bookworm-updates + bookworm-security (the hypervisor and the
#      tools must be the same 4.17 build), then the Xen tools, containerd, and the
#      file-system tools the xen backend builds pod disks with;
#   2. Xen: the modules dom0 needs at boot; on gce also the hypervisor and GRUB's
#      Xen entry as the default (dom0_mem, grant-table size for vGPU rings);
#   3. xen-cri: the payload (Node, the shim, vgpu-proxy, the pod-VM kernel and
#      initramfs) under /opt/xen-cri, /etc/xen-cri/config.json (backend xen),
#      containerd's runtime handler xen-cri, vgpu-proxy's unit with --xen;
#   4. kubelet settings (containerd's socket, node label) in /etc/default/kubelet.
# The QEMU build then adds its init (nodeimage/dom0/qemu-init.sh, no systemd).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

target="" payload=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; shift 2 ;;
    --payload) payload="$2"; shift 2 ;;
    *) echo "provision.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$target" in gce|qemu) ;; *) echo "usage: provision.sh --target gce|qemu [--payload TAR]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "provision.sh: run as root" >&2; exit 1; }
say() { echo "== provision ($target): $*"; }

# ---- 1. packages ----
say "apt sources (bookworm, -updates, -security)"
cat >/etc/apt/sources.list <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
if [ "$target" = qemu ]; then
  # In the chroot nothing may start services.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
fi
apt-get update -qq
apt-get -y -qq -o Dpkg::Options::=--force-confold upgrade
pkgs=(xen-utils-4.17 xen-utils-common xenstore-utils libxenmisc4.17 kmod containerd runc
      e2fsprogs erofs-utils util-linux mount procps iproute2 busybox-static ca-certificates)
[ "$target" = gce ] && pkgs+=(xen-hypervisor-4.17-amd64 linux-image-amd64 grub-pc-bin zstd)
say "installing ${pkgs[*]}"
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "${pkgs[@]}"
# The vchan library the shim binds (libxenvchan, shipped in libxenmisc).
ls /usr/lib/x86_64-linux-gnu/libxenvchan.so.* >/dev/null

# ---- 2. Xen ----
say "dom0 modules"
mkdir -p /etc/modules-load.d
cat >/etc/modules-load.d/xen-cri.conf <<'EOF'
# xen-cri: grant tables and event channels for vgpu-proxy and the shim, block backends for pod disks
xen-evtchn
xen-gntdev
xen-gntalloc
xen-privcmd
xenfs
xen-blkback
loop
overlay
erofs
EOF
if [ "$target" = gce ]; then
  say "GRUB: boot Xen by default"
  # dom0 keeps 4 GiB; pods get the rest.  gnttab_max_frames: vGPU rings are granted
  # pages (a 64 MiB arena is 16384 grants; 256 frames allow 131072 per domain).
  cat >/etc/default/grub.d/xen-cri.cfg <<'EOF'
GRUB_CMDLINE_XEN_DEFAULT="dom0_mem=4096M,max:4096M dom0_max_vcpus=2 gnttab_max_frames=256 console=com1 com1=115200,8n1"
GRUB_DEFAULT="Debian GNU/Linux, with Xen hypervisor"
GRUB_CMDLINE_LINUX_DEFAULT="console=hvc0 console=ttyS0"
XEN_OVERRIDE_GRUB_DEFAULT=0
EOF
  update-grub
fi
# xl: run hotplug scripts itself (no udev rule needed), and keep pod domains' consoles in a log.
sed -i 's/^#\?run_hotplug_scripts=.*/run_hotplug_scripts=1/' /etc/xen/xl.conf 2>/dev/null || true
# The pod disks' hotplug script: the xen backend hands blkback loop devices it set up itself, so
# the backend only needs their numbers (Xen's generic "block" script also checks sharing and
# takes locks, which ran past libxl's hotplug timeout under emulation).
mkdir -p /usr/local/lib/xen-cri
cat >/usr/local/lib/xen-cri/hotplug-block <<'SCRIPT'
#!/bin/sh
# xen-cri: hotplug script for pod disks (a block device the shim prepared). libxl runs it as
# "hotplug-block add|remove" with XENBUS_PATH set to the backend's xenstore path.
set -e
case "$1" in
  add)
    dev=$(xenstore-read "$XENBUS_PATH/params")
    [ -b "$dev" ] || { xenstore-write "$XENBUS_PATH/hotplug-error" "$dev is not a block device" "$XENBUS_PATH/hotplug-status" error; exit 1; }
    xenstore-write "$XENBUS_PATH/physical-device" "$(stat -L -c '%t:%T' "$dev")" "$XENBUS_PATH/physical-device-path" "$dev" \
      "$XENBUS_PATH/hotplug-status" connected
    ;;
  remove) ;;
esac
SCRIPT
chmod 755 /usr/local/lib/xen-cri/hotplug-block

# ---- 3. xen-cri ----
say "xen-cri configuration"
mkdir -p /etc/xen-cri /var/lib/xen-cri /opt/xen-cri
cat >/etc/xen-cri/config.json <<'EOF'
{
  "backend": "xen",
  "stateDir": "/run/xen-cri",
  "logLevel": "info",
  "vgpu": { "controlSocket": "/run/vgpu/control.sock", "guestLibDir": "/opt/xen-cri/app/build/lib/guest" }
}
EOF
# The xen backend's own settings (shim/sandbox/xen/config.ts): the pod VM and its sizing.
cat >/etc/xen-cri/xen.json <<'EOF'
{
  "kernel": "/opt/xen-cri/guest/vmlinuz",
  "ramdisk": "/opt/xen-cri/guest/initrd.img",
  "baseMemoryMiB": 160,
  "defaultMemoryMiB": 256,
  "defaultVcpus": 1,
  "diskDir": "/var/lib/xen-cri/disks"
}
EOF
mkdir -p /etc/containerd
if [ ! -s /etc/containerd/config.toml ] || ! grep -q 'runtimes.xen-cri' /etc/containerd/config.toml; then
  cat >>/etc/containerd/config.toml <<'EOF'
version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
# xen-cri: every pod of RuntimeClass xen-gpu is a Xen DomU
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xen-cri]
  runtime_type = "io.containerd.xen-cri.v2"
  pod_annotations = ["xen-cri.io/*"]
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xen-cri.options]
  ConfigPath = "/etc/xen-cri/config.json"
EOF
fi
# containerd finds the shim as containerd-shim-xen-cri-v2 on its PATH.
cat >/usr/local/bin/containerd-shim-xen-cri-v2 <<'EOF'
#!/bin/sh
exec /opt/xen-cri/node /opt/xen-cri/app/dist/shim/main.js "$@"
EOF
cat >/usr/local/bin/vgpu-proxy <<'EOF'
#!/bin/sh
exec /opt/xen-cri/node /opt/xen-cri/app/dist/proxy/main.js "$@"
EOF
chmod 755 /usr/local/bin/containerd-shim-xen-cri-v2 /usr/local/bin/vgpu-proxy
cat >/etc/systemd/system/vgpu-proxy.service <<'EOF'
[Unit]
Description=vgpu-proxy: CUDA remoting for xen-cri pods (shm and Xen guests)
After=xen.service xenstored.service
Wants=xenstored.service

[Service]
EnvironmentFile=-/etc/default/vgpu-proxy
ExecStart=/usr/local/bin/vgpu-proxy --xen --socket /run/vgpu/proxy.sock --control-socket /run/vgpu/control.sock --metrics-listen 127.0.0.1:9464 $VGPU_PROXY_ARGS
RuntimeDirectory=vgpu
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
[ -f /etc/default/vgpu-proxy ] || echo 'VGPU_PROXY_ARGS="--libcuda /usr/lib/x86_64-linux-gnu/libcuda.so.1"' >/etc/default/vgpu-proxy
if [ -n "$payload" ]; then
  say "payload $payload -> /opt/xen-cri"
  tar -C /opt/xen-cri -xf "$payload"
  for f in node app/dist/shim/main.js app/dist/proxy/main.js guest/vmlinuz guest/initrd.img; do
    [ -e "/opt/xen-cri/$f" ] || { echo "provision.sh: the payload lacks $f (nodeimage/make-payload.sh makes it)" >&2; exit 1; }
  done
fi

# ---- 4. kubelet ----
say "kubelet settings"
cat >/etc/default/kubelet <<'EOF'
# xen-cri node: containerd's CRI socket; pods of RuntimeClass xen-gpu (handler xen-cri) are Xen DomUs.
KUBELET_EXTRA_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-labels=xen-cri.io/runtime=true"
EOF

if [ "$target" = gce ]; then
  systemctl enable containerd vgpu-proxy >/dev/null
  systemctl enable xen.service xenstored.service xenconsoled.service 2>/dev/null || true
fi

[ "$target" = qemu ] && rm -f /usr/sbin/policy-rc.d
apt-get clean
say "done"
