/*
 * copy.h — moving bytes between the guest's memory and the device.
 *
 * Host bytes in a page-locked segment shared with the proxy go straight to
 * the GPU's DMA engines (no copy in the guest, asynchronous as CUDA's are).
 * Other host bytes travel through the arena, in chunks: a host-to-device copy
 * returns once its bytes are in the arena (as CUDA's copies from pageable
 * memory return once staged); a device-to-host copy returns once the bytes
 * are back in the caller's buffer.
 */
#ifndef VGPU_COPY_H
#define VGPU_COPY_H

#include "api.h"

/* How a copy or memset is ordered: on a stream without waiting, or synchronously. */
struct vgpu_order {
	uint32_t stream;   /* wire stream id */
	uint16_t flags;    /* 0: synchronous (legacy stream); VGPU_RF_ASYNC; VGPU_RF_PTDS (synchronous on stream) */
};

/* The order of an entry point: async or not, per-thread default stream or not. */
CUresult vgpu_order_of(CUstream h, int async, int per_thread, struct vgpu_ctx *ctx, struct vgpu_order *o);

CUresult vgpu_copy_htod(struct vgpu_ctx *ctx, CUdeviceptr dst, const void *src, size_t n, struct vgpu_order o);
CUresult vgpu_copy_dtoh(struct vgpu_ctx *ctx, void *dst, CUdeviceptr src, size_t n, struct vgpu_order o);
CUresult vgpu_copy_dtod(struct vgpu_ctx *ctx, CUdeviceptr dst, CUdeviceptr src, size_t n, struct vgpu_order o);
CUresult vgpu_memset(struct vgpu_ctx *ctx, CUdeviceptr dst, uint32_t value, unsigned elem, size_t pitch, size_t width,
		     size_t height, struct vgpu_order o);

#endif
