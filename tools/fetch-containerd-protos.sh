#!/usr/bin/env bash
# Fetches the .proto files the shim speaks (containerd's shim Task API, events,
# runtime options; cgroup v1 metrics) from their Go modules, pinned and
# checksummed, into build/proto/ with their import paths kept.  They are never
# committed: this runs at build time (npm run build) and needs Go and the Go
# module proxy (or a filled module cache) the first time only.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/proto"
# module@version  sha256 of the module zip (as the Go module proxy serves it)
modules=(
  "github.com/containerd/containerd/api@v1.8.0 ad49b47ddbe66b666d6e47cf494b06bc52fc5da937c950818992eec3157395b4"
  "github.com/containerd/cgroups/v3@v3.0.5 8ddceaca7d2b60ed153643610d7c1620a3ef09a769eb2f1c7d3b058d46c1bd83"
)
# files taken from each module (paths inside the module)
api_files=(
  runtime/task/v2/shim.proto types/mount.proto types/task/task.proto types/event.proto
  types/fieldpath.proto events/task.proto services/ttrpc/events/v1/events.proto
  types/runtimeoptions/v1/api.proto types/runc/options/oci.proto
)
cgroups_files=(cgroup1/stats/metrics.proto)

stamp="$out/.stamp"
want="$(printf '%s\n' "${modules[@]}" "${api_files[@]}" "${cgroups_files[@]}" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
. "$root/tools/lib/go-module.sh"

rm -rf "$out"
mkdir -p "$out"
for entry in "${modules[@]}"; do
  mod="${entry%% *}"
  dir="$(go_module_dir fetch-containerd-protos "$mod" "${entry##* }")"
  path="${mod%@*}"
  case "$path" in
    github.com/containerd/containerd/api) files=("${api_files[@]}"); dest="$out/github.com/containerd/containerd/api" ;;
    github.com/containerd/cgroups/v3) files=("${cgroups_files[@]}"); dest="$out/github.com/containerd/cgroups/v3" ;;
  esac
  for f in "${files[@]}"; do
    install -D -m 0644 "$dir/$f" "$dest/$f"
  done
done
# google/protobuf/descriptor.proto (fieldpath.proto imports it) comes from the
# pinned protobufjs npm package; any, empty and timestamp are built into protobufjs.
desc="$root/node_modules/protobufjs/google/protobuf/descriptor.proto"
[ -f "$desc" ] || { echo "fetch-containerd-protos: $desc is missing: run npm ci first" >&2; exit 1; }
install -D -m 0644 "$desc" "$out/google/protobuf/descriptor.proto"
echo "$want" >"$stamp"
echo "containerd .proto files in build/proto (containerd api v1.8.0, cgroups v3.0.5)"
