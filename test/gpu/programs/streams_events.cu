// streams_events.cu — kernels of streams_events.c, built into streams_events.fatbin.

__device__ __forceinline__ unsigned long long global_ns()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// buf[i] = rounds of (v * mul + add + r): integer, deterministic, some work.
extern "C" __global__ void mix(unsigned int *buf, unsigned int n, unsigned int mul, unsigned int add, unsigned int rounds)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned int v = buf[i];
    for (unsigned int r = 0; r < rounds; ++r)
        v = v * mul + add + r;
    buf[i] = v;
}

extern "C" __global__ void add_into(unsigned int *dst, const unsigned int *src, unsigned int n)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dst[i] += src[i];
}

extern "C" __global__ void copy_u32(unsigned int *dst, const unsigned int *src, unsigned int n)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dst[i] = src[i];
}

// Keeps the GPU busy for about ns nanoseconds (launch with one thread).
extern "C" __global__ void spin_ns(unsigned long long ns)
{
    unsigned long long t0 = global_ns();
    while (global_ns() - t0 < ns) {
    }
}

// Waits ns nanoseconds, then p[i] = v + i: a slow producer.
extern "C" __global__ void spin_then_store(unsigned int *p, unsigned int n, unsigned int v, unsigned long long ns)
{
    unsigned long long t0 = global_ns();
    while (global_ns() - t0 < ns) {
    }
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v + i;
}
