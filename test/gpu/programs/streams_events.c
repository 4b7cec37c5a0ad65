/*
 * streams_events — streams, events and contexts.
 *
 *   - four created streams (cuStreamCreate blocking/non-blocking,
 *     cuStreamCreateWithPriority at both ends of the priority range), each
 *     with async copies from pinned memory and a kernel between two timing
 *     events (cuEventElapsedTime: only "> 0" is printed);
 *   - cross-stream dependency: stream 1 waits (cuStreamWaitEvent) for an
 *     event recorded on stream 0 after slow work, then adds stream 0's result;
 *   - cuStreamQuery/cuEventQuery while a kernel still runs (NOT_READY) and
 *     after cuEventSynchronize/cuStreamSynchronize (SUCCESS);
 *   - the legacy default stream (NULL and CU_STREAM_LEGACY) waits for work
 *     on a blocking stream and on the per-thread default stream;
 *   - the per-thread default stream (CU_STREAM_PER_THREAD) on its own;
 *   - pageable copies queued behind slow work, more than the arena holds:
 *     each returns once staged (its source is overwritten at once), all land;
 *   - a created context (cuCtxCreate) beside the primary one, with
 *     cuCtxPopCurrent/cuCtxPushCurrent and a module of its own.
 *
 * Outputs: stream<i>.bin, legacy_after_blocking.bin,
 * legacy_after_per_thread.bin, per_thread.bin, ctx2.bin.
 */
#include "common.h"

enum { NSTREAMS = 4, ROUNDS = 256, BLOCK = 256 };
#define N_ELEMS ((1u << 18) + 3u)
#define MS_NS 1000000ull

static CUfunction f_mix, f_add_into, f_copy, f_spin, f_spin_store;

static unsigned int mix_ref(unsigned int v, unsigned int mul, unsigned int add, unsigned int rounds)
{
    for (unsigned int r = 0; r < rounds; r++)
        v = v * mul + add + r;
    return v;
}

static unsigned int mul_of(int i) { return 2654435761u + 2u * (unsigned int)i; }

static void launch_mix(CUfunction f, CUstream s, CUdeviceptr buf, unsigned int n, unsigned int mul,
                       unsigned int add, unsigned int rounds)
{
    void *p[] = { &buf, &n, &mul, &add, &rounds };
    CHECK(cuLaunchKernel(f, blocks_for(n, BLOCK), 1, 1, BLOCK, 1, 1, 0, s, p, NULL));
}

static void launch_pair(CUfunction f, CUstream s, CUdeviceptr dst, CUdeviceptr src, unsigned int n)
{
    void *p[] = { &dst, &src, &n };
    CHECK(cuLaunchKernel(f, blocks_for(n, BLOCK), 1, 1, BLOCK, 1, 1, 0, s, p, NULL));
}

static void launch_spin(CUstream s, unsigned long long ns)
{
    void *p[] = { &ns };
    CHECK(cuLaunchKernel(f_spin, 1, 1, 1, 1, 1, 1, 0, s, p, NULL));
}

static void launch_spin_store(CUstream s, CUdeviceptr dst, unsigned int n, unsigned int v, unsigned long long ns)
{
    void *p[] = { &dst, &n, &v, &ns };
    CHECK(cuLaunchKernel(f_spin_store, blocks_for(n, BLOCK), 1, 1, BLOCK, 1, 1, 0, s, p, NULL));
}

static unsigned int *pinned_u32(size_t n)
{
    void *p = NULL;
    CHECK(cuMemAllocHost(&p, n * sizeof(unsigned int)));
    return p;
}

static void check_busy_queries(CUstream s)
{
    CUevent before, after;
    CHECK(cuEventCreate(&before, CU_EVENT_DEFAULT));
    CHECK(cuEventCreate(&after, CU_EVENT_DEFAULT));
    CHECK(cuEventRecord(before, s));
    launch_spin(s, 200 * MS_NS);
    CHECK(cuEventRecord(after, s));
    CUresult sq = cuStreamQuery(s), eq = cuEventQuery(after);
    printf("while a 200 ms kernel runs: cuStreamQuery %d, cuEventQuery %d\n", (int)sq, (int)eq);
    EXPECT(sq == CUDA_ERROR_NOT_READY && eq == CUDA_ERROR_NOT_READY,
           "queries on a busy stream returned %d and %d, want %d (NOT_READY)", (int)sq, (int)eq,
           (int)CUDA_ERROR_NOT_READY);
    CHECK(cuEventSynchronize(after));
    eq = cuEventQuery(after);
    sq = cuStreamQuery(s);
    printf("after cuEventSynchronize: cuEventQuery %d, cuStreamQuery %d\n", (int)eq, (int)sq);
    EXPECT(eq == CUDA_SUCCESS && sq == CUDA_SUCCESS, "queries after cuEventSynchronize returned %d and %d",
           (int)eq, (int)sq);
    float ms = 0;
    CHECK(cuEventElapsedTime(&ms, before, after));
    fprintf(stderr, "busy kernel: %.3f ms\n", ms);
    EXPECT(ms >= 100.0f, "a 200 ms kernel measured %.3f ms between events", ms);
    printf("busy kernel elapsed >= 100 ms: yes\n");
    CHECK(cuEventDestroy(before));
    CHECK(cuEventDestroy(after));
}

static void run_pipeline(const struct args *args, CUstream *s)
{
    const unsigned int n = N_ELEMS;
    const size_t bytes = (size_t)n * sizeof(unsigned int);
    unsigned int *in[NSTREAMS], *out[NSTREAMS];
    CUdeviceptr buf[NSTREAMS];
    CUevent start[NSTREAMS], stop[NSTREAMS], done0;
    for (int i = 0; i < NSTREAMS; i++) {
        in[i] = pinned_u32(n);
        out[i] = pinned_u32(n);
        CHECK(cuMemAlloc(&buf[i], bytes));
        CHECK(cuEventCreate(&start[i], CU_EVENT_DEFAULT));
        CHECK(cuEventCreate(&stop[i], CU_EVENT_DEFAULT));
        for (unsigned int j = 0; j < n; j++)
            in[i][j] = j * (unsigned int)(i + 1) + 17u * (unsigned int)i;
    }
    CHECK(cuEventCreate(&done0, CU_EVENT_DISABLE_TIMING));

    for (int i = 0; i < NSTREAMS; i++) {
        CHECK(cuMemcpyHtoDAsync(buf[i], in[i], bytes, s[i]));
        if (i == 0)
            launch_spin(s[0], 20 * MS_NS); /* stream 0 is slow: stream 1's wait must hold */
        CHECK(cuEventRecord(start[i], s[i]));
        launch_mix(f_mix, s[i], buf[i], n, mul_of(i), (unsigned int)i + 1u, ROUNDS);
        CHECK(cuEventRecord(stop[i], s[i]));
    }
    CHECK(cuEventRecord(done0, s[0]));
    CHECK(cuStreamWaitEvent(s[1], done0, 0));
    launch_pair(f_add_into, s[1], buf[1], buf[0], n);
    for (int i = 0; i < NSTREAMS; i++)
        CHECK(cuMemcpyDtoHAsync(out[i], buf[i], bytes, s[i]));

    for (int i = 0; i < NSTREAMS; i++) {
        CHECK(cuEventSynchronize(stop[i]));
        float ms = 0;
        CHECK(cuEventElapsedTime(&ms, start[i], stop[i]));
        fprintf(stderr, "stream %d: kernel %.3f ms\n", i, ms);
        CHECK(cuStreamSynchronize(s[i]));
        CUresult sq = cuStreamQuery(s[i]), eq = cuEventQuery(stop[i]);
        printf("stream %d: elapsed > 0 %s, after sync cuStreamQuery %d cuEventQuery %d\n", i, yes_no(ms > 0.0f),
               (int)sq, (int)eq);
        EXPECT(ms > 0.0f && sq == CUDA_SUCCESS && eq == CUDA_SUCCESS, "stream %d: elapsed %.3f ms, queries %d %d",
               i, ms, (int)sq, (int)eq);
    }

    for (int i = 0; i < NSTREAMS; i++) {
        size_t bad = 0;
        for (unsigned int j = 0; j < n; j++) {
            unsigned int want = mix_ref(in[i][j], mul_of(i), (unsigned int)i + 1u, ROUNDS);
            if (i == 1)
                want += mix_ref(in[0][j], mul_of(0), 1u, ROUNDS);
            bad += out[i][j] != want;
        }
        EXPECT(bad == 0, "stream %d: %zu of %u results wrong%s", i, bad, n,
               i == 1 ? " (did cuStreamWaitEvent wait for stream 0?)" : "");
        char name[64];
        snprintf(name, sizeof name, "stream%d.bin", i);
        write_file(args->out_dir, name, out[i], bytes);
        printf("stream %d: results ok %016llx\n", i, fnv1a64(out[i], bytes));
    }
    for (int i = 0; i < NSTREAMS; i++) {
        CHECK(cuMemFreeHost(in[i]));
        CHECK(cuMemFreeHost(out[i]));
        CHECK(cuMemFree(buf[i]));
        CHECK(cuEventDestroy(start[i]));
        CHECK(cuEventDestroy(stop[i]));
    }
    CHECK(cuEventDestroy(done0));
}

/* Slow work on `first`, then a copy on the legacy default stream: the legacy
 * stream must wait for it (implicit synchronisation). */
static void check_legacy_ordering(const struct args *args, CUstream first, const char *label, const char *file)
{
    const unsigned int n = N_ELEMS;
    const size_t bytes = (size_t)n * sizeof(unsigned int);
    CUdeviceptr a, b;
    CHECK(cuMemAlloc(&a, bytes));
    CHECK(cuMemAlloc(&b, bytes));
    CHECK(cuMemsetD32(a, 0, n));
    CHECK(cuMemsetD32(b, 0, n));
    CHECK(cuCtxSynchronize());
    unsigned int *h = pinned_u32(n);

    launch_spin_store(first, a, n, 0x1234u, 20 * MS_NS);
    launch_pair(f_copy, NULL, b, a, n);
    CHECK(cuMemcpyDtoHAsync(h, b, bytes, CU_STREAM_LEGACY));
    CHECK(cuStreamSynchronize(CU_STREAM_LEGACY));

    size_t bad = 0;
    for (unsigned int j = 0; j < n; j++)
        bad += h[j] != 0x1234u + j;
    EXPECT(bad == 0, "%s: the legacy stream did not wait, %zu of %u values wrong", label, bad, n);
    write_file(args->out_dir, file, h, bytes);
    printf("%s then legacy stream: ordered, %016llx\n", label, fnv1a64(h, bytes));
    CHECK(cuMemFreeHost(h));
    CHECK(cuMemFree(a));
    CHECK(cuMemFree(b));
}

static void check_per_thread_stream(const struct args *args)
{
    const unsigned int n = N_ELEMS;
    const size_t bytes = (size_t)n * sizeof(unsigned int);
    unsigned int *in = pinned_u32(n), *out = pinned_u32(n);
    for (unsigned int j = 0; j < n; j++)
        in[j] = j ^ 0x5A5A5A5Au;
    CUdeviceptr d;
    CHECK(cuMemAlloc(&d, bytes));
    CHECK(cuMemcpyHtoDAsync(d, in, bytes, CU_STREAM_PER_THREAD));
    launch_mix(f_mix, CU_STREAM_PER_THREAD, d, n, 747796405u, 7u, ROUNDS);
    CHECK(cuMemcpyDtoHAsync(out, d, bytes, CU_STREAM_PER_THREAD));
    CHECK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
    CUresult q = cuStreamQuery(CU_STREAM_PER_THREAD);
    EXPECT(q == CUDA_SUCCESS, "cuStreamQuery(CU_STREAM_PER_THREAD) after sync returned %d", (int)q);
    size_t bad = 0;
    for (unsigned int j = 0; j < n; j++)
        bad += out[j] != mix_ref(in[j], 747796405u, 7u, ROUNDS);
    EXPECT(bad == 0, "per-thread stream: %zu of %u results wrong", bad, n);
    write_file(args->out_dir, "per_thread.bin", out, bytes);
    printf("per-thread stream: results ok %016llx, query after sync %d\n", fnv1a64(out, bytes), (int)q);
    CHECK(cuMemFreeHost(in));
    CHECK(cuMemFreeHost(out));
    CHECK(cuMemFree(d));
}

/*
 * Pageable host-to-device copies queued behind a slow kernel: each returns once
 * its bytes are staged, so the one source buffer is refilled for the next copy
 * at once; 144 MiB in all is more than libvgpu's arena (64 MiB), so staging
 * space must be reused as the earlier copies finish, never before.
 */
static void check_pageable_async(const struct args *args, CUstream s)
{
    enum { COPIES = 6 };
    const size_t n = ((size_t)24 << 20) / sizeof(unsigned int);
    const size_t bytes = n * sizeof(unsigned int);
    unsigned int *host = malloc(bytes), *back = malloc(bytes);
    EXPECT(host && back, "out of host memory");
    CUdeviceptr d[COPIES];
    for (int k = 0; k < COPIES; k++)
        CHECK(cuMemAlloc(&d[k], bytes));
    launch_spin(s, 50 * MS_NS);
    for (int k = 0; k < COPIES; k++) {
        for (size_t j = 0; j < n; j++)
            host[j] = (unsigned int)j * 2654435761u + (unsigned int)k;
        CHECK(cuMemcpyHtoDAsync(d[k], host, bytes, s));
    }
    memset(host, 0xEE, bytes);
    CHECK(cuStreamSynchronize(s));
    size_t bad = 0;
    unsigned long long hash = 0;
    for (int k = 0; k < COPIES; k++) {
        /* To pageable memory: complete when it returns. */
        CHECK(cuMemcpyDtoHAsync(back, d[k], bytes, s));
        for (size_t j = 0; j < n; j++)
            bad += back[j] != (unsigned int)j * 2654435761u + (unsigned int)k;
        hash ^= fnv1a64(back, bytes);
        CHECK(cuMemFree(d[k]));
    }
    EXPECT(bad == 0, "pageable async copies: %zu of %zu values wrong (staging reused too early?)", bad, n * COPIES);
    write_file(args->out_dir, "pageable_async.bin", &hash, sizeof hash);
    printf("pageable async copies behind slow work: %d x 24 MiB intact %016llx\n", COPIES, hash);
    free(host);
    free(back);
}

static void check_created_context(const struct args *args, CUdevice dev, CUcontext primary)
{
    CUcontext ctx2 = NULL, cur = NULL, popped = NULL;
    CHECK(cuCtxCreate(&ctx2, NULL, 0, dev));
    EXPECT(ctx2 != NULL && ctx2 != primary, "cuCtxCreate gave no new context");
    CHECK(cuCtxGetCurrent(&cur));
    printf("after cuCtxCreate the new context is current: %s\n", yes_no(cur == ctx2));
    CHECK(cuCtxPopCurrent(&popped));
    EXPECT(popped == ctx2, "cuCtxPopCurrent did not return the created context");
    CHECK(cuCtxGetCurrent(&cur));
    printf("after cuCtxPopCurrent the primary context is current: %s\n", yes_no(cur == primary));

    CHECK(cuCtxPushCurrent(ctx2));
    CHECK(cuCtxGetCurrent(&cur));
    EXPECT(cur == ctx2, "after cuCtxPushCurrent the created context is not current");
    CUdevice d2 = -1;
    CHECK(cuCtxGetDevice(&d2));
    EXPECT(d2 == dev, "created context is on device %d, want %d", (int)d2, (int)dev);
    unsigned int api = 0;
    CHECK(cuCtxGetApiVersion(ctx2, &api));
    printf("created context: api version %u\n", api);

    /* Modules belong to one context: load it again here. */
    size_t size = 0;
    unsigned char *image = read_kernel_image(args, "streams_events.fatbin", &size);
    CUmodule mod2;
    CUfunction mix2;
    CHECK(cuModuleLoadData(&mod2, image));
    CHECK(cuModuleGetFunction(&mix2, mod2, "mix"));
    const unsigned int n = 4099;
    unsigned int in[4099], out[4099];
    for (unsigned int j = 0; j < n; j++)
        in[j] = j * 3u + 1u;
    CUdeviceptr d;
    CHECK(cuMemAlloc(&d, sizeof in));
    /* Asynchronous from pageable memory in this context too (its staging released by its own events). */
    CHECK(cuMemcpyHtoDAsync(d, in, sizeof in, NULL));
    launch_mix(mix2, NULL, d, n, 22695477u, 1u, ROUNDS);
    CHECK(cuMemcpyDtoH(out, d, sizeof out));
    size_t bad = 0;
    for (unsigned int j = 0; j < n; j++)
        bad += out[j] != mix_ref(in[j], 22695477u, 1u, ROUNDS);
    EXPECT(bad == 0, "created context: %zu of %u results wrong", bad, n);
    write_file(args->out_dir, "ctx2.bin", out, sizeof out);
    printf("created context: results ok %016llx\n", fnv1a64(out, sizeof out));
    CHECK(cuMemFree(d));
    CHECK(cuModuleUnload(mod2));
    free(image);

    CHECK(cuCtxPopCurrent(&popped));
    EXPECT(popped == ctx2, "second cuCtxPopCurrent did not return the created context");
    CHECK(cuCtxDestroy(ctx2));
    CHECK(cuCtxSetCurrent(primary));
}

int main(int argc, char **argv)
{
    struct args args = parse_args(argc, argv);
    CUdevice dev;
    CUcontext primary = setup_primary(&dev);

    CUmodule mod = load_module(&args, "streams_events.fatbin");
    CHECK(cuModuleGetFunction(&f_mix, mod, "mix"));
    CHECK(cuModuleGetFunction(&f_add_into, mod, "add_into"));
    CHECK(cuModuleGetFunction(&f_copy, mod, "copy_u32"));
    CHECK(cuModuleGetFunction(&f_spin, mod, "spin_ns"));
    CHECK(cuModuleGetFunction(&f_spin_store, mod, "spin_then_store"));

    int least = 0, greatest = 0;
    CHECK(cuCtxGetStreamPriorityRange(&least, &greatest));
    printf("stream priorities: least %d, greatest %d\n", least, greatest);
    CUstream s[NSTREAMS];
    CHECK(cuStreamCreate(&s[0], CU_STREAM_NON_BLOCKING));
    CHECK(cuStreamCreate(&s[1], CU_STREAM_DEFAULT));
    CHECK(cuStreamCreateWithPriority(&s[2], CU_STREAM_NON_BLOCKING, greatest));
    CHECK(cuStreamCreateWithPriority(&s[3], CU_STREAM_DEFAULT, least));
    for (int i = 0; i < NSTREAMS; i++) {
        int prio = 0;
        unsigned int flags = 0;
        CHECK(cuStreamGetPriority(s[i], &prio));
        CHECK(cuStreamGetFlags(s[i], &flags));
        printf("stream %d: priority %d, flags %u\n", i, prio, flags);
    }

    check_busy_queries(s[2]);
    run_pipeline(&args, s);
    check_legacy_ordering(&args, s[1], "blocking stream", "legacy_after_blocking.bin");
    check_legacy_ordering(&args, CU_STREAM_PER_THREAD, "per-thread stream", "legacy_after_per_thread.bin");
    check_per_thread_stream(&args);
    check_pageable_async(&args, s[0]);
    check_created_context(&args, dev, primary);

    for (int i = 0; i < NSTREAMS; i++)
        CHECK(cuStreamDestroy(s[i]));
    CHECK(cuModuleUnload(mod));
    CHECK(cuCtxSynchronize());
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("streams_events: PASS\n");
    return 0;
}
