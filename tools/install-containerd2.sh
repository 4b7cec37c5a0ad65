#!/usr/bin/env bash
# Builds containerd 2.x (pinned) from its Go module, so the shim tests run
# against both containerd majors (Debian 12 packages 1.6).  The module is
# verified by Go against its checksum database.  Installed as
# ${CONTAINERD2_DIR:-/usr/local/lib/xen-cri-test/containerd2}/containerd; does
# nothing when that version is there.
set -euo pipefail
version=v2.1.4
dir="${CONTAINERD2_DIR:-/usr/local/lib/xen-cri-test/containerd2}"
if [ -x "$dir/containerd" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ]; then exit 0; fi
command -v go >/dev/null || { echo "install-containerd2: Go is needed" >&2; exit 1; }
echo "building containerd $version (a few minutes the first time)"
src="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "github.com/containerd/containerd/v2@$version" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')"
mkdir -p "$dir"
# go install refuses this module (its go.mod has exclude directives): build inside it
(cd "$src" && GOFLAGS=-mod=mod go build -trimpath -o "$dir/containerd" ./cmd/containerd)
echo "$version" >"$dir/.version"
"$dir/containerd" --version
