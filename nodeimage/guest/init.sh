#!/bin/sh
# The pod VM's first process (nodeimage/build-guest.sh): a tmpfs root, mounts,
# modules, grant limits, then the guest agent, which becomes PID 1 (exec) and
# reaps every orphan.
#
# Kernel command line (the domain's extra=):
#   xen_cri.agent=0           do not start the agent (tests)
#   vgpu_test=M:A:B,M:A,...   run ring_client M A B ... in order (IDM tests),
#                             print each result, then power off
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
# pivot_root(2) refuses the initramfs as the old root: containers need the agent's root to be a real
# mount.  So, once: copy the initramfs onto a tmpfs and switch to it.
if [ -z "${XEN_CRI_ROOT:-}" ]; then
  mkdir -p /newroot
  mount -t tmpfs -o mode=0755 root /newroot
  for d in /*; do case "$d" in /newroot|/proc|/sys|/dev|/run|/tmp) mkdir -p "/newroot$d" ;; *) cp -a "$d" /newroot/ ;; esac; done
  export XEN_CRI_ROOT=tmpfs
  exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
for m in xen-evtchn xen-gntalloc xen-blkfront crc32c_generic overlay ext4; do modprobe "$m" 2>/dev/null || echo "init: modprobe $m failed"; done
# vGPU rings are granted pages: a 64 MiB arena is 16384 of them (the driver's default limit is 1024).
echo 262144 >/sys/module/xen_gntalloc/parameters/limit 2>/dev/null
echo "xen-cri guest: up at $(cut -d' ' -f1 /proc/uptime)s"

tests=""
agent=1
for a in $(cat /proc/cmdline); do
  case "$a" in
    vgpu_test=*) tests="${a#vgpu_test=}" ;;
    xen_cri.agent=0) agent=0 ;;
  esac
done

if [ -n "$tests" ]; then
  export VGPU_TRANSPORT=xen VGPU_ARENA_MIB="${VGPU_ARENA_MIB:-4}" VGPU_LOG=info
  for t in $(echo "$tests" | tr ',' ' '); do
    set -- $(echo "$t" | tr ':' ' ')
    echo "GUEST-TEST-BEGIN $*"
    t0=$(cut -d' ' -f1 /proc/uptime)
    ring_client "$@" 2>&1
    rc=$?
    echo "GUEST-TEST-END rc=$rc start=$t0 end=$(cut -d' ' -f1 /proc/uptime) $*"
  done
  echo "GUEST-TESTS-DONE"
  [ "$agent" = 0 ] && { sync; poweroff -f; }
fi
if [ "$agent" = 1 ]; then
  exec /sbin/xen-cri-agent
fi
echo "init: nothing to do"
sleep 3600
