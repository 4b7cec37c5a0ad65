/*
 * copy.c — copies and memsets on the wire (see copy.h).
 */
#include <string.h>

#include "copy.h"
#include "pcopy.h"

/*
 * Pageable copies move through the arena in pieces of at most this: small
 * enough that the DMA of one piece overlaps the memcpy of the next, large
 * enough that a piece's request costs little beside it.
 */
#define COPY_PIECE (4u << 20)

static size_t copy_piece(void)
{
	size_t chunk = vgpu_arena_chunk(vgpu.ch);
	return chunk < COPY_PIECE ? chunk : COPY_PIECE;
}

CUresult vgpu_order_of(CUstream h, int async, int per_thread, struct vgpu_ctx *ctx, struct vgpu_order *o)
{
	if (!async && !per_thread) {
		o->stream = VGPU_STREAM_NULL;
		o->flags = 0;
		return CUDA_SUCCESS;
	}
	o->flags = async ? VGPU_RF_ASYNC : VGPU_RF_PTDS;
	return vgpu_stream_id(async ? h : NULL, per_thread, ctx, &o->stream);
}

static int is_async(struct vgpu_order o) { return (o.flags & VGPU_RF_ASYNC) != 0; }

/* Sends one request in its order: without an answer when asynchronous, else waits for it. */
static CUresult submit(struct vgpu_ctx *ctx, uint16_t op, const void *req, size_t len, struct vgpu_order o)
{
	struct vgpu_part part = { req, len };
	if (!is_async(o))
		return vgpu_call_flags(vgpu.ch, op, o.flags, ctx->id, &part, 1, NULL, 0, NULL);
	CUresult r = vgpu_tx_begin(vgpu.ch);
	if (r == CUDA_SUCCESS) {
		r = vgpu_tx_push(vgpu.ch, op, o.flags, ctx->id, &part, 1, NULL);
		vgpu_tx_end(vgpu.ch);
	}
	return r;
}

static void segment_ref(struct vgpu_host_ref *ref, const struct vgpu_hostseg *seg, const void *p)
{
	memset(ref, 0, sizeof(*ref));
	ref->segment = seg->id;
	ref->offset = (uint64_t)((const char *)p - (const char *)seg->host);
}

CUresult vgpu_copy_htod(struct vgpu_ctx *ctx, CUdeviceptr dst, const void *src, size_t n, struct vgpu_order o)
{
	if (n == 0)
		return CUDA_SUCCESS;
	if (!src)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_hostseg seg;
	struct vgpu_req_memcpy_htod req = { .dst = dst, .bytes = n, .stream = o.stream };
	if (vgpu_hostseg_find(src, n, &seg)) {
		segment_ref(&req.src, &seg, src);
		return submit(ctx, VGPU_OP_MEMCPY_HTOD, &req, sizeof(req), o);
	}
	/* Through the arena, in pieces; only a synchronous copy's last piece asks for an answer. */
	const uint8_t *p = src;
	size_t chunk = copy_piece();
	int sync = !is_async(o);
	CUresult r = CUDA_SUCCESS;
	uint32_t seq = 0;
	if (sync)
		vgpu_call_begin(vgpu.ch);
	for (size_t done = 0; done < n && r == CUDA_SUCCESS;) {
		size_t len = n - done < chunk ? n - done : chunk;
		int last = done + len == n;
		uint8_t *bytes;
		req.dst = dst + done;
		req.bytes = len;
		memset(&req.src, 0, sizeof(req.src));
		if ((r = vgpu_tx_begin(vgpu.ch)) != CUDA_SUCCESS)
			break;
		r = vgpu_tx_arena(vgpu.ch, (uint32_t)len, &req.src.arena, &bytes);
		if (r == CUDA_SUCCESS) {
			vgpu_pcopy(bytes, p + done, len);
			struct vgpu_part part = { &req, sizeof(req) };
			uint16_t flags = o.flags | (sync && last ? VGPU_RF_REPLY : 0);
			r = vgpu_tx_push(vgpu.ch, VGPU_OP_MEMCPY_HTOD, flags, ctx->id, &part, 1, &seq);
		}
		vgpu_tx_end(vgpu.ch);
		done += len;
		if (r == CUDA_SUCCESS && sync && last)
			r = vgpu_call_wait(vgpu.ch, seq, NULL, 0, NULL);
	}
	if (sync)
		vgpu_call_end(vgpu.ch);
	return r;
}

CUresult vgpu_copy_dtoh(struct vgpu_ctx *ctx, void *dst, CUdeviceptr src, size_t n, struct vgpu_order o)
{
	if (n == 0)
		return CUDA_SUCCESS;
	if (!dst)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_hostseg seg;
	struct vgpu_req_memcpy_dtoh req = { .src = src, .bytes = n, .stream = o.stream };
	if (vgpu_hostseg_find(dst, n, &seg)) {
		/* The GPU writes the shared page-locked segment itself: truly asynchronous. */
		segment_ref(&req.dst, &seg, dst);
		return submit(ctx, VGPU_OP_MEMCPY_DTOH, &req, sizeof(req), o);
	}
	/*
	 * Pageable destination: each chunk is a call; the proxy's copy into the
	 * arena completes before it answers (as a driver's copy to pageable memory
	 * does), then the bytes are copied out here.
	 */
	uint8_t *p = dst;
	size_t chunk = copy_piece();
	CUresult r = CUDA_SUCCESS;
	vgpu_call_begin(vgpu.ch);
	for (size_t done = 0; done < n && r == CUDA_SUCCESS;) {
		size_t len = n - done < chunk ? n - done : chunk;
		uint8_t *bytes;
		uint32_t seq;
		req.src = src + done;
		req.bytes = len;
		memset(&req.dst, 0, sizeof(req.dst));
		if ((r = vgpu_tx_begin(vgpu.ch)) != CUDA_SUCCESS)
			break;
		r = vgpu_tx_arena(vgpu.ch, (uint32_t)len, &req.dst.arena, &bytes);
		if (r == CUDA_SUCCESS) {
			vgpu_tx_hold(vgpu.ch, &req.dst.arena);
			struct vgpu_part part = { &req, sizeof(req) };
			r = vgpu_tx_push(vgpu.ch, VGPU_OP_MEMCPY_DTOH, o.flags | VGPU_RF_REPLY, ctx->id, &part, 1, &seq);
		}
		vgpu_tx_end(vgpu.ch);
		if (r == CUDA_SUCCESS) {
			r = vgpu_call_wait(vgpu.ch, seq, NULL, 0, NULL);
			if (r == CUDA_SUCCESS)
				vgpu_pcopy(p + done, bytes, len);
		}
		vgpu_tx_unhold(vgpu.ch);
		done += len;
	}
	vgpu_call_end(vgpu.ch);
	return r;
}

CUresult vgpu_copy_dtod(struct vgpu_ctx *ctx, CUdeviceptr dst, CUdeviceptr src, size_t n, struct vgpu_order o)
{
	if (n == 0)
		return CUDA_SUCCESS;
	struct vgpu_req_memcpy_dtod req = { .dst = dst, .src = src, .bytes = n, .stream = o.stream };
	return submit(ctx, VGPU_OP_MEMCPY_DTOD, &req, sizeof(req), o);
}

CUresult vgpu_memset(struct vgpu_ctx *ctx, CUdeviceptr dst, uint32_t value, unsigned elem, size_t pitch, size_t width,
		     size_t height, struct vgpu_order o)
{
	if (width == 0 || height == 0)
		return CUDA_SUCCESS;
	struct vgpu_req_memset req = { .dst = dst, .pitch = pitch, .width = width, .height = height, .value = value,
				       .elem_size = elem, .stream = o.stream };
	/* A memset is asynchronous to the host even in its "synchronous" form; the answer reports bad ranges at once. */
	return submit(ctx, VGPU_OP_MEMSET, &req, sizeof(req), o);
}
