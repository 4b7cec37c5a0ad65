// threads.cu — kernels of threads.c, built into threads.fatbin.

__device__ __forceinline__ unsigned long long global_ns()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

// One of many small steps on a worker's slice.
extern "C" __global__ void step(unsigned int *slice, unsigned int n, unsigned int k, unsigned int worker)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        slice[i] = slice[i] * 1664525u + 1013904223u + k + (worker << 16) + i;
}

// Slow producer: waits ns nanoseconds, then p[i] = v + i.
extern "C" __global__ void produce(unsigned int *p, unsigned int n, unsigned int v, unsigned long long ns)
{
    unsigned long long t0 = global_ns();
    while (global_ns() - t0 < ns) {
    }
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = v + i;
}

extern "C" __global__ void consume(const unsigned int *src, unsigned int *dst, unsigned int n)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dst[i] = src[i] * 2u + 1u;
}
