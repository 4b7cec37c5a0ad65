// graph_build.cu — kernels of graph_build.c, built into graph_build.fatbin.

// buf[i] = buf[i] * mul + add (integers: exact, so native and libvgpu outputs compare bit for bit).
extern "C" __global__ void axpb(unsigned int *buf, unsigned int n, unsigned int mul, unsigned int add)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        buf[i] = buf[i] * mul + add;
}

// dst[i] += src[i]
extern "C" __global__ void add_into(unsigned int *dst, const unsigned int *src, unsigned int n)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dst[i] += src[i];
}
