#!/usr/bin/env bash
# fetch-cuda-headers.sh — obtain the official CUDA 13.0 headers (cuda.h,
# cudaTypedefs.h, ...) that libvgpu is generated and compiled against.
#
# The headers are NVIDIA's and are never committed: they come from the
# nvidia-cuda-runtime wheel on PyPI, pinned to one version and checked
# against a known sha256, and land in build/cuda/include/.
#
# Environment:
#   CUDA_INCLUDE_DIR  a folder already holding cuda.h (e.g. /usr/local/cuda/include);
#                     when set, nothing is downloaded or copied.
#   PYTHON            the python3 to run pip with (default python3).
#
# The last line printed is the include folder to use.
set -euo pipefail

readonly PKG_VERSION="13.0.96"
readonly WHEEL="nvidia_cuda_runtime-${PKG_VERSION}-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
readonly WHEEL_SHA256="7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
readonly WHEEL_PREFIX="nvidia/cu13/include/"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${root}/build/cuda"
wheel_dir="${out}/wheel"
include_dir="${out}/include"
stamp="${out}/include.stamp"
python="${PYTHON:-python3}"

die() { echo "fetch-cuda-headers: $*" >&2; exit 1; }

if [[ -n "${CUDA_INCLUDE_DIR:-}" ]]; then
    [[ -f "${CUDA_INCLUDE_DIR}/cuda.h" ]] \
        || die "CUDA_INCLUDE_DIR=${CUDA_INCLUDE_DIR} holds no cuda.h: point it at a CUDA 13.0 include folder, or unset it to download the headers"
    echo "fetch-cuda-headers: using CUDA_INCLUDE_DIR" >&2
    echo "${CUDA_INCLUDE_DIR}"
    exit 0
fi

# Already extracted from the wheel with this checksum: nothing to do.
if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${WHEEL_SHA256}" \
      && -f "${include_dir}/cuda.h" && -f "${include_dir}/cudaTypedefs.h" ]]; then
    echo "${include_dir}"
    exit 0
fi

command -v "${python}" >/dev/null 2>&1 || die "${python} not found: install python3 (with pip), or set CUDA_INCLUDE_DIR to a folder holding cuda.h"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found: install coreutils"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "${wheel_dir}"
if [[ ! -f "${wheel_dir}/${WHEEL}" || "$(sha_of "${wheel_dir}/${WHEEL}")" != "${WHEEL_SHA256}" ]]; then
    rm -f "${wheel_dir}/${WHEEL}"
    echo "fetch-cuda-headers: downloading nvidia-cuda-runtime==${PKG_VERSION} from PyPI" >&2
    if ! "${python}" -m pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux2014_x86_64 --python-version 3.12 \
            --dest "${wheel_dir}" "nvidia-cuda-runtime==${PKG_VERSION}" >&2; then
        die "pip could not download nvidia-cuda-runtime==${PKG_VERSION}: is the PyPI registry reachable (and pip installed)? or set CUDA_INCLUDE_DIR to a folder holding cuda.h"
    fi
    [[ -f "${wheel_dir}/${WHEEL}" ]] \
        || die "pip downloaded no ${WHEEL} into ${wheel_dir}: the registry served a different file; set CUDA_INCLUDE_DIR to a folder holding cuda.h"
fi

got="$(sha_of "${wheel_dir}/${WHEEL}")"
if [[ "${got}" != "${WHEEL_SHA256}" ]]; then
    rm -f "${wheel_dir}/${WHEEL}"
    die "checksum mismatch for ${WHEEL}: got ${got}, want ${WHEEL_SHA256}; the file was removed, run again or set CUDA_INCLUDE_DIR to a folder holding cuda.h"
fi

# Extract only the include folder, into a fresh temp folder, then swap it in,
# so that an interrupted run never leaves a half-filled include dir behind.
tmp="$(mktemp -d "${out}/extract.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
"${python}" - "${wheel_dir}/${WHEEL}" "${tmp}" "${WHEEL_PREFIX}" <<'PY' || die "could not extract ${WHEEL_PREFIX} from ${WHEEL}"
import os, shutil, sys, zipfile
wheel, dest, prefix = sys.argv[1:4]
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if not rel or rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"unsafe path in wheel: {info.filename}")
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        n += 1
if n == 0:
    sys.exit(f"no files under {prefix} in {wheel}")
PY
[[ -f "${tmp}/cuda.h" ]] || die "${WHEEL} held no ${WHEEL_PREFIX}cuda.h"

rm -rf "${include_dir}"
mv "${tmp}" "${include_dir}"
trap - EXIT
echo "${WHEEL_SHA256}" > "${stamp}"
echo "fetch-cuda-headers: extracted headers from ${WHEEL}" >&2
echo "${include_dir}"
