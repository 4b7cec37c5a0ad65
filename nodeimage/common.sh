# nodeimage/common.sh — sourced by the nodeimage scripts: where things go,
# which Debian packages the images are made of, and small helpers.
#
# Every output lands under build/nodeimage/ (git-ignored).  A step whose
# inputs (the scripts, the package versions, the payload) did not change is
# not redone: each output has a .stamp file holding the hash of its inputs.

set -euo pipefail

NI_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NI_DIR="$NI_REPO/nodeimage"
NI_OUT="${NODEIMAGE_OUT:-$NI_REPO/build/nodeimage}"
NI_SUITE=bookworm
NI_MIRROR="${NODEIMAGE_MIRROR:-http://deb.debian.org/debian}"
NI_SECURITY_MIRROR="${NODEIMAGE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# The hypervisor and the tools must be the same build: both come from bookworm-security.
NI_XEN_PKG=xen-hypervisor-4.17-amd64
NI_XEN_LIB=/usr/lib/xen-4.17

mkdir -p "$NI_OUT"

ni_log() { printf '[nodeimage %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ni_die() { printf '[nodeimage] error: %s\n' "$*" >&2; exit 1; }

# The versioned kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64.
ni_kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1
}

# "name=version" of a package as apt would install it now (the cache key of what is built from it).
ni_pkg_version() {
  apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -1
}

# Hash of the given files and strings: the key a cached output is checked against.
ni_hash() {
  local f
  for f in "$@"; do
    if [ -f "$f" ]; then sha256sum "$f"; else printf '%s\n' "$f"; fi
  done | sha256sum | cut -c1-16
}

# ni_fresh OUTPUT KEY: true when OUTPUT exists and was built from KEY.
ni_fresh() { [ -e "$1" ] && [ -f "$1.stamp" ] && [ "$(cat "$1.stamp")" = "$2" ]; }
ni_stamp() { printf '%s' "$2" >"$1.stamp"; }

ni_need() {
  local missing=() t
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] || ni_die "missing tools: ${missing[*]} (.ci/run installs them: qemu-system-x86 debootstrap cpio busybox-static e2fsprogs)"
}

# Downloads a package (as apt would pick it) into DIR and unpacks it into DIR/root; prints the .deb's path.
ni_fetch_unpack() {
  local pkg="$1" dir="$2"
  mkdir -p "$dir/root"
  (cd "$dir" && apt-get download -q "$pkg" >/dev/null) || ni_die "apt-get download $pkg failed (run apt-get update?)"
  local deb
  deb=$(ls -t "$dir"/"${pkg}"_*.deb | head -1)
  dpkg-deb -x "$deb" "$dir/root"
  printf '%s\n' "$deb"
}

# Copies kernel modules MODS (names) and everything they depend on from the
# module tree under ROOT (lib/modules/KVER) into DEST (same layout).
ni_copy_modules() {
  local root="$1" kver="$2" dest="$3"
  shift 3
  local m line
  mkdir -p "$dest/lib/modules/$kver"
  for m in "$@"; do
    # "insmod /path" lines, dependencies first; "builtin NAME" for those compiled in.
    modprobe -d "$root" -S "$kver" --show-depends "$m" 2>/dev/null | while read -r line; do
      case "$line" in
        insmod\ *)
          local p="${line#insmod }"
          p="${p%% *}"
          mkdir -p "$dest$(dirname "${p#"$root"}")"
          cp -n "$p" "$dest${p#"$root"}"
          ;;
      esac
    done
  done
  cp "$root/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$dest/lib/modules/$kver/" 2>/dev/null || true
  depmod -b "$dest" "$kver"
}

# A gzip'd newc cpio of DIR, owned by root.
ni_cpio() {
  (cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -1 >"$2"
}

# The hypervisor and the kernel, downloaded and unpacked (not installed on this
# machine) into $NI_OUT/boot: xen, vmlinuz, kernel/ (the package's tree).
# Sets NI_BOOT, NI_BOOT_KEY, NI_KVER.
ni_boot_files() {
  local kpkg
  kpkg=$(ni_kernel_pkg)
  [ -n "$kpkg" ] || ni_die "cannot tell which kernel linux-image-amd64 depends on (apt-get update?)"
  NI_BOOT="$NI_OUT/boot"
  NI_BOOT_KEY=$(ni_hash "$NI_XEN_PKG=$(ni_pkg_version "$NI_XEN_PKG")" "$kpkg=$(ni_pkg_version "$kpkg")")
  if ! ni_fresh "$NI_BOOT/xen" "$NI_BOOT_KEY"; then
    ni_log "fetching $NI_XEN_PKG and $kpkg"
    rm -rf "$NI_BOOT" && mkdir -p "$NI_BOOT/dl"
    ni_fetch_unpack "$NI_XEN_PKG" "$NI_BOOT/dl" >/dev/null 2>&1
    ni_fetch_unpack "$kpkg" "$NI_BOOT/dl" >/dev/null 2>&1
    zcat "$NI_BOOT"/dl/root/boot/xen-4.17-amd64.gz >"$NI_BOOT/xen"
    cp "$NI_BOOT"/dl/root/boot/vmlinuz-* "$NI_BOOT/vmlinuz"
    mv "$NI_BOOT/dl/root" "$NI_BOOT/kernel"
    rm -rf "$NI_BOOT/dl"
    ni_stamp "$NI_BOOT/xen" "$NI_BOOT_KEY"
  fi
  NI_KVER=$(ls "$NI_BOOT/kernel/lib/modules" | head -1)
  # The package leaves modules.dep to depmod at install time.
  [ -f "$NI_BOOT/kernel/lib/modules/$NI_KVER/modules.dep" ] || depmod -b "$NI_BOOT/kernel" "$NI_KVER"
}
