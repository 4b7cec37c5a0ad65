// oob_fault.cu — kernel of oob_fault.c, built into oob_fault.cubin.
// Writes p[index + threadIdx.x]; the host picks index so the target lies far
// outside the buffer, in the first page of the address space, which is never
// mapped (so the write faults even with HMM, where the GPU can reach host memory).
extern "C" __global__ void oob_write(unsigned int *p, long long index)
{
    p[index + threadIdx.x] = 0xDEADBEEFu;
}
