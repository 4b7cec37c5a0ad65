/*
 * copy2d.c — 2-D copies (cuMemcpy2D and its variants).  The descriptor is
 * sent by value: device sides as addresses and pitches the proxy checks
 * against what the guest owns; host sides either as a shared page-locked
 * segment (with their pitch) or packed into the arena, a batch of rows at a
 * time, and unpacked here.
 */
#include <string.h>

#include "api.h"
#include "copy.h"

struct side {
	int host;                /* 1: host memory, 0: device memory */
	const uint8_t *ptr;      /* host: first byte of the first row */
	CUdeviceptr dev;         /* device: base address */
	size_t x, y, pitch;
};

static CUresult resolve(CUmemorytype type, const void *host, CUdeviceptr dev, CUarray array, size_t x, size_t y, size_t pitch,
			struct side *s)
{
	if (type == CU_MEMORYTYPE_UNIFIED)
		type = vgpu_devmem_find(dev, NULL, NULL, NULL, NULL) ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
	if (type == CU_MEMORYTYPE_ARRAY || array)
		return vgpu_unsupported("cuMemcpy2D with CUDA arrays");
	if (type == CU_MEMORYTYPE_HOST) {
		const uint8_t *base = host ? host : (const uint8_t *)(uintptr_t)dev;
		if (!base)
			return CUDA_ERROR_INVALID_VALUE;
		*s = (struct side){ .host = 1, .ptr = base + y * pitch + x, .pitch = pitch };
		return CUDA_SUCCESS;
	}
	if (type != CU_MEMORYTYPE_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	*s = (struct side){ .host = 0, .dev = dev, .x = x, .y = y, .pitch = pitch };
	return CUDA_SUCCESS;
}

/* The host side of rows [row, row+rows) as a segment reference, when a shared segment holds all of them. */
static int segment_side(const struct side *s, size_t row, size_t rows, size_t width, struct vgpu_host_ref *ref, uint64_t *pitch)
{
	struct vgpu_hostseg seg;
	const uint8_t *first = s->ptr + row * s->pitch;
	size_t span = (rows - 1) * s->pitch + width;
	if (!vgpu_hostseg_find(first, span, &seg))
		return 0;
	memset(ref, 0, sizeof(*ref));
	ref->segment = seg.id;
	ref->offset = (uint64_t)(first - (const uint8_t *)seg.host);
	*pitch = s->pitch;
	return 1;
}

static void device_side(const struct side *s, size_t row, uint64_t *dev, uint64_t *x, uint64_t *y, uint64_t *pitch)
{
	*dev = s->dev;
	*x = s->x;
	*y = s->y + row;
	*pitch = s->pitch;
}

/* One batch of rows; host bytes through the arena when no segment holds them. */
static CUresult batch(struct vgpu_ctx *ctx, const struct side *src, const struct side *dst, size_t width, size_t row, size_t rows,
		      struct vgpu_order o)
{
	struct vgpu_req_memcpy_2d req;
	memset(&req, 0, sizeof(req));
	req.width_bytes = width;
	req.height = rows;
	req.stream = o.stream;
	req.src_is_host = (uint32_t)src->host;
	req.dst_is_host = (uint32_t)dst->host;
	int src_arena = 0, dst_arena = 0;
	if (src->host)
		src_arena = !segment_side(src, row, rows, width, &req.src_host, &req.src_pitch);
	else
		device_side(src, row, &req.src_device, &req.src_x_bytes, &req.src_y, &req.src_pitch);
	if (dst->host)
		dst_arena = !segment_side(dst, row, rows, width, &req.dst_host, &req.dst_pitch);
	else
		device_side(dst, row, &req.dst_device, &req.dst_x_bytes, &req.dst_y, &req.dst_pitch);
	if (src_arena)
		req.src_pitch = width;
	if (dst_arena)
		req.dst_pitch = width;

	int answer = !(o.flags & VGPU_RF_ASYNC) || dst_arena;
	uint16_t flags = o.flags | (answer ? VGPU_RF_REPLY : 0);
	uint8_t *bytes = NULL;
	uint32_t seq;
	struct vgpu_part part = { &req, sizeof(req) };
	if (answer)
		vgpu_call_begin(vgpu.ch);
	CUresult r = vgpu_tx_begin(vgpu.ch);
	if (r == CUDA_SUCCESS) {
		if (src_arena && (r = vgpu_tx_arena(vgpu.ch, (uint32_t)(width * rows), &req.src_host.arena, &bytes)) == CUDA_SUCCESS)
			for (size_t i = 0; i < rows; i++)
				memcpy(bytes + i * width, src->ptr + (row + i) * src->pitch, width);
		if (r == CUDA_SUCCESS && dst_arena && (r = vgpu_tx_arena(vgpu.ch, (uint32_t)(width * rows), &req.dst_host.arena, &bytes)) == CUDA_SUCCESS)
			vgpu_tx_hold(vgpu.ch, &req.dst_host.arena);
		if (r == CUDA_SUCCESS)
			r = vgpu_tx_push(vgpu.ch, VGPU_OP_MEMCPY_2D, flags, ctx->id, &part, 1, &seq);
		vgpu_tx_end(vgpu.ch);
		if (r == CUDA_SUCCESS && answer)
			r = vgpu_call_wait(vgpu.ch, seq, NULL, 0, NULL);
		if (dst_arena) {
			if (r == CUDA_SUCCESS)
				for (size_t i = 0; i < rows; i++)
					memcpy((uint8_t *)dst->ptr + (row + i) * dst->pitch, bytes + i * width, width);
			vgpu_tx_unhold(vgpu.ch);
		}
	}
	if (answer)
		vgpu_call_end(vgpu.ch);
	return r;
}

static CUresult copy2d(const CUDA_MEMCPY2D *p, CUstream h, int async, int per_thread)
{
	struct vgpu_ctx *ctx;
	struct vgpu_order o;
	CUresult r = vgpu_need_ctx(&ctx);
	if (r != CUDA_SUCCESS)
		return r;
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if (p->WidthInBytes == 0 || p->Height == 0)
		return CUDA_SUCCESS;
	if ((p->Height > 1 && (p->srcPitch < p->WidthInBytes + p->srcXInBytes || p->dstPitch < p->WidthInBytes + p->dstXInBytes)))
		return CUDA_ERROR_INVALID_VALUE;
	struct side src, dst;
	if ((r = resolve(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcXInBytes, p->srcY, p->srcPitch, &src)) != CUDA_SUCCESS ||
	    (r = resolve(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstXInBytes, p->dstY, p->dstPitch, &dst)) != CUDA_SUCCESS)
		return r;
	if ((r = vgpu_order_of(h, async, per_thread, ctx, &o)) != CUDA_SUCCESS)
		return r;
	size_t width = p->WidthInBytes;
	if (src.host && dst.host) {
		/* Host to host: after the stream's earlier work when asynchronous, as the driver orders it. */
		if (o.flags) {
			struct vgpu_req_handle req = { .id = o.stream };
			if ((r = vgpu_rpc(VGPU_OP_STREAM_SYNC, ctx->id, &req, sizeof(req), NULL, 0)) != CUDA_SUCCESS)
				return r;
		}
		for (size_t i = 0; i < p->Height; i++)
			memmove((uint8_t *)dst.ptr + i * dst.pitch, src.ptr + i * src.pitch, width);
		return CUDA_SUCCESS;
	}
	/* Rows per request: what fits one arena chunk (all of them when no host side goes through the arena). */
	size_t chunk = vgpu_arena_chunk(vgpu.ch);
	if (width > chunk)
		return vgpu_unsupported("cuMemcpy2D with rows wider than the channel's arena chunk (raise VGPU_ARENA_MIB)");
	size_t per = (src.host || dst.host) ? chunk / width : p->Height;
	for (size_t row = 0; row < p->Height && r == CUDA_SUCCESS; row += per) {
		size_t rows = p->Height - row < per ? p->Height - row : per;
		r = batch(ctx, &src, &dst, width, row, rows, o);
	}
	return r;
}

VGPU_EXPORT CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *p) { return copy2d(p, NULL, 0, 0); }
VGPU_EXPORT CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *p) { return copy2d(p, NULL, 0, 1); }
VGPU_EXPORT CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *p) { return copy2d(p, NULL, 0, 0); }
VGPU_EXPORT CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *p) { return copy2d(p, NULL, 0, 1); }
VGPU_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *p, CUstream h) { return copy2d(p, h, 1, 0); }
VGPU_EXPORT CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *p, CUstream h) { return copy2d(p, h, 1, 1); }
