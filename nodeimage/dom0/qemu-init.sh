#!/bin/sh
# dom0's init in the local QEMU build (nodeimage/boot-qemu.sh): what systemd
# and Debian's xen units do on the GCE image, in a few seconds and without
# systemd, then one job:
#
#   /dev/vdb (ext4, make-payload.sh --image): the payload, at /opt/xen-cri
#   9p "job" (writable):   run.sh is run; its output goes to output.log, its
#                          exit status to rc; then dom0 powers off.
# Nothing runs from 9p: the payload is a local disk, as on the real node.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
hostname xen-cri-node
[ -s /etc/hosts ] || printf '127.0.0.1\tlocalhost\n127.0.1.1\txen-cri-node\n::1\tlocalhost ip6-localhost ip6-loopback\n' >/etc/hosts
t0=$(cut -d' ' -f1 /proc/uptime)
echo "xen-cri-qemu-init: dom0 user space at ${t0}s"

for m in $(grep -v '^#' /etc/modules-load.d/xen-cri.conf) 9pnet_virtio 9p; do modprobe "$m" || echo "modprobe $m failed"; done
mount -t xenfs xenfs /proc/xen
mkdir -p /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /run/vgpu
/usr/lib/xen-4.17/bin/xenstored --pid-file /run/xenstored.pid
/usr/lib/xen-4.17/bin/xen-init-dom0 >/dev/null

mkdir -p /mnt/job /opt/xen-cri
i=0
while [ ! -b /dev/vdb ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vdb /opt/xen-cri || echo "no payload disk"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /mnt/job || echo "no job share"
export PATH="/opt/xen-cri/bin:$PATH"
# Guests' consoles straight into the job folder, so the host can follow them while the job runs.
console_dir=/var/log/xen/console
[ -d /mnt/job ] && mountpoint -q /mnt/job && { mkdir -p /mnt/job/console; ln -sfn /mnt/job/console /run/xen-console; console_dir=/mnt/job/console; }
/usr/lib/xen-4.17/bin/xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir="$console_dir"

echo "xen-cri-qemu-init: xenstored, xenconsoled up at $(cut -d' ' -f1 /proc/uptime)s; running the job"
if [ -f /mnt/job/run.sh ]; then
  (cd /mnt/job && sh ./run.sh >/mnt/job/output.log 2>&1; echo $? >/mnt/job/rc.tmp; mv /mnt/job/rc.tmp /mnt/job/rc)
  echo "xen-cri-qemu-init: job ended with $(cat /mnt/job/rc)"
else
  echo "xen-cri-qemu-init: no job"
fi
sync
umount /mnt/job 2>/dev/null
echo "xen-cri-qemu-init: powering off"
echo o >/proc/sysrq-trigger
sleep 10
