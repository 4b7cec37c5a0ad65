#!/usr/bin/env bash
# The main job on a fresh node: install, build, bring up the node stack and
# run an example GPU workload through it.  Whatever this machine lacks (a
# GPU, Xen, containerd) is said plainly, and what
# can run still runs.
#
#   tools/node-up.sh            bring up vgpu-proxy, run the example, leave the proxy running
#   tools/node-up.sh --stop     stop the proxy started here
#
# Settings: VGPU_REAL_LIBCUDA (the real libcuda.so.1; found with ldconfig when unset),
# VGPU_RUN_DIR (default /tmp/vgpu-node: socket, logs, pid file), VGPU_METRICS_LISTEN
# (the proxy's Prometheus endpoint, default 127.0.0.1:9464 as in the systemd unit; '' : off).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
run_dir="${VGPU_RUN_DIR:-/tmp/vgpu-node}"
sock="$run_dir/proxy.sock"
pidfile="$run_dir/proxy.pid"
metrics="${VGPU_METRICS_LISTEN-127.0.0.1:9464}"
say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

stop_proxy() {
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" && say "vgpu-proxy $(cat "$pidfile") stopped"
  fi
  rm -f "$pidfile"
}
if [ "${1:-}" = "--stop" ]; then stop_proxy; exit 0; fi

step "install and build"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run -s build
say "built: build/lib/libvgpu.so (guests load it as libcuda.so.1 from build/lib/guest), dist/proxy (vgpu-proxy)"

step "find the GPU"
libcuda="${VGPU_REAL_LIBCUDA:-}"
if [ -z "$libcuda" ]; then
  for cand in /usr/local/nvidia/lib64/libcuda.so.1 $(ldconfig -p 2>/dev/null | awk '/libcuda.so.1 /{print $NF}'); do
    [ -e "$cand" ] && { libcuda="$cand"; break; }
  done
fi
if [ -n "$libcuda" ] && [ -e "$libcuda" ]; then
  say "real CUDA driver: $libcuda"
  have_gpu=1
else
  say "NO GPU DRIVER on this machine (no libcuda.so.1): vgpu-proxy runs without a GPU and serves only"
  say "its diagnostic ops; CUDA programs get CUDA_ERROR_NO_DEVICE. Set VGPU_REAL_LIBCUDA on a GPU node."
  libcuda="$run_dir/no-gpu/libcuda.so.1"
  have_gpu=0
fi

step "start vgpu-proxy"
mkdir -p "$run_dir"
stop_proxy
rm -f "$sock"   # one left by a proxy that died would pass for this one's
# Something already on the metrics port (the installed vgpu-proxy.service serves 127.0.0.1:9464)
# would stop this proxy at start: it then serves none.
metrics_host="${metrics%:*}"; metrics_host="${metrics_host#[}"; metrics_host="${metrics_host%]}"
if [ -n "$metrics" ] && (exec 3<>"/dev/tcp/$metrics_host/${metrics##*:}") 2>/dev/null; then
  say "$metrics is taken (the installed vgpu-proxy.service?): this proxy serves no metrics; set VGPU_METRICS_LISTEN to another loopback HOST:PORT"
  metrics=""
fi
metrics_args=()
[ -n "$metrics" ] && metrics_args=(--metrics-listen "$metrics")
nohup node dist/proxy/main.js --socket "$sock" --libcuda "$libcuda" ${metrics_args[@]+"${metrics_args[@]}"} >"$run_dir/proxy.log" 2>&1 &
echo $! >"$pidfile"
up() { kill -0 "$(cat "$pidfile")" 2>/dev/null && [ -S "$sock" ] && { [ -z "$metrics" ] || ! command -v curl >/dev/null || curl -sf -o /dev/null --max-time 1 "http://$metrics/metrics"; }; }
for _ in $(seq 100); do up && break; sleep 0.1; done
up || { say "vgpu-proxy did not start; its log:"; tail -20 "$run_dir/proxy.log"; stop_proxy; exit 1; }
say "vgpu-proxy $(cat "$pidfile") listening on $sock (log $run_dir/proxy.log)"
if [ -n "$metrics" ]; then say "metrics: http://$metrics/metrics (curl -s http://$metrics/metrics | grep '^vgpu_'; README: Observing a node)"
else say "metrics: off"; fi

step "containerd with the xen-cri runtime"
if command -v xl >/dev/null 2>&1 && xl info >/dev/null 2>&1; then say "Xen: present ($(xl info | awk '/xen_version/{print $3}')); this build runs pods with the process backend (the xen backend is the next issue)"
else say "Xen: not present on this machine: pods run with the process backend (runc)"; fi
if [ "$(id -u)" = 0 ] && command -v containerd >/dev/null && command -v runc >/dev/null && command -v crictl >/dev/null; then
  node dist/tools/example-pod.js "$([ "$have_gpu" = 1 ] && echo "$libcuda")" || say "the example pod did not run (see above)"
else
  say "NOT RUN: needs root and containerd, runc, docker-registry, skopeo and crictl (.ci/run installs them:"
  say "apt-get install containerd runc docker-registry skopeo busybox-static; tools/install-cri-tools.sh)."
  say "To put the runtime on this node: sudo deploy/install.sh --backend process --containerd-config /etc/containerd/config.toml"
fi

step "example GPU workload through libvgpu"
export VGPU_PROXY_SOCKET="$sock"
if [ "$have_gpu" = 1 ] && command -v nvcc >/dev/null 2>&1; then
  node dist/test/gpu/run-gpu-tests.js vector_add
else
  [ "$have_gpu" = 1 ] && say "no nvcc here: the CUDA example cannot be compiled; running the channel example instead"
  say "channel example (no GPU needed): a C guest echoes 64 MiB through a 16 MiB arena of the proxy, every byte checked"
  VGPU_ARENA_MIB=16 build/vgpu-tests/ring_client bulk 64
  say "a CUDA program's start through libvgpu:"
  build/vgpu-tests/init_client 2>&1 | sed 's/^/  /'
fi
say ""
say "vgpu-proxy keeps running (pid $(cat "$pidfile"))$([ -n "$metrics" ] && echo ", metrics at http://$metrics/metrics"); stop it with: tools/node-up.sh --stop"
