# test/xen/dom0/cri.sh — containerd + the xen-cri shim with the xen backend,
# driven by crictl, inside the QEMU node (run by test/xen/cri.test.ts).
# Every pod is a pod VM; images come from build/test-images (tools/build-test-images.sh).
. /mnt/job/lib.sh
W=/var/lib/xen-cri-test
mkdir -p $W /etc/xen-cri /run/xen-cri
cat >/etc/xen-cri/config.json <<JSON
{ "backend": "xen", "stateDir": "/run/xen-cri", "logLevel": "debug" }
JSON
cat >/etc/xen-cri/xen.json <<JSON
{ "kernel": "/opt/xen-cri/guest/vmlinuz", "ramdisk": "/opt/xen-cri/guest/initrd.img", "baseMemoryMiB": 96, "defaultMemoryMiB": 128,
  "diskDir": "$W/disks", "writableMiB": 256, "bootTimeoutMs": 180000 }
JSON
cat >$W/containerd.toml <<TOML
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  enable_selinux = false
[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "xen-cri"
  snapshotter = "overlayfs"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xen-cri]
  runtime_type = "io.containerd.xen-cri.v2"
  pod_annotations = ["xen-cri.io/*"]
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.xen-cri.options]
  ConfigPath = "/etc/xen-cri/config.json"
TOML
export PATH="/usr/local/bin:$PATH"   # containerd-shim-xen-cri-v2 (provision.sh)
containerd --config $W/containerd.toml --log-level debug >/mnt/job/containerd.log 2>&1 &
wait_for 60 test -S /run/containerd/containerd.sock || { result containerd fail "no socket"; exit 1; }
CRI="crictl --runtime-endpoint unix:///run/containerd/containerd.sock --image-endpoint unix:///run/containerd/containerd.sock --timeout 300s"
wait_for 60 sh -c "$CRI info >/dev/null 2>&1" || { result containerd fail "CRI not answering"; exit 1; }

# Images, offline: the OCI layouts this repository builds, imported under the names CRI asks for.
ts=$(now_ms)
imp() { (cd "$APP/build/test-images/$1" && tar -cf "$W/$1.tar" .) && ctr -n k8s.io images import --base-name "$2" "$W/$1.tar" >/dev/null && ctr -n k8s.io images tag "$2:latest" "$2:$3" >/dev/null; }
imp pause registry.k8s.io/pause 3.9 && imp busybox xen-cri.test/busybox 1 || { result images fail "import"; exit 1; }
timing image-import $(($(now_ms) - ts))

cat >$W/pod.json <<JSON
{ "metadata": { "name": "xen-pod", "namespace": "default", "uid": "xen-pod-uid", "attempt": 0 },
  "hostname": "xen-pod", "log_directory": "$W/logs",
  "linux": { "security_context": { "namespace_options": { "network": 2 } } } }
JSON
cat >$W/ctr.json <<JSON
{ "metadata": { "name": "hello" }, "image": { "image": "xen-cri.test/busybox:1" },
  "command": ["sh", "-c", "echo hello from the pod VM; echo to stderr >&2; echo pid=\$\$; exec sleep 3600"],
  "log_path": "hello.log" }
JSON
mkdir -p $W/logs

ts=$(now_ms)
POD=$($CRI runp --runtime xen-cri $W/pod.json 2>$W/runp.err) || { result runp fail "$(tail -3 $W/runp.err)"; tail -30 /mnt/job/containerd.log | cut -c1-300; exit 1; }
timing pod-start $(($(now_ms) - ts))
result runp ok "$POD"
DOM="xen-cri-$(echo "$POD" | cut -c1-24)"
xl list | grep -q "^$DOM " && result domu-while-pod-lives ok "$(xl list | grep "^$DOM ")" || result domu-while-pod-lives fail "$(xl list)"

ts=$(now_ms)
CTR=$($CRI create --no-pull "$POD" $W/ctr.json $W/pod.json 2>$W/create.err) || { result create fail "$(tail -3 $W/create.err)"; tail -40 /mnt/job/containerd.log | grep -i error | cut -c1-400; }
timing container-create $(($(now_ms) - ts))
ts2=$(now_ms)
$CRI start "$CTR" >/dev/null 2>$W/start.err && result start ok || result start fail "$(tail -3 $W/start.err)"
timing container-start-only $(($(now_ms) - ts2))
timing container-start $(($(now_ms) - ts))

wait_for 60 sh -c "$CRI logs $CTR 2>&1 | grep -q 'hello from the pod VM'"
logs=$($CRI logs "$CTR" 2>&1)
case "$logs" in *"hello from the pod VM"*"to stderr"*|*"to stderr"*"hello from the pod VM"*) result logs ok "$(echo "$logs" | tr '\n' '|')" ;; *) result logs fail "$(echo "$logs" | tr '\n' '|')" ;; esac
# A PID namespace of its own inside the pod VM: the container's first process is PID 1.
case "$logs" in *"pid=1"*) result own-pid-namespace ok ;; *) result own-pid-namespace fail ;; esac

ts=$(now_ms)
out=$($CRI exec --sync "$CTR" sh -c 'echo exec says hi; cat /etc/hostname' 2>&1); rc=$?
timing exec-sync $(($(now_ms) - ts))
case "$out" in *"exec says hi"*"xen-pod"*) result exec-output ok "$(echo "$out" | grep -v level= | tr '\n' '|')" ;; *) result exec-output fail "$(echo "$out" | tr '\n' '|')" ;; esac
[ "$rc" = 0 ] && result exec-exit-0 ok || result exec-exit-0 fail "crictl exited $rc"
# A failing command: crictl reports its exit code.
out=$($CRI exec --sync "$CTR" sh -c 'exit 3' 2>&1)
case "$out" in *"exited with 3"*) result exec-exit-code ok "3" ;; *) result exec-exit-code fail "$(echo "$out" | tr '\n' '|')" ;; esac

# Statistics, as kubelet's summary API reads them (crictl stats): the container's CPU time and
# memory, measured in the pod VM. A CPU burner runs in the container (orphaned to its init, which
# never reaps it: its time still counts as a zombie's).
$CRI exec --sync "$CTR" sh -c '(i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done) </dev/null >/dev/null 2>&1 &' >/dev/null 2>&1
stat_of() { tr -d ' \n' <$W/stats.json | grep -o "\"$1\":{\"value\":\"*[0-9]*" | grep -o '[0-9]*$'; }
wait_for 60 sh -c "$CRI stats -o json --id $CTR >$W/stats.json 2>$W/stats.err && tr -d ' \n' <$W/stats.json | grep -q '\"usageCoreNanoSeconds\":{\"value\":\"[1-9]'"
cpu=$(stat_of usageCoreNanoSeconds); mem=$(stat_of workingSetBytes)
if [ "${cpu:-0}" -gt 0 ] && [ "${mem:-0}" -gt 0 ]; then result stats ok "cpu ${cpu} ns, working set ${mem} bytes"
else result stats fail "$(tr -d ' \n' <$W/stats.json | cut -c1-400) $(tail -2 $W/stats.err)"; fi

# A container that fails: its exit code reaches CRI, and the pod VM's agent goes on serving the others.
sed 's/"name": "hello"/"name": "crasher"/; s/"log_path": "hello.log"/"log_path": "crasher.log"/' $W/ctr.json |
  sed 's/"command": \[.*\]/"command": ["sh", "-c", "echo about to fail; exit 7"]/' >$W/crasher.json
if CR=$($CRI create --no-pull "$POD" $W/crasher.json $W/pod.json 2>$W/crasher.err) && $CRI start "$CR" >/dev/null 2>&1; then
  wait_for 60 sh -c "$CRI inspect $CR 2>/dev/null | grep -q CONTAINER_EXITED"
  code=$($CRI inspect "$CR" 2>/dev/null | grep -o '"exitCode": *[0-9]*' | head -1)
  case "$code" in *7) result container-exit-code ok "$code" ;; *) result container-exit-code fail "$code" ;; esac
  out=$($CRI exec --sync "$CTR" echo still serving 2>&1)
  case "$out" in *"still serving"*) result agent-survives-crash ok ;; *) result agent-survives-crash fail "$(echo "$out" | tr '\n' '|')" ;; esac
  $CRI rm "$CR" >/dev/null 2>&1
else
  result container-exit-code fail "$(tail -2 $W/crasher.err)"
fi

ts=$(now_ms)
$CRI stop "$CTR" >/dev/null 2>$W/stop.err && result stop ok || result stop fail "$(tail -2 $W/stop.err)"
timing container-stop $(($(now_ms) - ts))
state=$($CRI inspect "$CTR" 2>/dev/null | grep -o '"state": *"[A-Z_]*"' | head -1)
case "$state" in *EXITED*) result stopped-state ok "$state" ;; *) result stopped-state fail "$state" ;; esac
$CRI rm "$CTR" >/dev/null 2>$W/rm.err && result rm ok || result rm fail "$(tail -2 $W/rm.err)"

ts=$(now_ms)
if ! $CRI stopp "$POD" >/dev/null 2>$W/stopp.err; then result rmp fail "stopp: $(tail -2 $W/stopp.err)"
elif ! $CRI rmp "$POD" >/dev/null 2>$W/rmp.err; then result rmp fail "rmp: $(tail -2 $W/rmp.err)"
else result rmp ok; fi
timing pod-remove $(($(now_ms) - ts))
if wait_for 30 sh -c "! xl list | grep -qE '^($DOM|\(null\)) '"; then result domu-gone-after-rmp ok; else result domu-gone-after-rmp fail "$(xl list)"; fi
losetup -a | grep -q "$W/disks" && result loops-released fail "$(losetup -a)" || result loops-released ok
ls $W/disks/rw-* >/dev/null 2>&1 && result writable-layers-removed fail "$(ls $W/disks)" || result writable-layers-removed ok
# A shim that dies takes its pod VM with it: the agent sees the channel's client go and powers off.
sed 's/"xen-pod"/"xen-pod-2"/; s/xen-pod-uid/xen-pod-uid-2/' $W/pod.json >$W/pod2.json
if POD2=$($CRI runp --runtime xen-cri $W/pod2.json 2>$W/runp2.err); then
  DOM2="xen-cri-$(echo "$POD2" | cut -c1-24)"
  SHIM=$(pgrep -f -- "-id $POD2" | head -1)
  ts=$(now_ms)
  kill -9 "$SHIM"
  if wait_for 60 sh -c "! xl list | grep -qE '^($DOM2|\(null\)) '"; then result domu-gone-after-shim-killed ok "shim pid $SHIM; pod VM console: $(grep -ho 'the shim has gone[^\r]*' $CONSOLE/guest-$DOM2.log 2>/dev/null | head -1)"; else result domu-gone-after-shim-killed fail "$(xl list)"; fi
  timing shim-killed-to-domu-gone $(($(now_ms) - ts))
  $CRI stopp "$POD2" >/dev/null 2>&1; $CRI rmp "$POD2" >/dev/null 2>&1
else
  result domu-gone-after-shim-killed fail "second pod: $(tail -2 $W/runp2.err)"
fi
xl list
ps -eo pid,args | grep -E 'shim|containerd' | grep -v grep | cut -c1-160
echo "SHIM-LOG-BEGIN"
grep -E 'pod VM|container created|pod removed' /mnt/job/containerd.log | cut -c1-400 | tail -20
echo "SHIM-LOG-END"
