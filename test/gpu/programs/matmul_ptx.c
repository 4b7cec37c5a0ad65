/*
 * matmul_ptx — modules, libraries and launch variants, on one SGEMM kernel
 * (C[1024x512] = A[1024x768] * B[768x512], 16x16 tiles).
 *
 *   1. PTX through cuModuleLoadDataEx with JIT options (info and error log
 *      buffers with their sizes, optimisation level, verbose log), launched
 *      with cuLaunchKernelEx whose config carries launch attributes
 *      (priority, cluster dimension 1x1x1).
 *   2. The cubin through cuLibraryLoadData (with CU_LIBRARY_BINARY_IS_PRESERVED
 *      and no option values, as cuBLASLt passes them) + cuLibraryGetKernel,
 *      launched with cuLaunchKernel given the CUkernel cast to CUfunction.
 *   3. The library's function (cuKernelGetFunction) launched with cuLaunchKernel
 *      and its parameters packed into an `extra` buffer, at the offsets that
 *      cuFuncGetParamInfo reports.
 *
 * Inputs are small integers stored as float, so every product and partial sum
 * is exact: all three results must equal the CPU reference bit for bit.
 * Also: cuFuncGetName, cuFuncGetParamInfo, cuFuncGetAttribute,
 * cuOccupancyMaxActiveBlocksPerMultiprocessor, and the __device__ counter
 * sgemm_blocks_done read through cuModuleGetGlobal and cuLibraryGetGlobal.
 *
 * Outputs: C_module_ex.bin, C_library_kernel.bin, C_library_extra.bin.
 */
#include "common.h"

enum { M = 1024, K = 768, N = 512, TILE = 16, MAX_PARAMS = 16 };

static void fill_lcg(float *v, size_t n, unsigned int seed, int range)
{
    unsigned int x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        v[i] = (float)((int)((x >> 16) % (unsigned int)(2 * range + 1)) - range);
    }
}

/* Integer reference: exact, and equal to the float result since |C| < 2^24. */
static void reference(const float *A, const float *B, float *C)
{
    int *acc = xmalloc(sizeof(int) * N);
    for (int i = 0; i < M; i++) {
        memset(acc, 0, sizeof(int) * N);
        for (int k = 0; k < K; k++) {
            int a = (int)A[i * K + k];
            const float *brow = B + (size_t)k * N;
            for (int j = 0; j < N; j++)
                acc[j] += a * (int)brow[j];
        }
        for (int j = 0; j < N; j++)
            C[(size_t)i * N + j] = (float)acc[j];
    }
    free(acc);
}

static void print_function(const char *label, CUfunction f)
{
    static const struct { CUfunction_attribute attr; const char *name; } attrs[] = {
        { CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "max_threads_per_block" },
        { CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, "shared_size_bytes" },
        { CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES, "const_size_bytes" },
        { CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, "local_size_bytes" },
        { CU_FUNC_ATTRIBUTE_NUM_REGS, "num_regs" },
        { CU_FUNC_ATTRIBUTE_PTX_VERSION, "ptx_version" },
        { CU_FUNC_ATTRIBUTE_BINARY_VERSION, "binary_version" },
    };
    const char *name = NULL;
    CHECK(cuFuncGetName(&name, f));
    printf("%s: name %s\n", label, name != NULL ? name : "(none)");
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        int v = -1;
        CHECK(cuFuncGetAttribute(&v, attrs[i].attr, f));
        printf("%s: %s %d\n", label, attrs[i].name, v);
    }
    int blocks = 0;
    CHECK(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, f, TILE * TILE, 0));
    EXPECT(blocks > 0, "%s: occupancy of %d blocks per SM", label, blocks);
    printf("%s: occupancy %d blocks/SM at %d threads\n", label, blocks, TILE * TILE);
}

/* Parameter layout; returns the count.  Ends at the first index the driver
 * rejects, and prints that code too. */
static size_t param_info(CUfunction f, size_t *offset, size_t *size)
{
    size_t i = 0;
    for (; i < MAX_PARAMS; i++) {
        CUresult r = cuFuncGetParamInfo(f, i, &offset[i], &size[i]);
        if (r != CUDA_SUCCESS) {
            printf("param %zu: cuFuncGetParamInfo -> %d %s\n", i, (int)r, cu_name(r));
            break;
        }
        printf("param %zu: offset %zu size %zu\n", i, offset[i], size[i]);
    }
    EXPECT(i == 6, "cuFuncGetParamInfo found %zu params, the kernel has 6", i);
    return i;
}

static CUmodule load_ptx(const struct args *args)
{
    size_t size = 0;
    unsigned char *ptx = read_kernel_image(args, "matmul.ptx", &size);
    char info[16384], error[16384];
    info[0] = error[0] = 0;
    CUjit_option opts[] = {
        CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
        CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
        CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_LOG_VERBOSE,
    };
    void *values[] = {
        info, (void *)(uintptr_t)sizeof info,
        error, (void *)(uintptr_t)sizeof error,
        (void *)(uintptr_t)4, (void *)(uintptr_t)1,
    };
    CUmodule mod = NULL;
    CUresult r = cuModuleLoadDataEx(&mod, ptx, (unsigned int)(sizeof opts / sizeof opts[0]), opts, values);
    /* The size options come back holding the bytes written (unsigned int). */
    unsigned int info_used = (unsigned int)(uintptr_t)values[1];
    unsigned int error_used = (unsigned int)(uintptr_t)values[3];
    fprintf(stderr, "JIT info log (%u bytes reported):\n%s\nJIT error log (%u bytes reported):\n%s\n",
            info_used, info, error_used, error);
    if (r != CUDA_SUCCESS)
        die("cuModuleLoadDataEx(matmul.ptx) returned %d %s; JIT error log: %s", (int)r, cu_name(r), error);
    EXPECT(info_used <= sizeof info && error_used <= sizeof error,
           "JIT log sizes out of range: info %u, error %u", info_used, error_used);
    printf("ptx module: loaded, error log empty %s, info log written %s\n",
           yes_no(error[0] == 0), yes_no(info[0] != 0));
    free(ptx);
    return mod;
}

static void read_counter(const char *label, CUdeviceptr ptr, size_t bytes, unsigned int want)
{
    unsigned int v = 0;
    EXPECT(bytes == sizeof v, "%s: global sgemm_blocks_done has %zu bytes", label, bytes);
    CHECK(cuMemcpyDtoH(&v, ptr, sizeof v));
    EXPECT(v == want, "%s: sgemm_blocks_done is %u, want %u", label, v, want);
    printf("%s: sgemm_blocks_done %u (%zu bytes)\n", label, v, bytes);
}

static void check_result(const struct args *args, const char *file, const float *got, const float *ref)
{
    size_t bytes = sizeof(float) * M * N;
    size_t bad = 0;
    for (size_t i = 0; i < (size_t)M * N; i++)
        bad += memcmp(&got[i], &ref[i], sizeof(float)) != 0;
    EXPECT(bad == 0, "%s: %zu of %d elements differ from the reference", file, bad, M * N);
    write_file(args->out_dir, file, got, bytes);
    printf("%s: matches reference %016llx\n", file, fnv1a64(got, bytes));
}

int main(int argc, char **argv)
{
    struct args args = parse_args(argc, argv);
    CUdevice dev;
    setup_primary(&dev);

    size_t a_bytes = sizeof(float) * M * K, b_bytes = sizeof(float) * K * N, c_bytes = sizeof(float) * M * N;
    float *A = xmalloc(a_bytes), *B = xmalloc(b_bytes), *ref = xmalloc(c_bytes), *C = xmalloc(c_bytes);
    fill_lcg(A, (size_t)M * K, 12345u, 4);
    fill_lcg(B, (size_t)K * N, 67890u, 4);
    reference(A, B, ref);

    CUdeviceptr dA, dB, dC[3];
    CHECK(cuMemAlloc(&dA, a_bytes));
    CHECK(cuMemAlloc(&dB, b_bytes));
    for (int i = 0; i < 3; i++) {
        CHECK(cuMemAlloc(&dC[i], c_bytes));
        CHECK(cuMemsetD32(dC[i], 0x7FC00000u /* NaN */, (size_t)M * N));
    }
    CHECK(cuMemcpyHtoD(dA, A, a_bytes));
    CHECK(cuMemcpyHtoD(dB, B, b_bytes));
    CUstream stream;
    CHECK(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
    int m = M, n = N, k = K;
    const unsigned int grid_x = N / TILE, grid_y = M / TILE;

    /* 1. PTX module, cuLaunchKernelEx with attributes. */
    CUmodule mod = load_ptx(&args);
    CUfunction f_ptx;
    CHECK(cuModuleGetFunction(&f_ptx, mod, "sgemm_tiled"));
    print_function("ptx function", f_ptx);
    size_t offset[MAX_PARAMS], psize[MAX_PARAMS];
    size_t nparams = param_info(f_ptx, offset, psize);

    int least = 0, greatest = 0;
    CHECK(cuCtxGetStreamPriorityRange(&least, &greatest));
    CUlaunchAttribute attrs[2];
    memset(attrs, 0, sizeof attrs);
    attrs[0].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
    attrs[0].value.priority = greatest;
    attrs[1].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attrs[1].value.clusterDim.x = 1;
    attrs[1].value.clusterDim.y = 1;
    attrs[1].value.clusterDim.z = 1;
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = grid_x;
    cfg.gridDimY = grid_y;
    cfg.gridDimZ = 1;
    cfg.blockDimX = TILE;
    cfg.blockDimY = TILE;
    cfg.blockDimZ = 1;
    cfg.sharedMemBytes = 0;
    cfg.hStream = stream;
    cfg.attrs = attrs;
    cfg.numAttrs = 2;
    void *params0[] = { &dA, &dB, &dC[0], &m, &n, &k };
    CHECK(cuLaunchKernelEx(&cfg, f_ptx, params0, NULL));

    /* 2. cubin library, the CUkernel launched as a CUfunction. */
    size_t cubin_size = 0;
    unsigned char *cubin = read_kernel_image(&args, "matmul.cubin", &cubin_size);
    CUlibrary lib;
    /* As cuBLASLt 13 loads its CUTLASS cubins: the "binary is preserved" hint and no value array. */
    CUlibraryOption lib_opts[] = { CU_LIBRARY_BINARY_IS_PRESERVED };
    CHECK(cuLibraryLoadData(&lib, cubin, NULL, NULL, 0, lib_opts, NULL, 1));
    CUkernel kern;
    CHECK(cuLibraryGetKernel(&kern, lib, "sgemm_tiled"));
    CUfunction f_lib;
    CHECK(cuKernelGetFunction(&f_lib, kern));
    print_function("cubin function", f_lib);
    void *params1[] = { &dA, &dB, &dC[1], &m, &n, &k };
    CHECK(cuLaunchKernel((CUfunction)kern, grid_x, grid_y, 1, TILE, TILE, 1, 0, stream, params1, NULL));

    /* 3. the library's function, parameters packed into `extra`. */
    unsigned char packed[256];
    memset(packed, 0, sizeof packed);
    void *values2[] = { &dA, &dB, &dC[2], &m, &n, &k };
    size_t packed_size = 0;
    for (size_t i = 0; i < nparams; i++) {
        EXPECT(offset[i] + psize[i] <= sizeof packed, "param %zu does not fit the packed buffer", i);
        memcpy(packed + offset[i], values2[i], psize[i]);
        if (offset[i] + psize[i] > packed_size)
            packed_size = offset[i] + psize[i];
    }
    void *extra[] = {
        CU_LAUNCH_PARAM_BUFFER_POINTER, packed,
        CU_LAUNCH_PARAM_BUFFER_SIZE, &packed_size,
        CU_LAUNCH_PARAM_END,
    };
    CHECK(cuLaunchKernel(f_lib, grid_x, grid_y, 1, TILE, TILE, 1, 0, stream, NULL, extra));
    CHECK(cuStreamSynchronize(stream));

    static const char *files[3] = { "C_module_ex.bin", "C_library_kernel.bin", "C_library_extra.bin" };
    for (int i = 0; i < 3; i++) {
        CHECK(cuMemcpyDtoH(C, dC[i], c_bytes));
        check_result(&args, files[i], C, ref);
    }

    CUdeviceptr g;
    size_t g_bytes = 0;
    CHECK(cuModuleGetGlobal(&g, &g_bytes, mod, "sgemm_blocks_done"));
    read_counter("module global", g, g_bytes, grid_x * grid_y);
    CHECK(cuLibraryGetGlobal(&g, &g_bytes, lib, "sgemm_blocks_done"));
    read_counter("library global", g, g_bytes, 2 * grid_x * grid_y);

    CHECK(cuLibraryUnload(lib));
    CHECK(cuModuleUnload(mod));
    CHECK(cuStreamDestroy(stream));
    CHECK(cuMemFree(dA));
    CHECK(cuMemFree(dB));
    for (int i = 0; i < 3; i++)
        CHECK(cuMemFree(dC[i]));
    free(cubin);
    free(A);
    free(B);
    free(ref);
    free(C);
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("matmul_ptx: PASS\n");
    return 0;
}
