#!/bin/bash
# export_tables_gpu.sh — one GPU session for the export tables (about 15 s):
# the real driver and libvgpu probed side by side (export_table_probe),
# PyTorch natively, through libvgpu, and through export_table_tracer (tracing
# the tables, and refusing each in turn), and CuPy's libraries and PyTorch's
# quota check natively behind the tracer.  Everything runs in parallel.
# On the lent GPU machine, after tools/pack-device.sh here and with dist,
# build/lib, build/vgpu-tests and .device carried:
#   xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH &&
#   ln -sfn .device/node_modules node_modules; bash vgpu/tests/export_tables_gpu.sh
# Writes $OUT/results.tgz and prints a summary.
set -u
R=/tmp/res; rm -rf $R; mkdir -p $R
REAL=/usr/local/nvidia/lib64/libcuda.so.1
PY=/opt/torch/.venv/bin/python3
T=$PWD/build/vgpu-tests
TR=$T/tracer
P=vgpu/tests/export_tables_torch_probe.py
date +%s > $R/t_start
nvidia-smi -L > $R/gpu.txt 2>&1
node dist/proxy/main.js --socket /tmp/p.sock --libcuda $REAL > $R/proxy.log 2>&1 &
PROXY=$!
sleep 1.5
pids=()
run() { local out=$1; shift; ( "$@" > $R/$out 2>&1; echo "exit=$?" >> $R/$out ) & pids+=($!); }
export PYTHONUNBUFFERED=1
run probe_native.txt timeout -k 5 60 $T/export_table_probe $REAL
run probe_vgpu.txt env VGPU_PROXY_SOCKET=/tmp/p.sock VGPU_LOG=info timeout -k 5 60 $T/export_table_probe $PWD/build/lib/libvgpu.so
run torch_vgpu.txt env VGPU_PROXY_SOCKET=/tmp/p.sock VGPU_LOG=info LD_LIBRARY_PATH=$PWD/build/lib/guest timeout -k 5 110 $PY $P
run torch_native.txt timeout -k 5 110 $PY $P
run trace_once.txt env LD_LIBRARY_PATH=$TR VGPU_TRACE_TABLES=69a28e9f,21318c60,1734dc26,da9151d3 timeout -k 5 110 $PY $P
# What the real driver answers the entries libvgpu still refuses, as their callers use them:
# cuBLAS and NVRTC through CuPy, NVML through PyTorch's expandable-segments allocator.
run trace_cupy.txt env LD_LIBRARY_PATH=$TR VGPU_TRACE_TABLES=21318c60,1734dc26,da9151d3,69a28e9f timeout -k 5 110 ${VGPU_PYTHON:-python3} bench/models/cupy_libs_check.py
run trace_quota.txt env LD_LIBRARY_PATH=$TR VGPU_TRACE_TABLES=69a28e9f,21318c60,1734dc26 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True timeout -k 5 110 $PY bench/models/quota_check.py --quota 4294967296
run trace_safe.txt env LD_LIBRARY_PATH=$TR VGPU_TRACE_TABLES=f8cff951,263e8860,42d85a81,a094798c timeout -k 5 110 $PY $P
for u in 69a28e9f 21318c60 1734dc26 da9151d3 f8cff951; do
	run refuse_$u.txt env LD_LIBRARY_PATH=$TR VGPU_TRACE_REFUSE=$u timeout -k 5 110 $PY $P
done
wait "${pids[@]}"
kill $PROXY 2>/dev/null; sleep 0.5
date +%s > $R/t_end
tar -C /tmp -czf $OUT/results.tgz res
echo "== seconds: $(( $(cat $R/t_end) - $(cat $R/t_start) ))"
cd $R
for f in probe_native.txt probe_vgpu.txt; do echo "== $f"; grep -v '^integrity_device' $f | cut -c1-220; done
for f in torch_*.txt trace_*.txt refuse_*.txt; do echo "== $f"; grep -E 'PROBE|exit=' $f | cut -c1-300; done
for f in trace_cupy.txt trace_quota.txt; do echo "== $f: table calls (slot, return value, arguments, memory after)"; grep -E 'tracer: call' $f | cut -c1-400 | head -40; done
echo "== unsupported (libvgpu torch)"; grep -o 'event=unsupported[^"]*' torch_vgpu.txt | sort | uniq -c | head -60
echo "== export_table asks (libvgpu torch)"; grep -o 'event=export_table .*' torch_vgpu.txt | sort -u | head -40
