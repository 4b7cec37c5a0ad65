#!/usr/bin/env bash
# Fetches the kubelet's device-plugin API (pkg/apis/deviceplugin/v1beta1/api.proto)
# from the Go module k8s.io/kubelet, pinned and checksummed, into
# build/proto/k8s.io/kubelet/ with its import path kept.  Never committed: this
# runs at build time (after tools/fetch-containerd-protos.sh, which empties
# build/proto when its own pins change) and needs Go and the Go module proxy
# (or a filled module cache) the first time only.
#
# The pinned file imports nothing (v0.32's imported gogo.proto for Go-only
# options; this one has none), so it is installed as it is.  The check below
# fails the build should a new pin bring imports back, rather than install a
# file whose imports are missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/proto"
# module@version  sha256 of the module zip (as the Go module proxy serves it)
module="k8s.io/kubelet@v0.34.1 17e9f095768bb0ab0b85ea21c11ced9182085a63a89d14df799ef5fdc2b20b77"
files=(pkg/apis/deviceplugin/v1beta1/api.proto)

stamp="$out/.kubelet-stamp"
want="$(printf '%s\n' "$module" "${files[@]}" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
. "$root/tools/lib/go-module.sh"
mod="${module%% *}"
dir="$(go_module_dir fetch-kubelet-protos "$mod" "${module##* }")"
dest="$out/${mod%@*}"
rm -rf "$dest"
for f in "${files[@]}"; do
  if grep -qE '^\s*import\s' "$dir/$f"; then
    echo "fetch-kubelet-protos: $mod/$f imports other files ($(grep -E '^\s*import\s' "$dir/$f" | tr -d '\n')): fetch them from their pinned modules too" >&2
    exit 1
  fi
  install -D -m 0644 "$dir/$f" "$dest/$f"
done
echo "$want" >"$stamp"
echo "kubelet .proto files in build/proto (k8s.io/kubelet ${mod#*@})"
