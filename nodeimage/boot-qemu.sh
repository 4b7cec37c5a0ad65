#!/usr/bin/env bash
# nodeimage/boot-qemu.sh — boots the local node (Xen + dom0 from
# build-dom0.sh) under QEMU, runs one job in dom0, and powers off.
#
#   nodeimage/boot-qemu.sh JOBDIR
#
# JOBDIR/run.sh runs in dom0 as root (nodeimage/dom0/qemu-init.sh) with the
# payload (make-payload.sh --image: a second disk) at /opt/xen-cri; what it
# writes into its working folder (JOBDIR, a 9p share) comes back: output.log,
# rc, the guests' consoles.
# Xen's and dom0's console: JOBDIR/serial.log.  Software emulation (TCG; Xen
# needs smap=0 there), or KVM with NODEIMAGE_ACCEL=kvm.
# Settings: QEMU_MEM (MiB, 4096), DOM0_MEM (MiB, 1536), QEMU_SMP (2), BOOT_TIMEOUT (s, 900),
# QEMU_CPU (Westmere), QEMU_TCG_THREAD (multi), XEN_EXTRA_ARGS, DOM0_VCPUS.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
job="${1:?usage: boot-qemu.sh JOBDIR}"
job="$(cd "$job" && pwd)"
ni_need qemu-system-x86_64
for f in boot/xen boot/vmlinuz dom0-initrd.gz dom0.img payload.img; do
  [ -e "$NI_OUT/$f" ] || ni_die "$NI_OUT/$f is missing: run nodeimage/build-dom0.sh, build-guest.sh, make-payload.sh --image"
done
rm -f "$job/rc" "$job/output.log" "$job/serial.log"

accel="tcg,thread=${QEMU_TCG_THREAD:-multi}"
# Westmere, not max: with QEMU 7.2's "max" model, dom0 processes' memory got corrupted once pod VMs
# ran beside them (Node crashing in V8, glibc's "free(): invalid pointer", xl reading a garbled
# kernel), with or without pcid/invpcid/fsgsbase/AVX; Westmere (no XSAVE, PCID, FSGSBASE) ran clean.
cpu="${QEMU_CPU:-Westmere}"
# KVM only when asked: a /dev/kvm that is there may still refuse a guest (nested setups), and the
# tests' timings are meant for the software-emulated CI machine.
if [ "${NODEIMAGE_ACCEL:-tcg}" = kvm ]; then accel=kvm; cpu=host; fi
xen_args="console=com1 com1=115200,8n1 dom0_mem=${DOM0_MEM:-1536}M,max:${DOM0_MEM:-1536}M dom0_max_vcpus=${DOM0_VCPUS:-${QEMU_SMP:-2}}"
xen_args="$xen_args loglvl=all guest_loglvl=all noreboot gnttab_max_frames=256"
# Under TCG, an emulated SMAP makes dom0 fault in its first instructions (../shared/reference/xen-under-qemu.md);
# and Xen's use of PCID for PV guests corrupts dom0 processes' memory once pod VMs run beside them
# (Node crashing in V8's code relocation, glibc's "free(): invalid pointer"): pcid=0.
[ "$accel" = kvm ] || xen_args="$xen_args smap=0 pcid=0"
xen_args="$xen_args ${XEN_EXTRA_ARGS:-}"
linux_args="console=hvc0 earlyprintk=xen init=/usr/local/sbin/xen-cri-qemu-init"

timeout --foreground -k 10 "${BOOT_TIMEOUT:-900}" qemu-system-x86_64 \
  -machine q35 -accel "$accel" -cpu "$cpu" -smp "${QEMU_SMP:-2}" -m "${QEMU_MEM:-4096}" \
  -nographic -no-reboot -display none -monitor none -serial "file:$job/serial.log" \
  -kernel "$NI_OUT/boot/xen" -append "$xen_args" \
  -initrd "$NI_OUT/boot/vmlinuz $linux_args,$NI_OUT/dom0-initrd.gz" \
  -drive "file=$NI_OUT/dom0.img,if=virtio,format=raw,snapshot=on" \
  -drive "file=$NI_OUT/payload.img,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$job,mount_tag=job,security_model=none" \
  </dev/null >"$job/qemu.log" 2>&1
status=$?
if [ ! -f "$job/rc" ]; then
  echo "boot-qemu: the job did not finish (qemu exit $status); last lines of $job/serial.log:" >&2
  tail -25 "$job/serial.log" >&2
  exit 125
fi
exit "$(cat "$job/rc")"
