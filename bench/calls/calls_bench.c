/*
 * calls_bench — cost of driver calls, measured in one process.
 *
 *   calls_bench KERNEL_DIR        (reads KERNEL_DIR/bench_kernels.fatbin)
 *
 * Prints one JSON object on stdout:
 *   {"device": ..., "settings": {...}, "metrics": {NAME: VALUE, ...}}
 * Metric names end in their unit: _us (microseconds, lower is better),
 * _per_s and _gbps (higher is better).
 *
 *   ctx_sync_*          cuCtxSynchronize on an idle context: p50, p99, mean
 *   stream_query_*      cuStreamQuery on an idle stream: p50, p99, mean
 *   launch_*            LAUNCHES empty-kernel launches then one sync:
 *                       launches per second (sync included) and CPU time per
 *                       cuLaunchKernel call
 *   bw_<dir>_<mem>_gbps host<->device copies of BW_MIB MiB, median of BW_REPS
 *   copy4k_<dir>_<mem>_* 4 KiB synchronous copies: p50, p99, mean
 * Each call is timed with clock_gettime(CLOCK_MONOTONIC), after a warm-up.
 *
 * Settings (environment): BENCH_SYNC_ITERS (20000), BENCH_LAUNCHES (100000),
 * BENCH_BW_MIB (64), BENCH_BW_REPS (10), BENCH_COPY4K_ITERS (5000),
 * BENCH_WARMUP (1000).
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loaded_libcuda.h"

static void check_cu(CUresult r, const char *call, int line)
{
    if (r == CUDA_SUCCESS)
        return;
    const char *name = NULL;
    if (cuGetErrorName(r, &name) != CUDA_SUCCESS || name == NULL)
        name = "unknown CUresult";
    fprintf(stderr, "calls_bench.c:%d: %s returned %d %s\n", line, call, (int)r, name);
    exit(1);
}
#define CHECK(call) check_cu((call), #call, __LINE__)

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static size_t setting(const char *name, size_t dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == 0)
        return dflt;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end != 0 || n == 0) {
        fprintf(stderr, "calls_bench: %s=%s is not a positive integer\n", name, v);
        exit(2);
    }
    return (size_t)n;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "calls_bench: out of host memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- output: one JSON object, metrics appended as measured -------------- */

static int g_first_metric = 1;

static void metric(const char *name, double value)
{
    printf("%s\n    \"%s\": %.4f", g_first_metric ? "" : ",", name, value);
    g_first_metric = 0;
}

/* Sorts v; emits <prefix>_p50_us, _p99_us, _mean_us. */
static void latency(const char *prefix, double *v, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    qsort(v, n, sizeof v[0], cmp_double);
    size_t i99 = (size_t)((double)n * 0.99);
    if (i99 >= n)
        i99 = n - 1;
    char name[128];
    snprintf(name, sizeof name, "%s_p50_us", prefix);
    metric(name, v[n / 2]);
    snprintf(name, sizeof name, "%s_p99_us", prefix);
    metric(name, v[i99]);
    snprintf(name, sizeof name, "%s_mean_us", prefix);
    metric(name, sum / (double)n);
}

/* ---- measurements ------------------------------------------------------- */

static void bench_ctx_sync(size_t warmup, size_t iters, double *v)
{
    for (size_t i = 0; i < warmup; i++)
        CHECK(cuCtxSynchronize());
    for (size_t i = 0; i < iters; i++) {
        double t0 = now_us();
        CUresult r = cuCtxSynchronize();
        v[i] = now_us() - t0;
        CHECK(r);
    }
    latency("ctx_sync", v, iters);
}

static void bench_stream_query(CUstream s, size_t warmup, size_t iters, double *v)
{
    for (size_t i = 0; i < warmup; i++)
        CHECK(cuStreamQuery(s));
    for (size_t i = 0; i < iters; i++) {
        double t0 = now_us();
        CUresult r = cuStreamQuery(s);
        v[i] = now_us() - t0;
        CHECK(r); /* idle: CUDA_SUCCESS, never NOT_READY */
    }
    latency("stream_query", v, iters);
}

static void bench_launch(CUfunction f, CUstream s, CUdeviceptr arg, size_t warmup, size_t launches)
{
    void *params[] = { &arg };
    for (size_t i = 0; i < warmup; i++)
        CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, s, params, NULL));
    CHECK(cuStreamSynchronize(s));
    double t0 = now_us();
    for (size_t i = 0; i < launches; i++)
        CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, s, params, NULL));
    double t1 = now_us();
    CHECK(cuStreamSynchronize(s));
    double t2 = now_us();
    metric("launch_rate_per_s", (double)launches / ((t2 - t0) / 1e6));
    metric("launch_cpu_per_call_us", (t1 - t0) / (double)launches);
}

enum dir { HTOD, DTOH };

static double copy_once(enum dir d, CUdeviceptr dev, void *host, size_t bytes)
{
    double t0 = now_us();
    if (d == HTOD)
        CHECK(cuMemcpyHtoD(dev, host, bytes));
    else
        CHECK(cuMemcpyDtoH(host, dev, bytes));
    return now_us() - t0;
}

static void bench_bandwidth(const char *name, enum dir d, CUdeviceptr dev, void *host, size_t bytes, size_t reps)
{
    double *v = xmalloc(reps * sizeof *v);
    copy_once(d, dev, host, bytes); /* warm-up */
    for (size_t i = 0; i < reps; i++)
        v[i] = copy_once(d, dev, host, bytes);
    qsort(v, reps, sizeof v[0], cmp_double);
    double median = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
    metric(name, (double)bytes / (median / 1e6) / 1e9);
    free(v);
}

static void bench_copy4k(const char *prefix, enum dir d, CUdeviceptr dev, void *host, size_t warmup, size_t iters,
                         double *v)
{
    for (size_t i = 0; i < warmup; i++)
        copy_once(d, dev, host, 4096);
    for (size_t i = 0; i < iters; i++)
        v[i] = copy_once(d, dev, host, 4096);
    latency(prefix, v, iters);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s KERNEL_DIR   (the folder holding bench_kernels.fatbin)\n", argv[0]);
        return 2;
    }
    print_loaded_libcuda();
    const size_t sync_iters = setting("BENCH_SYNC_ITERS", 20000);
    const size_t launches = setting("BENCH_LAUNCHES", 100000);
    const size_t bw_bytes = setting("BENCH_BW_MIB", 64) << 20;
    const size_t bw_reps = setting("BENCH_BW_REPS", 10);
    const size_t copy_iters = setting("BENCH_COPY4K_ITERS", 5000);
    const size_t warmup = setting("BENCH_WARMUP", 1000);

    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    char name[256];
    CHECK(cuDeviceGetName(name, (int)sizeof name, dev));

    char path[8192];
    snprintf(path, sizeof path, "%s/bench_kernels.fatbin", argv[1]);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "calls_bench: cannot open %s (build it with nvcc -fatbin, or fix KERNEL_DIR)\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *image = xmalloc((size_t)len + 1);
    if (len <= 0 || fread(image, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "calls_bench: cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    CUmodule mod;
    CUfunction fn;
    CHECK(cuModuleLoadData(&mod, image));
    CHECK(cuModuleGetFunction(&fn, mod, "empty_kernel"));
    CUstream s;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));

    size_t samples = sync_iters > copy_iters ? sync_iters : copy_iters;
    double *v = xmalloc(samples * sizeof *v);
    CUdeviceptr dbuf;
    CHECK(cuMemAlloc(&dbuf, bw_bytes));
    void *pinned = NULL;
    CHECK(cuMemAllocHost(&pinned, bw_bytes));
    void *pageable = xmalloc(bw_bytes);
    memset(pinned, 1, bw_bytes);
    memset(pageable, 1, bw_bytes); /* touch every page before timing */

    printf("{\n  \"device\": \"%s\",\n", name);
    printf("  \"settings\": {\"sync_iters\": %zu, \"launches\": %zu, \"bw_mib\": %zu, \"bw_reps\": %zu, "
           "\"copy4k_iters\": %zu, \"warmup\": %zu},\n  \"metrics\": {",
           sync_iters, launches, bw_bytes >> 20, bw_reps, copy_iters, warmup);

    fprintf(stderr, "calls_bench: round trips\n");
    bench_ctx_sync(warmup, sync_iters, v);
    bench_stream_query(s, warmup, sync_iters, v);
    fprintf(stderr, "calls_bench: launches\n");
    bench_launch(fn, s, dbuf, warmup, launches);
    fprintf(stderr, "calls_bench: bandwidth\n");
    bench_bandwidth("bw_htod_pinned_gbps", HTOD, dbuf, pinned, bw_bytes, bw_reps);
    bench_bandwidth("bw_dtoh_pinned_gbps", DTOH, dbuf, pinned, bw_bytes, bw_reps);
    bench_bandwidth("bw_htod_pageable_gbps", HTOD, dbuf, pageable, bw_bytes, bw_reps);
    bench_bandwidth("bw_dtoh_pageable_gbps", DTOH, dbuf, pageable, bw_bytes, bw_reps);
    fprintf(stderr, "calls_bench: 4 KiB copies\n");
    bench_copy4k("copy4k_htod_pageable", HTOD, dbuf, pageable, warmup, copy_iters, v);
    bench_copy4k("copy4k_dtoh_pageable", DTOH, dbuf, pageable, warmup, copy_iters, v);
    bench_copy4k("copy4k_htod_pinned", HTOD, dbuf, pinned, warmup, copy_iters, v);
    bench_copy4k("copy4k_dtoh_pinned", DTOH, dbuf, pinned, warmup, copy_iters, v);
    printf("\n  }\n}\n");

    CHECK(cuMemFreeHost(pinned));
    CHECK(cuMemFree(dbuf));
    CHECK(cuStreamDestroy(s));
    CHECK(cuModuleUnload(mod));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    free(pageable);
    free(image);
    free(v);
    return 0;
}
