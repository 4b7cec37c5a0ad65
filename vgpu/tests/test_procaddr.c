/*
 * test_procaddr.c — the generated driver ABI and cuGetProcAddress.
 *
 * Linked against a libvgpu built from the generated stubs, procaddr.c, the
 * generated tables and a test log.c (run-procaddr-test.sh builds it). Also
 * compiles in build/gen/procaddr_table.c and error_names.c to inspect them.
 *
 * usage: test_procaddr LIBRARY.so EXPORTS.txt
 * Exits 0 when every check passes, 1 otherwise; prints each check.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda.h>

#include "error_names.h"
#include "procaddr_table.h"

#include "check.h"

/* ------------------------------------------------------------------ exports */

#define MAX_NAMES 4096
#define NAME_LEN 128

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Read "T name" rows (or, with nm, "ADDR T name" rows) into names. */
static size_t read_names(FILE *f, char (*names)[NAME_LEN], int from_nm)
{
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof line, f) != NULL && n < MAX_NAMES) {
        char a[NAME_LEN], b[NAME_LEN], c[NAME_LEN];
        int k = sscanf(line, "%127s %127s %127s", a, b, c);
        if (from_nm) {
            /* T: defined function; W: the weak stubs (the dynamic linker
             * binds a weak definition like any other). */
            if (k == 3 && (strcmp(b, "T") == 0 || strcmp(b, "W") == 0))
                snprintf(names[n++], NAME_LEN, "%s", c);
            else if (k >= 2) /* anything but a defined function counts as an extra export */
                snprintf(names[n++], NAME_LEN, "?%.120s", k == 3 ? c : b);
        } else if (k == 2 && strcmp(a, "T") == 0) {
            snprintf(names[n++], NAME_LEN, "%s", b);
        }
    }
    qsort(names, n, NAME_LEN, cmp_str);
    return n;
}

static void check_exports(const char *lib, const char *exports_path)
{
    static char want[MAX_NAMES][NAME_LEN], got[MAX_NAMES][NAME_LEN];
    char cmd[1024];
    FILE *f = fopen(exports_path, "r");
    size_t nwant, ngot, i, j, missing = 0, extra = 0;

    if (f == NULL) {
        CHECK(0, "open %s", exports_path);
        return;
    }
    nwant = read_names(f, want, 0);
    fclose(f);

    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", lib);
    f = popen(cmd, "r");
    if (f == NULL) {
        CHECK(0, "run %s", cmd);
        return;
    }
    ngot = read_names(f, got, 1);
    CHECK(pclose(f) == 0, "nm -D --defined-only %s ran", lib);

    for (i = 0, j = 0; i < nwant || j < ngot;) {
        int c = i == nwant ? 1 : j == ngot ? -1 : strcmp(want[i], got[j]);
        if (c < 0) {
            printf("     missing export: %s\n", want[i++]);
            missing++;
        } else if (c > 0) {
            printf("     extra export: %s\n", got[j++]);
            extra++;
        } else {
            i++, j++;
        }
    }
    CHECK(nwant == 682, "exports list has 682 functions (%zu)", nwant);
    CHECK(missing == 0 && extra == 0, "library exports exactly the list: %zu functions, %zu missing, %zu extra",
          ngot, missing, extra);
}

/* ------------------------------------------------------------------ lookups */

static const char *status_name(CUdriverProcAddressQueryResult s)
{
    switch (s) {
    case CU_GET_PROC_ADDRESS_SUCCESS: return "SUCCESS";
    case CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND: return "SYMBOL_NOT_FOUND";
    case CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT: return "VERSION_NOT_SUFFICIENT";
    }
    return "?";
}

/* cuGetProcAddress_v2(symbol, version, flags) must give the function the
 * library exports as `expect` (NULL: none), with result rc and status st. */
static void expect_lookup(const char *symbol, int version, cuuint64_t flags, const char *expect, CUresult rc,
                          CUdriverProcAddressQueryResult st)
{
    void *pfn = (void *)1;
    CUdriverProcAddressQueryResult status = (CUdriverProcAddressQueryResult)99;
    CUresult got = cuGetProcAddress_v2(symbol, &pfn, version, flags, &status);
    void *want = expect != NULL ? dlsym(RTLD_DEFAULT, expect) : NULL;

    CHECK(got == rc && status == st && pfn == want && (expect == NULL || want != NULL),
          "cuGetProcAddress_v2(\"%s\", %d, flags %llu) -> %d %s = %s (got %d %s %p, want %p)", symbol, version,
          (unsigned long long)flags, (int)rc, status_name(st), expect != NULL ? expect : "NULL", (int)got,
          status_name(status), pfn, want);
}

static void check_lookups(void)
{
    const cuuint64_t DEF = CU_GET_PROC_ADDRESS_DEFAULT, LEG = CU_GET_PROC_ADDRESS_LEGACY_STREAM,
                     PT = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    const CUdriverProcAddressQueryResult OK = CU_GET_PROC_ADDRESS_SUCCESS,
                                         NOSYM = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND,
                                         OLD = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
    void *pfn;
    CUdriverProcAddressQueryResult status;

    expect_lookup("cuMemAlloc", 3020, DEF, "cuMemAlloc_v2", CUDA_SUCCESS, OK);
    expect_lookup("cuMemAlloc", 2000, DEF, "cuMemAlloc", CUDA_SUCCESS, OK);
    expect_lookup("cuMemAlloc", 13000, DEF, "cuMemAlloc_v2", CUDA_SUCCESS, OK);
    expect_lookup("cuMemcpyHtoD", 13000, PT, "cuMemcpyHtoD_v2_ptds", CUDA_SUCCESS, OK);
    expect_lookup("cuMemcpyHtoD", 13000, LEG, "cuMemcpyHtoD_v2", CUDA_SUCCESS, OK);
    expect_lookup("cuMemcpyHtoD", 13000, DEF, "cuMemcpyHtoD_v2", CUDA_SUCCESS, OK);
    expect_lookup("cuMemcpyHtoD", 6050, PT, NULL, CUDA_SUCCESS, OLD); /* per-thread ABIs only (as on 580) */
    expect_lookup("cuLaunchKernel", 13000, PT, "cuLaunchKernel_ptsz", CUDA_SUCCESS, OK);
    expect_lookup("cuLaunchKernel", 4000, DEF, "cuLaunchKernel", CUDA_SUCCESS, OK);
    expect_lookup("cuCtxGetDevice", 13000, DEF, "cuCtxGetDevice_v2", CUDA_SUCCESS, OK);
    expect_lookup("cuCtxGetDevice", 12090, DEF, "cuCtxGetDevice", CUDA_SUCCESS, OK);
    expect_lookup("cuStreamGetCaptureInfo", 11030, PT, "cuStreamGetCaptureInfo_v2_ptsz", CUDA_SUCCESS, OK);
    expect_lookup("cuCtxCreate", 12050, DEF, "cuCtxCreate_v4", CUDA_SUCCESS, OK);
    expect_lookup("cuDeviceGetCount", 13000, PT, "cuDeviceGetCount", CUDA_SUCCESS, OK); /* no ptds: legacy */
    expect_lookup("cuGetProcAddress", 13000, DEF, "cuGetProcAddress_v2", CUDA_SUCCESS, OK);
    expect_lookup("cuGetProcAddress", 11030, DEF, "cuGetProcAddress", CUDA_SUCCESS, OK);
    expect_lookup("cuNoSuchFunction", 13000, DEF, NULL, CUDA_SUCCESS, NOSYM);
    expect_lookup("cuMemAlloc_v2", 13000, DEF, NULL, CUDA_SUCCESS, NOSYM); /* base names only */
    expect_lookup("", 13000, DEF, NULL, CUDA_SUCCESS, NOSYM);
    expect_lookup("cuLaunchKernelEx", 11000, DEF, NULL, CUDA_SUCCESS, OLD);
    expect_lookup("cuLaunchKernelEx", 11060, PT, "cuLaunchKernelEx_ptsz", CUDA_SUCCESS, OK);
    expect_lookup("cuLaunchKernel", 13000, LEG | PT, "cuLaunchKernel_ptsz", CUDA_SUCCESS, OK); /* both: per-thread */
    expect_lookup("cuMemAlloc", -1, DEF, "cuMemAlloc_v2", CUDA_SUCCESS, OK);                  /* negative: newest */
    expect_lookup("cuMemAlloc", 1000, DEF, NULL, CUDA_SUCCESS, OLD);
    expect_lookup("cuProfilerStart", 13000, DEF, "cuProfilerStart", CUDA_SUCCESS, OK);        /* interop rows */
    expect_lookup("cuGLMapBufferObject", 13000, PT, "cuGLMapBufferObject_v2_ptds", CUDA_SUCCESS, OK);
    expect_lookup("cudbgGetAPI", 13000, DEF, NULL, CUDA_SUCCESS, NOSYM);                      /* as on 580 */

    pfn = (void *)1;
    CHECK(cuGetProcAddress_v2(NULL, &pfn, 13000, DEF, &status) == CUDA_ERROR_INVALID_VALUE,
          "NULL symbol -> CUDA_ERROR_INVALID_VALUE");
    CHECK(cuGetProcAddress_v2("cuInit", NULL, 13000, DEF, &status) == CUDA_ERROR_INVALID_VALUE,
          "NULL pfn -> CUDA_ERROR_INVALID_VALUE");
    CHECK(cuGetProcAddress_v2("cuInit", &pfn, 13000, 4, &status) == CUDA_ERROR_INVALID_VALUE,
          "unknown flag bit 4 -> CUDA_ERROR_INVALID_VALUE");
    pfn = (void *)1;
    status = (CUdriverProcAddressQueryResult)99;
    CHECK(cuGetProcAddress_v2("cuInit", &pfn, 13010, DEF, &status) == CUDA_ERROR_INVALID_VALUE &&
              pfn == (void *)1 && status == (CUdriverProcAddressQueryResult)99,
          "cudaVersion 13010 above the driver's 13000 -> CUDA_ERROR_INVALID_VALUE, pfn and status untouched");
    CHECK(cuGetProcAddress_v2("cuInit", &pfn, 13000, DEF, NULL) == CUDA_SUCCESS &&
              pfn == dlsym(RTLD_DEFAULT, "cuInit"),
          "symbolStatus is optional");
    pfn = NULL;
    CHECK(cuGetProcAddress("cuMemAlloc", &pfn, 3020, DEF) == CUDA_SUCCESS && pfn == (void *)&cuMemAlloc_v2,
          "cuGetProcAddress (v1 ABI) \"cuMemAlloc\" at 3020 -> cuMemAlloc_v2 (%p == %p)", pfn,
          (void *)&cuMemAlloc_v2);
    CHECK(cuGetProcAddress_v2("cuMemAlloc", &pfn, 2000, DEF, NULL) == CUDA_SUCCESS && pfn == (void *)&cuMemAlloc,
          "address agrees with the linked symbol cuMemAlloc");
}

/* ------------------------------------------------------------------ tables */

static void check_tables(void)
{
    size_t i, bad = 0, bases = 0;
    for (i = 0; i < vgpu_procaddr_table_len; i++) {
        const struct vgpu_procaddr_entry *e = &vgpu_procaddr_table[i];
        if (e->fn == NULL)
            bad++;
        if (i == 0 || strcmp(vgpu_procaddr_table[i - 1].name, e->name) != 0) {
            bases++;
            continue;
        }
        const struct vgpu_procaddr_entry *p = &vgpu_procaddr_table[i - 1];
        if (p->stream_variant > e->stream_variant ||
            (p->stream_variant == e->stream_variant && p->version >= e->version))
            bad++;
    }
    for (i = 1; i < vgpu_procaddr_table_len; i++)
        if (strcmp(vgpu_procaddr_table[i - 1].name, vgpu_procaddr_table[i].name) > 0)
            bad++;
    CHECK(bad == 0, "procaddr table sorted by (name, variant, version), no NULL function: %zu entries, %zu names",
          vgpu_procaddr_table_len, bases);

    const char *n801 = vgpu_error_name(801), *n0 = vgpu_error_name(0), *n999 = vgpu_error_name(999);
    CHECK(n801 != NULL && strcmp(n801, "CUDA_ERROR_NOT_SUPPORTED") == 0 && n0 != NULL &&
              strcmp(n0, "CUDA_SUCCESS") == 0 && n999 != NULL && strcmp(n999, "CUDA_ERROR_UNKNOWN") == 0 &&
              vgpu_error_name(12345) == NULL,
          "error names: 801 CUDA_ERROR_NOT_SUPPORTED, 0 CUDA_SUCCESS, 999 CUDA_ERROR_UNKNOWN, 12345 none (%zu names)",
          vgpu_error_names_len);
}

/* ------------------------------------------------------------------ stubs, speed */

/* Declared by cudaGL.h, which needs GL/gl.h; the stub takes no arguments. */
CUresult cuGraphicsGLRegisterBuffer(void);

static void check_stub_and_speed(void)
{
    /* A function libvgpu does not implement: its generated stub answers NOT_SUPPORTED. */
    CUtexref tex = NULL;
    CUresult rc = cuTexRefCreate(&tex);
    CHECK(rc == CUDA_ERROR_NOT_SUPPORTED, "stub cuTexRefCreate -> %d (CUDA_ERROR_NOT_SUPPORTED = 801)", (int)rc);
    /* An implemented one before cuInit: NOT_INITIALIZED, as the driver answers. */
    CUdeviceptr p = 0;
    rc = cuMemAlloc_v2(&p, 16);
    CHECK(rc == CUDA_ERROR_NOT_INITIALIZED, "cuMemAlloc_v2 before cuInit -> %d (CUDA_ERROR_NOT_INITIALIZED = 3)", (int)rc);
    rc = cuGraphicsGLRegisterBuffer(); /* real prototype needs GL types; the stub ignores arguments */
    CHECK(rc == CUDA_ERROR_NOT_SUPPORTED, "interop stub cuGraphicsGLRegisterBuffer -> %d", (int)rc);

    /* Informational: libraries call this ~450 times at start. */
    const char *names[] = { "cuCtxGetDevice", "cuLaunchKernel", "cuMemcpyHtoDAsync", "cuStreamSynchronize",
                            "cuKernelGetAttribute", "cuZZZ" };
    struct timespec t0, t1;
    void *pfn;
    const int rounds = 200000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < rounds; i++)
        (void)cuGetProcAddress_v2(names[i % 6], &pfn, 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / rounds;
    printf("info %.0f ns per cuGetProcAddress_v2 lookup (%d lookups)\n", ns, rounds);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY.so EXPORTS.txt\n", argv[0]);
        return 1;
    }
    check_exports(argv[1], argv[2]);
    check_lookups();
    check_tables();
    check_stub_and_speed();
    return check_summary();
}
