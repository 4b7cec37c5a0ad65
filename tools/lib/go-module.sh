# go_module_dir TOOL MODULE@VERSION SHA256 — downloads a Go module through the
# Go module proxy (or finds it in the module cache), checks the sha256 of its
# zip as the proxy serves it, and prints the folder it was extracted into.
# Sourced by the tools that take pinned files out of Go modules.
go_module_dir() {
  local tool="$1" mod="$2" sum="$3" info zip dir got
  command -v go >/dev/null || { echo "$tool: Go is needed to fetch $mod (apt-get install golang, or Go from go.dev)" >&2; return 1; }
  info="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$mod")" || { echo "$tool: go mod download $mod failed" >&2; return 1; }
  zip="$(sed -nE 's/^\s*"Zip": "(.*)",?$/\1/p' <<<"$info")"
  dir="$(sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p' <<<"$info")"
  got="$(sha256sum "$zip" | cut -d' ' -f1)"
  if [ "$got" != "$sum" ]; then
    echo "$tool: $mod: sha256 of $zip is $got, expected $sum" >&2
    return 1
  fi
  echo "$dir"
}
