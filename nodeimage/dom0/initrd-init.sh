#!/bin/sh
# dom0's first stage (nodeimage/build-dom0.sh): load the disk's drivers,
# mount the root disk (/dev/vda, label xen-cri-dom0), and hand over to the
# init named by the kernel's init= (default /sbin/init).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /proc/cmdline); do case "$m" in init=*) next="${m#init=}" ;; esac; done
modprobe virtio_pci
modprobe virtio_blk
modprobe crc32c_generic
modprobe ext4
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 /dev/vda /newroot; then
  echo "dom0 initrd: cannot mount /dev/vda (the root disk)"; sleep 2; echo o >/proc/sysrq-trigger
fi
umount /proc /sys
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot "${next:-/sbin/init}"
