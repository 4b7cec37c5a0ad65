/*
 * oob_fault — a kernel writes far out of bounds.  The launch itself must
 * succeed (CUDA_SUCCESS); the fault, CUDA_ERROR_ILLEGAL_ADDRESS (700), must
 * surface at the next synchronising call (cuCtxSynchronize), and stays sticky:
 * the codes of two later calls are printed as well.
 *
 * Output: codes.bin (the five CUresult codes as uint32).
 */
#include "common.h"

int main(int argc, char **argv)
{
    struct args args = parse_args(argc, argv);
    CUdevice dev;
    setup_primary(&dev);

    CUfunction f;
    CUmodule mod = load_module(&args, "oob_fault.cubin");
    CHECK(cuModuleGetFunction(&f, mod, "oob_write"));

    CUdeviceptr buf;
    CHECK(cuMemAlloc(&buf, 4096));
    CHECK(cuCtxSynchronize());
    /* buf + 4 * index == 256: about buf/4 elements below the buffer. */
    long long index = -(long long)(buf / 4) + 64;
    void *params[] = { &buf, &index };

    CUresult launch = cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL);
    CUresult sync = cuCtxSynchronize();
    CUresult again = cuCtxSynchronize();
    CUdeviceptr more = 0;
    CUresult alloc = cuMemAlloc(&more, 4096);
    unsigned int word = 0;
    CUresult copy = cuMemcpyDtoH(&word, buf, sizeof word);

    printf("launch: %d %s\n", (int)launch, cu_name(launch));
    printf("cuCtxSynchronize: %d %s\n", (int)sync, cu_name(sync));
    printf("later cuCtxSynchronize: %d %s\n", (int)again, cu_name(again));
    printf("later cuMemAlloc: %d %s\n", (int)alloc, cu_name(alloc));
    printf("later cuMemcpyDtoH: %d %s\n", (int)copy, cu_name(copy));
    unsigned int codes[5] = { launch, sync, again, alloc, copy };
    write_file(args.out_dir, "codes.bin", codes, sizeof codes);

    EXPECT(launch == CUDA_SUCCESS, "cuLaunchKernel returned %d, want 0: the fault must not show at launch",
           (int)launch);
    EXPECT(sync == CUDA_ERROR_ILLEGAL_ADDRESS, "cuCtxSynchronize returned %d, want %d (CUDA_ERROR_ILLEGAL_ADDRESS)",
           (int)sync, (int)CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT(again == CUDA_ERROR_ILLEGAL_ADDRESS, "the error was not sticky: a second cuCtxSynchronize returned %d",
           (int)again);
    /* The context is unusable now; the process exit tears it down. */
    printf("oob_fault: PASS\n");
    return 0;
}
