/*
 * threads — the driver used from many threads at once.
 *
 *   - 8 worker threads, each making the primary context current, creating
 *     its own stream and launching 200 small kernels into its own slice of
 *     one buffer;
 *   - a cross-thread pair: thread A launches a slow producer and records an
 *     event after it; thread B, once a barrier says A has recorded, makes its
 *     own stream wait for that event (cuStreamWaitEvent) and launches a
 *     consumer of A's result.
 * All ten threads start together behind a barrier.
 *
 * Outputs: workers.bin (all slices), pair.bin (the consumer's result).
 */
#include "common.h"

#include <pthread.h>

enum { WORKERS = 8, LAUNCHES = 200, SLICE = 4099, PAIR_N = 65537, BLOCK = 128 };
#define PRODUCE_NS 50000000ull /* 50 ms */
#define PAIR_VALUE 0xABC0u

struct shared {
    CUcontext ctx;
    CUfunction step, produce, consume;
    CUdeviceptr slices;
    CUdeviceptr pair_src, pair_dst;
    CUevent produced;
    pthread_barrier_t start; /* all threads */
    pthread_barrier_t pair;  /* A has recorded its event -> B may wait on it */
};

struct worker {
    struct shared *sh;
    unsigned int id;
};

static unsigned int seed_of(unsigned int worker) { return 0x1000u * (worker + 1u); }

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    CHECK(cuCtxSetCurrent(sh->ctx));
    CUstream s;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr slice = sh->slices + (CUdeviceptr)w->id * SLICE * sizeof(unsigned int);
    unsigned int n = SLICE, id = w->id;
    pthread_barrier_wait(&sh->start);

    CHECK(cuMemsetD32Async(slice, seed_of(id), n, s));
    for (unsigned int k = 0; k < LAUNCHES; k++) {
        void *p[] = { &slice, &n, &k, &id };
        CHECK(cuLaunchKernel(sh->step, blocks_for(n, BLOCK), 1, 1, BLOCK, 1, 1, 0, s, p, NULL));
    }
    CHECK(cuStreamSynchronize(s));
    CHECK(cuStreamDestroy(s));
    return NULL;
}

static void *producer_main(void *arg)
{
    struct shared *sh = arg;
    CHECK(cuCtxSetCurrent(sh->ctx));
    CUstream s;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    unsigned int n = PAIR_N, v = PAIR_VALUE;
    unsigned long long ns = PRODUCE_NS;
    pthread_barrier_wait(&sh->start);

    void *p[] = { &sh->pair_src, &n, &v, &ns };
    CHECK(cuLaunchKernel(sh->produce, blocks_for(n, BLOCK), 1, 1, BLOCK, 1, 1, 0, s, p, NULL));
    CHECK(cuEventRecord(sh->produced, s));
    pthread_barrier_wait(&sh->pair);
    CHECK(cuStreamSynchronize(s));
    CHECK(cuStreamDestroy(s));
    return NULL;
}

static void *consumer_main(void *arg)
{
    struct shared *sh = arg;
    CHECK(cuCtxSetCurrent(sh->ctx));
    CUstream s;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    unsigned int n = PAIR_N;
    pthread_barrier_wait(&sh->start);
    pthread_barrier_wait(&sh->pair);

    CHECK(cuStreamWaitEvent(s, sh->produced, 0));
    void *p[] = { &sh->pair_src, &sh->pair_dst, &n };
    CHECK(cuLaunchKernel(sh->consume, blocks_for(n, BLOCK), 1, 1, BLOCK, 1, 1, 0, s, p, NULL));
    CHECK(cuStreamSynchronize(s));
    CHECK(cuStreamDestroy(s));
    return NULL;
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int err = pthread_create(t, NULL, fn, arg);
    if (err != 0)
        die("pthread_create: %s", strerror(err));
}

int main(int argc, char **argv)
{
    struct args args = parse_args(argc, argv);
    CUdevice dev;
    struct shared sh;
    memset(&sh, 0, sizeof sh);
    sh.ctx = setup_primary(&dev);

    CUmodule mod = load_module(&args, "threads.fatbin");
    CHECK(cuModuleGetFunction(&sh.step, mod, "step"));
    CHECK(cuModuleGetFunction(&sh.produce, mod, "produce"));
    CHECK(cuModuleGetFunction(&sh.consume, mod, "consume"));

    const size_t slice_bytes = (size_t)WORKERS * SLICE * sizeof(unsigned int);
    const size_t pair_bytes = (size_t)PAIR_N * sizeof(unsigned int);
    CHECK(cuMemAlloc(&sh.slices, slice_bytes));
    CHECK(cuMemAlloc(&sh.pair_src, pair_bytes));
    CHECK(cuMemAlloc(&sh.pair_dst, pair_bytes));
    CHECK(cuMemsetD32(sh.pair_src, 0, PAIR_N));
    CHECK(cuMemsetD32(sh.pair_dst, 0, PAIR_N));
    CHECK(cuEventCreate(&sh.produced, CU_EVENT_DISABLE_TIMING));
    CHECK(cuCtxSynchronize());
    if (pthread_barrier_init(&sh.start, NULL, WORKERS + 2) != 0 || pthread_barrier_init(&sh.pair, NULL, 2) != 0)
        die("pthread_barrier_init failed");

    pthread_t threads[WORKERS + 2];
    struct worker workers[WORKERS];
    for (unsigned int i = 0; i < WORKERS; i++) {
        workers[i].sh = &sh;
        workers[i].id = i;
        start_thread(&threads[i], worker_main, &workers[i]);
    }
    start_thread(&threads[WORKERS], producer_main, &sh);
    start_thread(&threads[WORKERS + 1], consumer_main, &sh);
    for (int i = 0; i < WORKERS + 2; i++)
        pthread_join(threads[i], NULL);

    unsigned int *slices = xmalloc(slice_bytes), *pair = xmalloc(pair_bytes);
    CHECK(cuMemcpyDtoH(slices, sh.slices, slice_bytes));
    CHECK(cuMemcpyDtoH(pair, sh.pair_dst, pair_bytes));

    for (unsigned int w = 0; w < WORKERS; w++) {
        size_t bad = 0;
        for (unsigned int i = 0; i < SLICE; i++) {
            unsigned int v = seed_of(w);
            for (unsigned int k = 0; k < LAUNCHES; k++)
                v = v * 1664525u + 1013904223u + k + (w << 16) + i;
            bad += slices[(size_t)w * SLICE + i] != v;
        }
        EXPECT(bad == 0, "worker %u: %zu of %d values wrong", w, bad, SLICE);
        printf("worker %u: %d launches ok %016llx\n", w, LAUNCHES,
               fnv1a64(slices + (size_t)w * SLICE, SLICE * sizeof(unsigned int)));
    }
    size_t bad = 0;
    for (unsigned int i = 0; i < PAIR_N; i++)
        bad += pair[i] != (PAIR_VALUE + i) * 2u + 1u;
    EXPECT(bad == 0, "cross-thread pair: %zu of %d values wrong (did B's stream wait for A's event?)", bad, PAIR_N);
    printf("cross-thread event wait: ok %016llx\n", fnv1a64(pair, pair_bytes));
    write_file(args.out_dir, "workers.bin", slices, slice_bytes);
    write_file(args.out_dir, "pair.bin", pair, pair_bytes);

    pthread_barrier_destroy(&sh.start);
    pthread_barrier_destroy(&sh.pair);
    CHECK(cuEventDestroy(sh.produced));
    CHECK(cuMemFree(sh.slices));
    CHECK(cuMemFree(sh.pair_src));
    CHECK(cuMemFree(sh.pair_dst));
    CHECK(cuModuleUnload(mod));
    free(slices);
    free(pair);
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("threads: PASS\n");
    return 0;
}
