#!/usr/bin/env bash
# nodeimage/build-guest.sh — the pod VM: Debian's kernel (the same package as
# dom0's) and a small initramfs with the guest agent, from distribution
# packages and this repository's static programs.
#
# Outputs in build/nodeimage/guest/:
#   vmlinuz       the PV kernel
#   initrd.img    busybox (busybox-static), the agent (agent/, static), the
#                 modules for pod disks (xen-blkfront, ext4, erofs, overlay) and
#                 for vGPU channels (xen-gntalloc, xen-evtchn), ring_client
#                 (static, the IDM test guest), libvgpu (as libcuda.so.1, for GPU
#                 containers), /init (nodeimage/guest/init.sh)
# Builds the agent (make -C agent) and the static test guest (make -C vgpu) first.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ni_need cpio busybox modprobe depmod make gcc
ni_boot_files
make -s -C "$NI_REPO/agent"
make -s -C "$NI_REPO/vgpu" "$NI_REPO/build/vgpu-tests/ring_client.static" BUILD="$NI_REPO/build" >/dev/null

agent="$NI_REPO/build/agent/xen-cri-agent"
ring_client="$NI_REPO/build/vgpu-tests/ring_client.static"
libvgpu="$NI_REPO/build/lib/libvgpu.so"
for f in "$ring_client" "$agent" "$libvgpu"; do
  [ -x "$f" ] || ni_die "$f was not built"
done
bb=$(command -v busybox)
out="$NI_OUT/guest"
key=$(ni_hash "$NI_BOOT_KEY" "$NI_DIR/guest/init.sh" "$agent" "$ring_client" "$libvgpu" "$bb" "$NI_DIR/build-guest.sh")
if ni_fresh "$out/initrd.img" "$key"; then exit 0; fi

ni_log "pod VM initramfs"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w"/{bin,sbin,dev,proc,sys,run,tmp,mnt,etc,usr/bin,var/lib/xen-cri}
cp "$bb" "$w/bin/busybox"
for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$w/bin/$a"; done
cp "$agent" "$w/sbin/xen-cri-agent"
cp "$ring_client" "$w/usr/bin/ring_client"
# libvgpu for GPU containers (shim/sandbox/xen/spec.ts mounts it at /usr/local/xen-cri/vgpu/lib in containers given the pod's vGPU).
mkdir -p "$w/usr/lib/xen-cri/vgpu"
cp "$libvgpu" "$w/usr/lib/xen-cri/vgpu/libvgpu.so"
ln -s libvgpu.so "$w/usr/lib/xen-cri/vgpu/libcuda.so.1"
ln -s libvgpu.so "$w/usr/lib/xen-cri/vgpu/libcuda.so"
ni_copy_modules "$NI_BOOT/kernel" "$NI_KVER" "$w" xen-blkfront crc32c_generic ext4 overlay xen-gntalloc xen-evtchn >/dev/null
cp "$NI_DIR/guest/init.sh" "$w/init"
chmod 755 "$w/init"
mkdir -p "$out"
ni_cpio "$w" "$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
cp "$NI_BOOT/vmlinuz" "$out/vmlinuz"
ni_stamp "$out/initrd.img" "$key"
ni_log "pod VM ready: $(du -h "$out/initrd.img" | cut -f1) initramfs"
