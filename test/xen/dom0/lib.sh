# test/xen/dom0/lib.sh — helpers for the jobs run in dom0 (nodeimage/boot-qemu.sh).
# Results are lines the tap tests read:
#   RESULT <name> ok|fail <detail>
#   TIMING <name> <milliseconds>
export PATH=/opt/xen-cri/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
APP=/opt/xen-cri/app
NODE=/opt/xen-cri/node
CONSOLE=/mnt/job/console

now_ms() { echo $(($(date +%s%N) / 1000000)); }
result() { echo "RESULT $1 $2 $(printf "%s" "${3:-}" | tr "\n" " ")"; }
timing() { echo "TIMING $1 $2"; }

# wait_for SECONDS COMMAND...: polls every 0.2 s; 0 when it held in time.
wait_for() {
  local limit=$(($(now_ms) + $1 * 1000)); shift
  while [ "$(now_ms)" -lt "$limit" ]; do "$@" && return 0; sleep 0.2; done
  return 1
}

# pv_config NAME MEMORY EXTRA: a pod VM's xl config on stdout.
pv_config() {
  cat <<CFG
name = "$1"
type = "pv"
kernel = "/opt/xen-cri/guest/vmlinuz"
ramdisk = "/opt/xen-cri/guest/initrd.img"
extra = "console=hvc0 quiet $3"
memory = $2
vcpus = 1
on_poweroff = "destroy"
on_crash = "destroy"
CFG
}

domid_of() { xl domid "$1" 2>/dev/null; }

# Dom0 marks a domain for vGPU (the proxy serves only marked domains): owner Dom0, the guest may read.
mark_vgpu() {
  local d; d=$(domid_of "$1")
  xenstore-write "/local/domain/$d/xen-cri/vgpu-memory" "${2:-0}"
  xenstore-chmod -r "/local/domain/$d/xen-cri" n0 "r$d"
}

console_has() { grep -q "$2" "$CONSOLE/guest-$1.log" 2>/dev/null; }

start_proxy() {
  mkdir -p /run/vgpu
  # A crash of any Node process leaves its core in the job folder (for gdb on the host).
  ulimit -c unlimited
  echo "/mnt/job/core.%e.%p" >/proc/sys/kernel/core_pattern
  "$NODE" "$APP/dist/proxy/main.js" --xen --socket /run/vgpu/proxy.sock --libcuda /nonexistent/libcuda.so.1 \
    --module-cache '' --log-level info "$@" >/mnt/job/proxy.log 2>&1 &
  PROXY_PID=$!
  wait_for 60 test -S /run/vgpu/xen/handover.sock
}
