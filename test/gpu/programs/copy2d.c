/*
 * copy2d — 2-D copies: a pitched allocation, cuMemcpy2D host-to-device from
 * pageable and pinned memory (with a source pitch and x/y offsets),
 * device-to-device, device-to-host into pageable and pinned memory, the
 * asynchronous and unaligned forms, and cuMemsetD2D32 over a sub-rectangle.
 *
 * Outputs: pitched_back.bin (the whole pitched region read back row by row),
 * sub_pageable.bin, sub_pinned.bin (a sub-rectangle read into each kind of
 * host memory).
 */
#include "common.h"

#define W 1000   /* bytes per row copied */
#define H 300
#define SRC_PITCH 1200

static CUDA_MEMCPY2D desc(void)
{
    CUDA_MEMCPY2D d;
    memset(&d, 0, sizeof(d));
    return d;
}

int main(int argc, char **argv)
{
    struct args a = parse_args(argc, argv);
    CUdevice dev;
    setup_primary(&dev);
    CUstream s;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));

    unsigned char *src = xmalloc((size_t)SRC_PITCH * (H + 4));
    for (size_t i = 0; i < (size_t)SRC_PITCH * (H + 4); i++)
        src[i] = (unsigned char)(i * 31u + 7u);

    CUdeviceptr d1, d2;
    size_t pitch1, pitch2;
    CHECK(cuMemAllocPitch(&d1, &pitch1, W + 64, H + 8, 4));
    CHECK(cuMemAllocPitch(&d2, &pitch2, W + 64, H + 8, 16));
    CHECK(cuMemsetD2D32(d1, pitch1, 0x01020304u, (W + 64) / 4, H + 8));
    CHECK(cuMemsetD2D32(d2, pitch2, 0u, (W + 64) / 4, H + 8));

    /* Pageable host (x=16, y=2, pitch 1200) -> device (x=32, y=1). */
    CUDA_MEMCPY2D c = desc();
    c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = src; c.srcPitch = SRC_PITCH; c.srcXInBytes = 16; c.srcY = 2;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE; c.dstDevice = d1; c.dstPitch = pitch1; c.dstXInBytes = 32; c.dstY = 1;
    c.WidthInBytes = W; c.Height = H;
    CHECK(cuMemcpy2D(&c));

    /* Device -> device, whole rows, asynchronous on a stream. */
    c = desc();
    c.srcMemoryType = CU_MEMORYTYPE_DEVICE; c.srcDevice = d1; c.srcPitch = pitch1;
    c.dstMemoryType = CU_MEMORYTYPE_UNIFIED; c.dstDevice = d2; c.dstPitch = pitch2;
    c.WidthInBytes = W + 64; c.Height = H + 8;
    CHECK(cuMemcpy2DAsync(&c, s));
    CHECK(cuStreamSynchronize(s));

    /* A sub-rectangle cleared on the device. */
    CHECK(cuMemsetD2D32(d2 + 5 * pitch2 + 64, pitch2, 0xdeadbeefu, 16, 10));

    /* The whole pitched region back, pageable. */
    unsigned char *back = xmalloc(pitch2 * (H + 8));
    c = desc();
    c.srcMemoryType = CU_MEMORYTYPE_DEVICE; c.srcDevice = d2; c.srcPitch = pitch2;
    c.dstMemoryType = CU_MEMORYTYPE_HOST; c.dstHost = back; c.dstPitch = pitch2;
    c.WidthInBytes = W + 64; c.Height = H + 8;
    CHECK(cuMemcpy2DUnaligned(&c));
    /* Only the W+64 bytes of each row are defined; the padding is not copied, so zero it. */
    for (size_t r = 0; r < H + 8; r++)
        memset(back + r * pitch2 + W + 64, 0, pitch2 - (W + 64));
    /* Written at a pitch of W+64, so the file does not depend on the driver's pitch choice. */
    unsigned char *packed = xmalloc((size_t)(W + 64) * (H + 8));
    for (size_t r = 0; r < H + 8; r++)
        memcpy(packed + r * (W + 64), back + r * pitch2, W + 64);
    write_file(a.out_dir, "pitched_back.bin", packed, (size_t)(W + 64) * (H + 8));

    /* A sub-rectangle into pageable and into pinned memory (asynchronously). */
    unsigned char *sub = xmalloc(200 * 40);
    void *pinned;
    CHECK(cuMemAllocHost(&pinned, 256 * 40));
    c = desc();
    c.srcMemoryType = CU_MEMORYTYPE_DEVICE; c.srcDevice = d2; c.srcPitch = pitch2; c.srcXInBytes = 40; c.srcY = 3;
    c.dstMemoryType = CU_MEMORYTYPE_HOST; c.dstHost = sub; c.dstPitch = 200;
    c.WidthInBytes = 200; c.Height = 40;
    CHECK(cuMemcpy2D(&c));
    write_file(a.out_dir, "sub_pageable.bin", sub, 200 * 40);
    c.dstHost = pinned; c.dstPitch = 256;
    CHECK(cuMemcpy2DAsync(&c, s));
    CHECK(cuStreamSynchronize(s));
    for (int r = 0; r < 40; r++)
        memcpy(sub + r * 200, (unsigned char *)pinned + r * 256, 200);
    write_file(a.out_dir, "sub_pinned.bin", sub, 200 * 40);

    /* And from pinned memory to the device, asynchronously. */
    memset(pinned, 0x5a, 256 * 40);
    c = desc();
    c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = pinned; c.srcPitch = 256;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE; c.dstDevice = d2; c.dstPitch = pitch2;
    c.WidthInBytes = 128; c.Height = 40;
    CHECK(cuMemcpy2DAsync(&c, s));
    CHECK(cuStreamSynchronize(s));
    unsigned char row[128];
    CHECK(cuMemcpyDtoH(row, d2 + 39 * pitch2, 128));
    int ok = 1;
    for (int i = 0; i < 128; i++)
        ok &= row[i] == 0x5a;

    printf("copy2d: pitches aligned %s, pinned upload %s\n", yes_no(pitch1 % 4 == 0 && pitch2 % 16 == 0), yes_no(ok));
    printf("copy2d: pitched region checksum %016llx\n", fnv1a64(packed, (size_t)(W + 64) * (H + 8)));
    CHECK(cuMemFreeHost(pinned));
    CHECK(cuMemFree(d1));
    CHECK(cuMemFree(d2));
    printf("copy2d: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
