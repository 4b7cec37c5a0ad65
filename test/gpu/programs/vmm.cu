// vmm.cu — kernel of vmm.c, built into vmm.fatbin.  dst and src may name the
// same physical memory through two virtual addresses: no __restrict__.
extern "C" __global__ void add_const(unsigned int *dst, const unsigned int *src, unsigned int n, unsigned int c)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dst[i] = src[i] + c;
}
