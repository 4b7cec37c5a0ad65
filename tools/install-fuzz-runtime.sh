#!/usr/bin/env bash
# install-fuzz-runtime.sh — what `npm run fuzz` needs beyond npm ci:
#
# - clang 14 with libFuzzer and the sanitizer runtimes (Debian's clang-14,
#   libclang-rt-14-dev) for the C targets (agent/, libvgpu's reply parsing);
# - a glibc new enough for Jazzer.js's prebuilt libFuzzer addon
#   (@jazzer.js/fuzzer 4.0 needs GLIBC_2.38 and GLIBCXX_3.4.32; Debian 12 has
#   2.36): Debian 13's libc6, libstdc++6 and libgcc-s1, pinned and
#   sha256-checked, unpacked into build/fuzz-runtime/ (never installed over
#   the system's). The TypeScript targets run Node under that loader only
#   (tools/fuzz-node.sh); nothing else on the machine sees it.
#
# Idempotent: a second run with everything in place does nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${root}/build/fuzz-runtime"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
die() { echo "install-fuzz-runtime: $*" >&2; exit 1; }

# name, pool path, sha256 (Debian 13 "trixie", from its Packages index of 2026-12)
readonly DEBS=(
  "libc6 pool/main/g/glibc/libc6_2.41-12+deb13u5_amd64.deb b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf"
  "libstdc++6 pool/main/g/gcc-14/libstdc++6_14.2.0-19_amd64.deb ab1fa05837aa7a92aae748fd07a18a35f7d18bb4a71c4724fe2bbf0e32089de0"
  "libgcc-s1 pool/main/g/gcc-14/libgcc-s1_14.2.0-19_amd64.deb 3c71917b490d1a17aed43196a2787a256ecf060526cdb20216a74bedc061b150"
)

if ! command -v clang-14 >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/14*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "install-fuzz-runtime: installing clang-14 and libclang-rt-14-dev (libFuzzer, ASan, UBSan)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev) \
    || die "apt-get could not install clang-14 libclang-rt-14-dev: the C fuzz targets need them"
fi

stamp="${dest}/stamp"
want=$(printf '%s\n' "${DEBS[@]}" | sha256sum | cut -d' ' -f1)
if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${want}" && -x "${dest}/lib/ld-linux-x86-64.so.2" ]]; then
  exit 0
fi
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian's dpkg): it unpacks the runtime's packages"
rm -rf "${dest}" && mkdir -p "${dest}/debs" "${dest}/root"
for entry in "${DEBS[@]}"; do
  read -r name path sha <<<"${entry}"
  file="${dest}/debs/$(basename "${path}")"
  echo "install-fuzz-runtime: fetching ${name} ($(basename "${path}"))"
  curl -fsSL --retry 3 -o "${file}" "${mirror}/${path}" || die "could not download ${mirror}/${path}: is Debian's archive reachable?"
  got=$(sha256sum "${file}" | cut -d' ' -f1)
  [[ "${got}" == "${sha}" ]] || die "${name}: sha256 ${got}, want ${sha} (a changed or truncated download; refusing it)"
  dpkg-deb -x "${file}" "${dest}/root"
done
mv "${dest}/root/usr/lib/x86_64-linux-gnu" "${dest}/lib"
rm -rf "${dest}/root" "${dest}/debs"
echo "${want}" > "${stamp}"
echo "install-fuzz-runtime: glibc $(basename "$(readlink -f "${dest}/lib/libc.so.6")") runtime in ${dest}/lib"
