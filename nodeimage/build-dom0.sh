#!/usr/bin/env bash
# nodeimage/build-dom0.sh — the local build of the node: Xen, a Debian dom0
# made by the same provisioning script as the GCE image, booted under QEMU.
#
#   nodeimage/build-dom0.sh        builds (or reuses) everything below; prints nothing else
#
# Outputs in build/nodeimage/:
#   boot/xen          the hypervisor (multiboot image from xen-hypervisor-4.17-amd64)
#   boot/vmlinuz      Debian's kernel (dom0 and pod VMs alike)
#   boot/kernel/      that kernel package unpacked (its modules)
#   dom0-initrd.gz    a small busybox initramfs: loads virtio and ext4, mounts the root disk
#   dom0.img          dom0's root file system (ext4), debootstrapped and run through provision.sh
# Needs root (debootstrap, chroot) and Debian's archive.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ni_need debootstrap chroot cpio mke2fs modprobe depmod busybox dpkg-deb apt-get

ni_boot_files

# ---- dom0's base system: debootstrap (cached on its own: it is the slow part) ----
base="$NI_OUT/dom0-base"
include=kmod,ca-certificates
basekey=$(ni_hash "$NI_SUITE" "$include" "$NI_MIRROR")
if ! ni_fresh "$base" "$basekey"; then
  ni_log "debootstrap $NI_SUITE (minbase) into $base"
  rm -rf "$base" "$base.stamp"
  debootstrap --variant=minbase --include="$include" "$NI_SUITE" "$base" "$NI_MIRROR" >"$NI_OUT/debootstrap.log" 2>&1 ||
    { tail -20 "$NI_OUT/debootstrap.log" >&2; ni_die "debootstrap failed (log: $NI_OUT/debootstrap.log)"; }
  ni_stamp "$base" "$basekey"
fi

# ---- dom0's root: the base run through provision.sh (the same script Packer runs on GCE) ----
root="$NI_OUT/dom0-root"
rootkey=$(ni_hash "$basekey" "$NI_DIR/provision.sh" "$NI_BOOT_KEY")
if ! ni_fresh "$root" "$rootkey"; then
  ni_log "provisioning dom0 (chroot $root)"
  rm -rf "$root" "$root.stamp"
  cp -a "$base" "$root"
  mkdir -p "$root/tmp/provision"
  cp "$NI_DIR/provision.sh" "$root/tmp/provision/"
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  mount -t proc proc "$root/proc"
  trap 'umount "$root/proc" 2>/dev/null || true' EXIT
  chroot "$root" /bin/bash /tmp/provision/provision.sh --target qemu \
    >"$NI_OUT/provision.log" 2>&1 || { tail -30 "$NI_OUT/provision.log" >&2; ni_die "provision.sh failed in the chroot (log: $NI_OUT/provision.log)"; }
  umount "$root/proc"
  trap - EXIT
  rm -rf "$root/tmp/provision"
  # The kernel's modules (the kernel itself is booted from boot/vmlinuz).
  rm -rf "$root/lib/modules" && mkdir -p "$root/lib/modules"
  cp -a "$NI_BOOT/kernel/lib/modules/$NI_KVER" "$root/lib/modules/"
  depmod -b "$root" "$NI_KVER"
  # What a boot never needs, to keep the image small.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  ni_stamp "$root" "$rootkey"
fi

# ---- dom0's initramfs: busybox, virtio and ext4, then switch_root into the disk ----
initrd="$NI_OUT/dom0-initrd.gz"
ikey=$(ni_hash "$NI_BOOT_KEY" "$NI_DIR/dom0/initrd-init.sh" "$(command -v busybox)")
if ! ni_fresh "$initrd" "$ikey"; then
  ni_log "dom0 initramfs"
  w=$(mktemp -d)
  mkdir -p "$w"/{bin,dev,proc,sys,newroot}
  cp "$(command -v busybox)" "$w/bin/busybox"
  for a in sh mount umount switch_root insmod modprobe sleep cat echo mkdir ls; do ln -s busybox "$w/bin/$a"; done
  ni_copy_modules "$NI_BOOT/kernel" "$NI_KVER" "$w" virtio_pci virtio_blk ext4 crc32c_generic >/dev/null
  cp "$NI_DIR/dom0/initrd-init.sh" "$w/init"
  chmod 755 "$w/init"
  ni_cpio "$w" "$initrd"
  rm -rf "$w"
  ni_stamp "$initrd" "$ikey"
fi

# ---- dom0's disk ----
img="$NI_OUT/dom0.img"
imgkey=$(ni_hash "$rootkey" "$ikey" "$NI_DIR/dom0/qemu-init.sh")
if ! ni_fresh "$img" "$imgkey"; then
  ni_log "dom0 root disk (ext4)"
  # The QEMU boot's init (instead of systemd): not part of provisioning, so changing it is cheap.
  install -m 755 "$NI_DIR/dom0/qemu-init.sh" "$root/usr/local/sbin/xen-cri-qemu-init"
  used=$(du -sm "$root" | cut -f1)
  # Room for containerd's images and snapshots and the pods' disk images (QEMU runs it with snapshot=on).
  size=$((used + 2048))
  rm -f "$img"
  mke2fs -q -t ext4 -L xen-cri-dom0 -d "$root" -E root_owner=0:0 "$img" "${size}M"
  ni_stamp "$img" "$imgkey"
fi
ni_log "dom0 ready: $(du -sh "$img" | cut -f1) disk, kernel $NI_KVER"
