// matmul.cu — tiled shared-memory SGEMM of matmul_ptx.c, built both to PTX
// (matmul.ptx, JIT-compiled by the driver) and to a cubin (matmul.cubin).
#define TILE 16

// Counts the blocks that ran; read back with cuModuleGetGlobal / cuLibraryGetGlobal.
__device__ unsigned int sgemm_blocks_done = 0;

// C[M x N] = A[M x K] * B[K x N], row-major; launch with TILE x TILE blocks.
extern "C" __global__ void sgemm_tiled(const float *A, const float *B, float *C, int M, int N, int K)
{
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty;
    int col = blockIdx.x * TILE + tx;
    float acc = 0.0f;
    for (int t = 0; t < (K + TILE - 1) / TILE; ++t) {
        int ak = t * TILE + tx;
        int bk = t * TILE + ty;
        As[ty][tx] = (row < M && ak < K) ? A[row * K + ak] : 0.0f;
        Bs[ty][tx] = (bk < K && col < N) ? B[bk * N + col] : 0.0f;
        __syncthreads();
        for (int k = 0; k < TILE; ++k)
            acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N)
        C[row * N + col] = acc;
    if (tx == 0 && ty == 0)
        atomicAdd(&sgemm_blocks_done, 1u);
}
