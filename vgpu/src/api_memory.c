/*
 * api_memory.c — device memory, copies and memsets (every direction, every
 * stream flavour), and address queries answered from the guest's tables.
 */
#include <string.h>

#include "api.h"
#include "copy/copy.h"

/* --- allocation --- */

static CUresult mem_alloc(CUdeviceptr *dptr, size_t bytes, size_t width, size_t height, unsigned elem, size_t *pitch,
			  CUstream stream, int async, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!dptr || (width == 0 && bytes == 0))
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_mem_alloc req = { .bytes = bytes, .width = width, .height = (uint32_t)height, .elem_size = elem };
	if (height > 0xffffffffu)
		return CUDA_ERROR_INVALID_VALUE;
	if (async && (r = vgpu_stream_id(stream, per_thread, c, &req.stream)) != CUDA_SUCCESS)
		return r;
	struct vgpu_rsp_mem_alloc rsp;
	struct vgpu_part part = { &req, sizeof(req) };
	r = vgpu_call_flags(vgpu.ch, VGPU_OP_MEM_ALLOC, async ? VGPU_RF_ASYNC : 0, c->id, &part, 1, &rsp, sizeof(rsp), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	*dptr = rsp.dptr;
	if (pitch)
		*pitch = rsp.pitch;
	vgpu_devmem_add(rsp.dptr, width ? rsp.pitch * height : bytes, c, VGPU_DEVMEM_ALLOC);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	return mem_alloc(dptr, bytesize, 0, 0, 0, NULL, NULL, 0, 0);
}

VGPU_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height, unsigned int ElementSizeBytes)
{
	if (!pPitch || WidthInBytes == 0 || Height == 0 || (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16))
		return CUDA_ERROR_INVALID_VALUE;
	return mem_alloc(dptr, 0, WidthInBytes, Height, ElementSizeBytes, pPitch, NULL, 0, 0);
}

VGPU_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return mem_alloc(dptr, bytesize, 0, 0, 0, NULL, hStream, 1, 0);
}

VGPU_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return mem_alloc(dptr, bytesize, 0, 0, 0, NULL, hStream, 1, 1);
}

static CUresult mem_free(CUdeviceptr dptr, CUstream stream, int async, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (dptr == 0)
		return CUDA_SUCCESS;
	struct vgpu_req_mem_free req = { .dptr = dptr };
	if (async && (r = vgpu_stream_id(stream, per_thread, c, &req.stream)) != CUDA_SUCCESS)
		return r;
	struct vgpu_part part = { &req, sizeof(req) };
	r = vgpu_call_flags(vgpu.ch, VGPU_OP_MEM_FREE, async ? VGPU_RF_ASYNC : 0, c->id, &part, 1, NULL, 0, NULL);
	if (r == CUDA_SUCCESS)
		vgpu_devmem_remove(dptr);
	return r;
}

VGPU_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr) { return mem_free(dptr, NULL, 0, 0); }
VGPU_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) { return mem_free(dptr, hStream, 1, 0); }
VGPU_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) { return mem_free(dptr, hStream, 1, 1); }

VGPU_EXPORT CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!free || !total)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_rsp_mem_info rsp;
	r = vgpu_rpc(VGPU_OP_MEM_GET_INFO, c->id, NULL, 0, &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS) {
		*free = rsp.free;
		*total = rsp.total;
	}
	return r;
}

VGPU_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	CUdeviceptr base;
	size_t size;
	if (!vgpu_devmem_find(dptr, &base, &size, NULL, NULL))
		return CUDA_ERROR_NOT_FOUND;
	if (pbase)
		*pbase = base;
	if (psize)
		*psize = size;
	return CUDA_SUCCESS;
}

/* --- copies --- */

static CUresult htod(CUdeviceptr dst, const void *src, size_t n, CUstream h, int async, int per_thread)
{
	struct vgpu_ctx *c;
	struct vgpu_order o;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS && (r = vgpu_order_of(h, async, per_thread, c, &o)) == CUDA_SUCCESS)
		r = vgpu_copy_htod(c, dst, src, n, o);
	return r;
}

static CUresult dtoh(void *dst, CUdeviceptr src, size_t n, CUstream h, int async, int per_thread)
{
	struct vgpu_ctx *c;
	struct vgpu_order o;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS && (r = vgpu_order_of(h, async, per_thread, c, &o)) == CUDA_SUCCESS)
		r = vgpu_copy_dtoh(c, dst, src, n, o);
	return r;
}

static CUresult dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream h, int async, int per_thread)
{
	struct vgpu_ctx *c;
	struct vgpu_order o;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS && (r = vgpu_order_of(h, async, per_thread, c, &o)) == CUDA_SUCCESS)
		r = vgpu_copy_dtod(c, dst, src, n, o);
	return r;
}

VGPU_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { return htod(d, s, n, NULL, 0, 0); }
VGPU_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr d, const void *s, size_t n) { return htod(d, s, n, NULL, 0, 1); }
VGPU_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, CUstream h) { return htod(d, s, n, h, 1, 0); }
VGPU_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr d, const void *s, size_t n, CUstream h) { return htod(d, s, n, h, 1, 1); }
VGPU_EXPORT CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { return dtoh(d, s, n, NULL, 0, 0); }
VGPU_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *d, CUdeviceptr s, size_t n) { return dtoh(d, s, n, NULL, 0, 1); }
VGPU_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, CUstream h) { return dtoh(d, s, n, h, 1, 0); }
VGPU_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void *d, CUdeviceptr s, size_t n, CUstream h) { return dtoh(d, s, n, h, 1, 1); }
VGPU_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { return dtod(d, s, n, NULL, 0, 0); }
VGPU_EXPORT CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr d, CUdeviceptr s, size_t n) { return dtod(d, s, n, NULL, 0, 1); }
VGPU_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream h) { return dtod(d, s, n, h, 1, 0); }
VGPU_EXPORT CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream h) { return dtod(d, s, n, h, 1, 1); }

/* Unified addressing: the direction follows from what each pointer is. */
static int is_device(CUdeviceptr p)
{
	return vgpu_devmem_find(p, NULL, NULL, NULL, NULL);
}

static CUresult unified(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream h, int async, int per_thread)
{
	int dd = is_device(dst), sd = is_device(src);
	if (dd && sd)
		return dtod(dst, src, n, h, async, per_thread);
	if (dd)
		return htod(dst, (const void *)(uintptr_t)src, n, h, async, per_thread);
	if (sd)
		return dtoh((void *)(uintptr_t)dst, src, n, h, async, per_thread);
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	/* Host to host: ordered after the stream's work when asynchronous, as the driver orders it. */
	if (async) {
		struct vgpu_ctx *c;
		uint32_t id;
		if ((r = vgpu_need_ctx(&c)) != CUDA_SUCCESS || (r = vgpu_stream_id(h, per_thread, c, &id)) != CUDA_SUCCESS)
			return r;
		struct vgpu_req_handle req = { .id = id };
		if ((r = vgpu_rpc(VGPU_OP_STREAM_SYNC, c->id, &req, sizeof(req), NULL, 0)) != CUDA_SUCCESS)
			return r;
	}
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuMemcpy(CUdeviceptr d, CUdeviceptr s, size_t n) { return unified(d, s, n, NULL, 0, 0); }
VGPU_EXPORT CUresult cuMemcpy_ptds(CUdeviceptr d, CUdeviceptr s, size_t n) { return unified(d, s, n, NULL, 0, 1); }
VGPU_EXPORT CUresult cuMemcpyAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream h) { return unified(d, s, n, h, 1, 0); }
VGPU_EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream h) { return unified(d, s, n, h, 1, 1); }

/* --- memsets --- */

static CUresult memset_any(CUdeviceptr dst, uint32_t value, unsigned elem, size_t pitch, size_t width, size_t height,
			   CUstream h, int async, int per_thread)
{
	struct vgpu_ctx *c;
	struct vgpu_order o;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS && (r = vgpu_order_of(h, async, per_thread, c, &o)) == CUDA_SUCCESS)
		r = vgpu_memset(c, dst, value, elem, pitch, width, height, o);
	return r;
}

#define MEMSET_1D(name, type, elem, async, pt)                                                                          \
	VGPU_EXPORT CUresult name(CUdeviceptr d, type v, size_t n) { return memset_any(d, v, elem, 0, n, 1, NULL, async, pt); }
#define MEMSET_1D_ASYNC(name, type, elem, pt)                                                                           \
	VGPU_EXPORT CUresult name(CUdeviceptr d, type v, size_t n, CUstream h) { return memset_any(d, v, elem, 0, n, 1, h, 1, pt); }
#define MEMSET_2D(name, type, elem, pt)                                                                                 \
	VGPU_EXPORT CUresult name(CUdeviceptr d, size_t pitch, type v, size_t w, size_t h)                              \
	{                                                                                                                \
		return memset_any(d, v, elem, pitch, w, h, NULL, 0, pt);                                                 \
	}
#define MEMSET_2D_ASYNC(name, type, elem, pt)                                                                           \
	VGPU_EXPORT CUresult name(CUdeviceptr d, size_t pitch, type v, size_t w, size_t h, CUstream s)                  \
	{                                                                                                                \
		return memset_any(d, v, elem, pitch, w, h, s, 1, pt);                                                    \
	}

MEMSET_1D(cuMemsetD8_v2, unsigned char, 1, 0, 0)
MEMSET_1D(cuMemsetD8_v2_ptds, unsigned char, 1, 0, 1)
MEMSET_1D(cuMemsetD16_v2, unsigned short, 2, 0, 0)
MEMSET_1D(cuMemsetD16_v2_ptds, unsigned short, 2, 0, 1)
MEMSET_1D(cuMemsetD32_v2, unsigned int, 4, 0, 0)
MEMSET_1D(cuMemsetD32_v2_ptds, unsigned int, 4, 0, 1)
MEMSET_1D_ASYNC(cuMemsetD8Async, unsigned char, 1, 0)
MEMSET_1D_ASYNC(cuMemsetD8Async_ptsz, unsigned char, 1, 1)
MEMSET_1D_ASYNC(cuMemsetD16Async, unsigned short, 2, 0)
MEMSET_1D_ASYNC(cuMemsetD16Async_ptsz, unsigned short, 2, 1)
MEMSET_1D_ASYNC(cuMemsetD32Async, unsigned int, 4, 0)
MEMSET_1D_ASYNC(cuMemsetD32Async_ptsz, unsigned int, 4, 1)
MEMSET_2D(cuMemsetD2D8_v2, unsigned char, 1, 0)
MEMSET_2D(cuMemsetD2D8_v2_ptds, unsigned char, 1, 1)
MEMSET_2D(cuMemsetD2D16_v2, unsigned short, 2, 0)
MEMSET_2D(cuMemsetD2D16_v2_ptds, unsigned short, 2, 1)
MEMSET_2D(cuMemsetD2D32_v2, unsigned int, 4, 0)
MEMSET_2D(cuMemsetD2D32_v2_ptds, unsigned int, 4, 1)
MEMSET_2D_ASYNC(cuMemsetD2D8Async, unsigned char, 1, 0)
MEMSET_2D_ASYNC(cuMemsetD2D8Async_ptsz, unsigned char, 1, 1)
MEMSET_2D_ASYNC(cuMemsetD2D16Async, unsigned short, 2, 0)
MEMSET_2D_ASYNC(cuMemsetD2D16Async_ptsz, unsigned short, 2, 1)
MEMSET_2D_ASYNC(cuMemsetD2D32Async, unsigned int, 4, 0)
MEMSET_2D_ASYNC(cuMemsetD2D32Async_ptsz, unsigned int, 4, 1)
