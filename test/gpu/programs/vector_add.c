/*
 * vector_add — the basic path: init, device queries, primary context, memory,
 * a module from a FATBIN, a launch with a kernelParams array, copies back.
 *
 * Cases cover sizes that are not a multiple of 16 bytes and one above 64 MiB,
 * pageable and pinned (cuMemAllocHost) host memory with synchronous and
 * asynchronous copies, cuMemsetD32/cuMemsetD8, cuMemcpyDtoD, a copy to an odd
 * device offset and into an odd host address.
 *
 * Outputs: add_<n>_<pageable|pinned>.bin (the sums), fill_<n>_<...>.bin
 * (memset then DtoD), odd_bytes.bin.
 */
#include "common.h"

static CUfunction g_add;

/* Exactly representable inputs, so every sum is exact. */
static void fill_inputs(float *a, float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)(i % 1000u);
        b[i] = (float)((i * 7u) % 1013u) * 0.5f;
    }
}

static void *host_alloc(size_t bytes, int pinned)
{
    void *p = NULL;
    if (pinned)
        CHECK(cuMemAllocHost(&p, bytes));
    else
        p = xmalloc(bytes);
    return p;
}

static void host_free(void *p, int pinned)
{
    if (pinned)
        CHECK(cuMemFreeHost(p));
    else
        free(p);
}

static void run_case(const struct args *args, CUstream stream, size_t n, int pinned)
{
    const char *kind = pinned ? "pinned" : "pageable";
    size_t bytes = n * sizeof(float);
    float *a = host_alloc(bytes, pinned);
    float *b = host_alloc(bytes, pinned);
    float *c = host_alloc(bytes, pinned);
    fill_inputs(a, b, n);
    memset(c, 0, bytes);

    CUdeviceptr da, db, dc, dd;
    CHECK(cuMemAlloc(&da, bytes));
    CHECK(cuMemAlloc(&db, bytes));
    CHECK(cuMemAlloc(&dc, bytes));
    CHECK(cuMemAlloc(&dd, bytes));

    /* Pinned: everything on one created stream, asynchronous copies.
     * Pageable: synchronous copies and the legacy NULL stream. */
    CUstream s = pinned ? stream : NULL;
    if (pinned) {
        CHECK(cuMemcpyHtoDAsync(da, a, bytes, s));
        CHECK(cuMemcpyHtoDAsync(db, b, bytes, s));
    } else {
        CHECK(cuMemcpyHtoD(da, a, bytes));
        CHECK(cuMemcpyHtoD(db, b, bytes));
    }
    unsigned int nn = (unsigned int)n;
    void *params[] = { &da, &db, &dc, &nn };
    CHECK(cuLaunchKernel(g_add, blocks_for(n, 256), 1, 1, 256, 1, 1, 0, s, params, NULL));
    if (pinned) {
        CHECK(cuMemcpyDtoHAsync(c, dc, bytes, s));
        CHECK(cuStreamSynchronize(s));
    } else {
        CHECK(cuMemcpyDtoH(c, dc, bytes));
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += c[i] != a[i] + b[i];
    EXPECT(bad == 0, "n=%zu %s: %zu of %zu sums wrong", n, kind, bad, n);
    char name[128];
    snprintf(name, sizeof name, "add_%zu_%s.bin", n, kind);
    write_file(args->out_dir, name, c, bytes);
    unsigned long long sum_hash = fnv1a64(c, bytes);

    /* memset the result, copy it device to device, read the copy back. */
    unsigned int pattern = 0xDEADBEEFu ^ (unsigned int)n;
    CHECK(cuMemsetD32(dc, pattern, n));
    CHECK(cuMemcpyDtoD(dd, dc, bytes));
    memset(c, 0, bytes);
    CHECK(cuMemcpyDtoH(c, dd, bytes));
    const unsigned int *u = (const unsigned int *)c;
    bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += u[i] != pattern;
    EXPECT(bad == 0, "n=%zu %s: %zu words wrong after cuMemsetD32 + cuMemcpyDtoD", n, kind, bad);
    snprintf(name, sizeof name, "fill_%zu_%s.bin", n, kind);
    write_file(args->out_dir, name, c, bytes);

    printf("n=%zu %s: sums ok %016llx, memset+dtod ok %016llx\n", n, kind, sum_hash, fnv1a64(c, bytes));
    CHECK(cuMemFree(da));
    CHECK(cuMemFree(db));
    CHECK(cuMemFree(dc));
    CHECK(cuMemFree(dd));
    host_free(a, pinned);
    host_free(b, pinned);
    host_free(c, pinned);
}

/* 12345 bytes to device offset 3, back whole, and back into an odd host address. */
static void run_odd_bytes(const struct args *args)
{
    const size_t off = 3, len = 12345, total = off + len + 3;
    unsigned char *src = xmalloc(len), *back = xmalloc(total), *shifted = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        src[i] = (unsigned char)(i * 31u + 7u);
    CUdeviceptr d;
    CHECK(cuMemAlloc(&d, total));
    CHECK(cuMemsetD8(d, 0xA5, total));
    CHECK(cuMemcpyHtoD(d + off, src, len));
    CHECK(cuMemcpyDtoH(back, d, total));
    CHECK(cuMemcpyDtoH(shifted + 1, d + off, len));
    int ok = memcmp(back + off, src, len) == 0 && memcmp(shifted + 1, src, len) == 0;
    for (size_t i = 0; i < off; i++)
        ok = ok && back[i] == 0xA5 && back[off + len + i] == 0xA5;
    EXPECT(ok, "odd-size copy at device offset %zu: bytes differ", off);
    write_file(args->out_dir, "odd_bytes.bin", back, total);
    printf("odd bytes: %zu at device offset %zu ok %016llx\n", len, off, fnv1a64(back, total));
    CHECK(cuMemFree(d));
    free(src);
    free(back);
    free(shifted);
}

static void print_device(CUdevice dev)
{
    int version = 0, count = 0, major = 0, minor = 0, sms = 0;
    char name[256];
    CHECK(cuDriverGetVersion(&version));
    CHECK(cuDeviceGetCount(&count));
    CHECK(cuDeviceGetName(name, (int)sizeof name, dev));
    CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    CHECK(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
    CHECK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    EXPECT(count >= 1, "cuDeviceGetCount says %d devices", count);
    EXPECT(sms > 0, "multiprocessor count %d", sms);
    printf("driver version: %d\n", version);
    printf("device 0: %s, compute capability %d.%d\n", name, major, minor);

    size_t total = 0, free_b = 0, ctx_total = 0;
    CHECK(cuDeviceTotalMem(&total, dev));
    CHECK(cuMemGetInfo(&free_b, &ctx_total));
    fprintf(stderr, "memory: device total %zu, free %zu of %zu\n", total, free_b, ctx_total);
    EXPECT(total > 0 && ctx_total > 0 && free_b > 0 && free_b <= ctx_total,
           "implausible memory sizes: total %zu, free %zu of %zu", total, free_b, ctx_total);
    printf("memory queries: ok\n");
}

static void print_pointer_types(void)
{
    CUdeviceptr d;
    void *h = NULL;
    unsigned int dev_type = 0, host_type = 0;
    CHECK(cuMemAlloc(&d, 4096));
    CHECK(cuMemAllocHost(&h, 4096));
    CHECK(cuPointerGetAttribute(&dev_type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d));
    CHECK(cuPointerGetAttribute(&host_type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)h));
    EXPECT(dev_type == CU_MEMORYTYPE_DEVICE, "device pointer has memory type %u", dev_type);
    EXPECT(host_type == CU_MEMORYTYPE_HOST, "cuMemAllocHost pointer has memory type %u", host_type);
    printf("pointer memory type: device %u, pinned host %u\n", dev_type, host_type);
    CHECK(cuMemFree(d));
    CHECK(cuMemFreeHost(h));
}

int main(int argc, char **argv)
{
    struct args args = parse_args(argc, argv);
    CUdevice dev;
    CUcontext ctx = setup_primary(&dev);
    CUcontext cur = NULL;
    CHECK(cuCtxGetCurrent(&cur));
    EXPECT(cur == ctx, "cuCtxGetCurrent is not the primary context just set");
    print_device(dev);
    print_pointer_types();

    size_t image_size = 0;
    unsigned char *image = read_kernel_image(&args, "vector_add.fatbin", &image_size);
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, image));
    CHECK(cuModuleGetFunction(&g_add, mod, "vector_add"));
    CUstream stream;
    CHECK(cuStreamCreate(&stream, CU_STREAM_DEFAULT));

    /* 20000003 floats = 80000012 bytes: above 64 MiB and not a multiple of 16. */
    const size_t sizes[] = { 1, 3, 1000, 4097, (1u << 20) + 5, 20000003 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        run_case(&args, stream, sizes[i], 0);
    for (size_t i = 3; i < sizeof sizes / sizeof sizes[0]; i++)
        run_case(&args, stream, sizes[i], 1);
    run_odd_bytes(&args);

    CHECK(cuStreamDestroy(stream));
    CHECK(cuModuleUnload(mod));
    free(image);
    CHECK(cuCtxSynchronize());
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("vector_add: PASS\n");
    return 0;
}
