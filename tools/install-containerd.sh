#!/usr/bin/env bash
# Builds the containerd releases the shim is tested against, pinned, from their
# Go modules (verified by Go against its checksum database): 1.7 and 2.x, the
# two lines the shim supports (Debian 12 packages 1.6, tested too).  Each goes
# to ${CONTAINERD_TEST_DIR:-/usr/local/lib/xen-cri-test}/containerd<major>/containerd;
# a version already there is kept.
set -euo pipefail
base="${CONTAINERD_TEST_DIR:-/usr/local/lib/xen-cri-test}"
command -v go >/dev/null || { echo "install-containerd: Go is needed (and the Go module proxy)" >&2; exit 1; }

build() { # module version folder
  local module=$1 version=$2 dir=$3 src
  if [ -x "$dir/containerd" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ]; then return 0; fi
  echo "building containerd $version (a few minutes the first time)"
  src="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')"
  [ -n "$src" ] || { echo "install-containerd: could not download $module@$version" >&2; return 1; }
  mkdir -p "$dir"
  # go install refuses these modules (their go.mod has replace/exclude directives): build inside
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -o "$dir/containerd" ./cmd/containerd)
  echo "$version" >"$dir/.version"
  "$dir/containerd" --version
}

build github.com/containerd/containerd v1.7.35 "$base/containerd1.7"
build github.com/containerd/containerd/v2 v2.1.4 "$base/containerd2"
