#!/usr/bin/env bash
# run-procaddr-test.sh — build a throwaway libvgpu from the generated driver ABI
# (stubs, cuGetProcAddress table, error names) plus procaddr.c and a minimal
# log.c, then run tests/test_procaddr.c against it.
#
# Everything is built under build/test-procaddr/ (BUILD to change). The real
# vgpu/src/log.c is not used: this test only needs vgpu_unsupported().
# Environment: CC (default cc), PYTHON (default python3), CUDA_INCLUDE_DIR
# (else tools/fetch-cuda-headers.sh fetches the headers).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${root}"
cc="${CC:-cc}"
python="${PYTHON:-python3}"
out="${BUILD:-build/test-procaddr}"
gen="${out}/gen"
exports="vgpu/gen/libcuda-580.159.04-exports.txt"

include="$(tools/fetch-cuda-headers.sh | tail -n 1)"
mkdir -p "${out}" "${gen}"

"${python}" vgpu/gen/gen_driver_abi.py --include "${include}" --exports "${exports}" \
    --headerless vgpu/gen/headerless-exports.txt --out "${gen}"

# A log.c just for this test: vgpu_unsupported() as log.h describes it.
cat > "${out}/log_test.c" <<'C'
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void vgpu_log(enum vgpu_log_level level, const char *fmt, ...)
{
    va_list ap;
    (void)level;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int vgpu_log_enabled(enum vgpu_log_level level)
{
    return level <= VGPU_LOG_WARN;
}

CUresult vgpu_unsupported(const char *name)
{
    (void)name;
    return CUDA_ERROR_NOT_SUPPORTED;
}
C

cflags=(-std=gnu11 -O2 -fPIC -fvisibility=hidden -D__CUDA_API_VERSION_INTERNAL -I"${include}" -Ivgpu/src
        -Wall -Wextra -Werror)
objs=()
for src in "${gen}/stubs.c" "${gen}/procaddr_table.c" "${gen}/error_names.c" vgpu/src/procaddr.c "${out}/log_test.c"; do
    obj="${out}/$(basename "${src%.c}").o"
    "${cc}" "${cflags[@]}" -c "${src}" -o "${obj}"
    objs+=("${obj}")
done
"${cc}" -shared -Wl,-soname,libcuda.so.1 -Wl,--version-script="${gen}/libvgpu.map" -Wl,-z,defs \
    -o "${out}/libvgpu.so" "${objs[@]}"
ln -sf libvgpu.so "${out}/libcuda.so.1"   # the name the test binary will ask for (DT_NEEDED = soname)

# The test also compiles in the generated tables to inspect them; their
# references to driver functions resolve to the library's.
"${cc}" "${cflags[@]}" -fno-PIC -fPIE -o "${out}/test_procaddr" vgpu/tests/test_procaddr.c \
    "${gen}/procaddr_table.c" "${gen}/error_names.c" \
    -L"${out}" -l:libvgpu.so -Wl,-rpath,"$(cd "${out}" && pwd)" -ldl

"${out}/test_procaddr" "${out}/libvgpu.so" "${exports}"
