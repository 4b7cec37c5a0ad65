#!/bin/bash
# pytorch_diag_gpu.sh — one GPU session to see why a PyTorch check differs
# through libvgpu: the device facts both ways, ResNet-50 layer by layer with
# cuDNN's and cuBLASLt's logs both ways, torch.compile and the CUDA-graph
# check through libvgpu with its log, and torch.compile natively through the
# export-table tracer. Prepare and carry as for export_tables_gpu.sh; writes
# $OUT/diag.tgz and prints a summary.
set -u
R=/tmp/diag; rm -rf $R; mkdir -p $R
REAL=/usr/local/nvidia/lib64/libcuda.so.1
PY=${VGPU_PYTHON:-/opt/torch/.venv/bin/python3}
M=$PWD/bench/models
T=$PWD/vgpu/tests
TR=$PWD/build/vgpu-tests/tracer
GUEST=$PWD/build/lib/guest
SOCK=/tmp/diag.sock
node dist/proxy/main.js --socket $SOCK --libcuda $REAL > $R/proxy.log 2>&1 &
PROXY=$!
sleep 1.5
export PYTHONUNBUFFERED=1
pids=()
# DIAG_ONLY (a regular expression over the output names) runs a part.
run() {
	local out=$1; shift
	[[ $out =~ ${DIAG_ONLY:-.} ]] || return 0
	( "$@" > $R/$out 2>&1; echo "exit=$?" >> $R/$out ) & pids+=($!)
}
V="env VGPU_PROXY_SOCKET=$SOCK VGPU_LOG=info LD_LIBRARY_PATH=$GUEST"
run facts_native.txt $PY $T/device_facts.py
run facts_vgpu.txt $V $PY $T/device_facts.py
LOGS="CUBLASLT_LOG_LEVEL=2 CUDNN_LOGLEVEL_DBG=3"
run layers_native.txt env $LOGS CUBLASLT_LOG_FILE=$R/cublaslt_native.log CUDNN_LOGDEST_DBG=$R/cudnn_native.log $PY $T/layer_diff.py dump $R/layers_native.npz
run layers_vgpu.txt $V $LOGS CUBLASLT_LOG_FILE=$R/cublaslt_vgpu.log CUDNN_LOGDEST_DBG=$R/cudnn_vgpu.log $PY $T/layer_diff.py dump $R/layers_vgpu.npz
run compile_vgpu.txt $V CUBLAS_LOGINFO_DBG=1 CUBLAS_LOGDEST_DBG=stderr CUBLASLT_LOG_LEVEL=5 CUBLASLT_LOG_FILE=$R/compile_cublaslt_vgpu.log timeout -k 5 300 $PY $M/compile_check.py
run compile_native.txt env CUBLAS_LOGINFO_DBG=1 CUBLAS_LOGDEST_DBG=stderr CUBLASLT_LOG_LEVEL=5 CUBLASLT_LOG_FILE=$R/compile_cublaslt_native.log timeout -k 5 300 $PY $M/compile_check.py
run compile_trace.txt env VGPU_TRACE_INPLACE=6bd5fb6c VGPU_TRACE_CALLS=2 LD_LIBRARY_PATH=$TR VGPU_TRACE_TABLES=c693336e,21318c60,1734dc26,da9151d3,f8cff951,263e8860,42d85a81,a094798c timeout -k 5 300 $PY $M/compile_check.py
run compile_vgputrace.txt env VGPU_TRACE_INPLACE=6bd5fb6c VGPU_TRACE_CALLS=2 VGPU_PROXY_SOCKET=$SOCK VGPU_LOG=debug LD_LIBRARY_PATH=$PWD/build/vgpu-tests/tracer-vgpu VGPU_TRACE_TABLES=c693336e,21318c60,1734dc26,da9151d3,f8cff951,263e8860,42d85a81,a094798c timeout -k 5 300 $PY $M/compile_check.py
run graph_vgpu.txt $V timeout -k 5 300 $PY $M/graph_check.py --model resnet50 --batch 1 --out $R/graph_vgpu.npz
wait "${pids[@]}"
[ -f $R/layers_native.npz ] && [ -f $R/layers_vgpu.npz ] &&
	$PY $T/layer_diff.py compare $R/layers_native.npz $R/layers_vgpu.npz > $R/layers_compare.txt 2>&1
kill $PROXY 2>/dev/null; sleep 0.5
rm -f $R/*.npz
tar -C /tmp -cJf $OUT/diag.tgz diag
cd $R
[ -f facts_native.txt ] && { echo "== facts diff (native < > libvgpu)"; diff facts_native.txt facts_vgpu.txt; }
if [ -f layers_compare.txt ]; then echo "== layers"; grep -c same layers_compare.txt; grep -m 12 DIFF layers_compare.txt; tail -1 layers_compare.txt; fi
for f in $(ls layers_*.txt compile_*.txt graph_vgpu.txt 2>/dev/null); do echo "== $f"; grep -E 'exit=|"check"|Error|error|unsupported' $f | cut -c1-400 | tail -25; done
echo "== load failures"; cat *.txt proxy.log | grep -E 'image_load_failed|image_refused|cuLibraryLoadData rc=[1-9]|refused a module|load refused' | cut -c1-600 | sort | uniq -c | head -30
echo "== native cuLibraryLoadData calls"; grep -h 'cuLibraryLoadData' compile_trace.txt 2>/dev/null | cut -c1-300 | sort | uniq -c | sort -rn | head -20
echo "== through libvgpu, traced: failures"; grep -E 'call_failed|rc=[1-9]|ret=0x[0-9a-f]{1,3} |status=[1-9]|cuLibrary' compile_vgputrace.txt 2>/dev/null | cut -c1-260 | head -60
echo "== unsupported everywhere"; cat *.txt | grep -o 'event=unsupported[^"]*' | sort | uniq -c
ls -la $R
