/*
 * procaddr.c — cuGetProcAddress and cuGetProcAddress_v2: hand out libvgpu's
 * own functions by base name, CUDA version and stream flavour.
 *
 * libcudart (and the cuBLAS/cuDNN builds that embed it) reaches nearly every
 * driver entry point this way (~450 distinct lookups at start), so the lookup
 * is a binary search over the generated, sorted table (procaddr_table.h), with
 * no allocation and no lock.
 *
 * Semantics. Documented in cuda.h 13.0 (the comment of cuGetProcAddress) and
 * measured on the real driver 580.159.04 (H100; every base name of its 682
 * exports asked at ~90 versions and all four flag combinations, before and
 * after cuInit, and with CUDA_API_PER_THREAD_DEFAULT_STREAM=1 in the
 * environment: the same answers each time). This file reproduces them:
 *   - flag bits other than LEGACY_STREAM | PER_THREAD_DEFAULT_STREAM, or a
 *     cudaVersion above the driver's (13000): CUDA_ERROR_INVALID_VALUE, with
 *     *pfn and *symbolStatus untouched.
 *   - a negative cudaVersion means the newest (-1, -2 and INT_MIN all answer
 *     like 13000).
 *   - the function is the ABI with the highest version <= cudaVersion of the
 *     asked stream flavour. A per-thread ask of a function that has
 *     per-thread ABIs chooses among those only (cuMemcpyHtoD at 6050 is
 *     VERSION_NOT_SUFFICIENT, not cuMemcpyHtoD_v2); of a function without
 *     any, it gets the legacy ABI. Both flags set count as per-thread.
 *   - unknown name: *pfn = NULL, status SYMBOL_NOT_FOUND; known only above
 *     cudaVersion: *pfn = NULL, status VERSION_NOT_SUFFICIENT; both return
 *     CUDA_SUCCESS, as the header says and 580 does (ZLUDA returns
 *     CUDA_ERROR_NOT_FOUND here; the real driver does not).
 *   - names are base names only: "cuMemAlloc_v2" is SYMBOL_NOT_FOUND.
 *   - symbol NULL: 580 crashes; we answer CUDA_ERROR_INVALID_VALUE, and
 *     for a NULL pfn too.
 *
 * What CU_GET_PROC_ADDRESS_DEFAULT means: the legacy default stream.
 * cuda.h documents DEFAULT as "PER_THREAD_DEFAULT_STREAM if the code is
 * compiled with --default-stream per-thread or the macro
 * CUDA_API_PER_THREAD_DEFAULT_STREAM is defined; LEGACY_STREAM otherwise".
 * The driver cannot see how its caller was compiled, and does not need to:
 * cuda.h (13.0, the #elif defined(__CUDA_API_PER_THREAD_DEFAULT_STREAM)
 * branch after the "CUDA API versioning support" block) compiles per-thread
 * callers against a static inline cuGetProcAddress_v2_ptsz that adds
 * CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM when neither stream flag is
 * set, and renames cuGetProcAddress_v2 to it. So flags == 0 reaching the
 * driver come from code built for the legacy stream. The environment plays
 * no part: 580 answers flags 0 with the legacy ABIs whether or not
 * CUDA_API_PER_THREAD_DEFAULT_STREAM is set (it is a compile-time macro).
 */
#include <string.h>

#include <cuda.h>

#include "log.h"
#include "procaddr_table.h"

/* The CUDA version this driver stands in for (580 = CUDA 13.0); what
 * cuDriverGetVersion reports. */
#define VGPU_DRIVER_CUDA_VERSION 13000

#define PROC_FLAGS_KNOWN ((cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))

/* First table index whose name is >= symbol (strcmp order). */
static size_t lower_bound(const char *symbol)
{
    size_t lo = 0, hi = vgpu_procaddr_table_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(vgpu_procaddr_table[mid].name, symbol) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Look symbol up. Returns the function, or NULL with *status telling why.
 * per_thread: prefer the per-thread-default-stream ABI.
 */
static void *lookup(const char *symbol, int cuda_version, int per_thread, CUdriverProcAddressQueryResult *status)
{
    size_t i = lower_bound(symbol);
    const struct vgpu_procaddr_entry *legacy = NULL, *ptds = NULL;
    int known = 0, has_ptds = 0;

    /* Entries of one name are contiguous, ordered by (variant, version):
     * the last fitting one of each variant is the newest. A name has at most
     * a handful of entries, so this loop is short. */
    for (; i < vgpu_procaddr_table_len && strcmp(vgpu_procaddr_table[i].name, symbol) == 0; i++) {
        const struct vgpu_procaddr_entry *e = &vgpu_procaddr_table[i];
        known = 1;
        if (e->stream_variant == VGPU_STREAM_PER_THREAD)
            has_ptds = 1;
        if (e->version > cuda_version)
            continue;
        if (e->stream_variant == VGPU_STREAM_PER_THREAD)
            ptds = e;
        else
            legacy = e;
    }
    /* A per-thread ask of a function that has per-thread ABIs gets one of
     * those or nothing (the 580 driver: "cuMemcpyHtoD" at 6050 per-thread is
     * VERSION_NOT_SUFFICIENT, not cuMemcpyHtoD_v2); of a function without
     * any, the legacy ABI. */
    const struct vgpu_procaddr_entry *pick = per_thread && has_ptds ? ptds : legacy;
    if (pick != NULL) {
        *status = CU_GET_PROC_ADDRESS_SUCCESS;
        return pick->fn;
    }
    *status = known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return NULL;
}

static CUresult get_proc_address(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                 CUdriverProcAddressQueryResult *symbolStatus)
{
    CUdriverProcAddressQueryResult status;
    void *fn;

    /* 580 crashes on a NULL symbol; an error is kinder. */
    if (symbol == NULL || pfn == NULL) {
        VGPU_DEBUG("cuGetProcAddress: symbol=%p pfn=%p: NULL argument", (const void *)symbol, (void *)pfn);
        return CUDA_ERROR_INVALID_VALUE;
    }
    /* Invalid flags or a version above the driver's: *pfn and *symbolStatus
     * are left as they were, like the 580 driver does. */
    if ((flags & ~PROC_FLAGS_KNOWN) != 0 || cudaVersion > VGPU_DRIVER_CUDA_VERSION) {
        VGPU_DEBUG("cuGetProcAddress: symbol=%s version=%d flags=0x%llx: invalid value (driver version %d)",
                   symbol, cudaVersion, (unsigned long long)flags, VGPU_DRIVER_CUDA_VERSION);
        return CUDA_ERROR_INVALID_VALUE;
    }
    /* A negative version asks for the newest ABI (measured on 580: -1, -2
     * and INT_MIN all answer like 13000). */
    if (cudaVersion < 0)
        cudaVersion = VGPU_DRIVER_CUDA_VERSION;

    /* DEFAULT (0) means legacy: see the comment at the top. When both stream
     * flags are set, the per-thread search wins (as on 580). */
    fn = lookup(symbol, cudaVersion, (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0, &status);
    *pfn = fn;
    if (symbolStatus != NULL)
        *symbolStatus = status;
    VGPU_DEBUG("cuGetProcAddress: symbol=%s version=%d flags=0x%llx status=%d fn=%p", symbol, cudaVersion,
               (unsigned long long)flags, (int)status, fn);
    /* Not found and version-not-sufficient are answers, not errors: 580
     * returns CUDA_SUCCESS with *pfn NULL and the reason in *symbolStatus. */
    return CUDA_SUCCESS;
}

/* Exported even when the library builds with -fvisibility=hidden. */
#define VGPU_EXPORT __attribute__((visibility("default")))

/* The CUDA 11.3 ABI (PFN_cuGetProcAddress_v11030); cuda.h declares it under
 * __CUDA_API_VERSION_INTERNAL. */
VGPU_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    return get_proc_address(symbol, pfn, cudaVersion, flags, NULL);
}

/* The CUDA 12.0 ABI (PFN_cuGetProcAddress_v12000): symbolStatus is optional. */
VGPU_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *symbolStatus)
{
    return get_proc_address(symbol, pfn, cudaVersion, flags, symbolStatus);
}
