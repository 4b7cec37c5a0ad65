#!/usr/bin/env bash
# fuzz-node.sh ARGS... — node, run under the glibc of build/fuzz-runtime/
# (tools/install-fuzz-runtime.sh), which Jazzer.js's prebuilt addon needs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lib="${root}/build/fuzz-runtime/lib"
[[ -x "${lib}/ld-linux-x86-64.so.2" ]] || { echo "fuzz-node: no runtime in ${lib}: run tools/install-fuzz-runtime.sh first" >&2; exit 1; }
node_bin="$(readlink -f "$(command -v node)")"
exec "${lib}/ld-linux-x86-64.so.2" --library-path "${lib}" "${node_bin}" "$@"
