/*
 * api_hostmem.c — page-locked host memory and pointer queries.
 *
 * cuMemHostAlloc gives the application a sealed memfd mapped here and in the
 * proxy, which registers it with the driver in the guest's context: copies
 * from and to it are DMA, asynchronous as CUDA promises, with no copy in the
 * guest.  Pointer attributes are answered from the guest's own tables.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api.h"

static uint32_t next_token = 1;

static CUresult host_alloc(void **pp, size_t bytes, unsigned flags)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!pp || bytes == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (flags & ~(unsigned)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED))
		return CUDA_ERROR_INVALID_VALUE;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = (bytes + page - 1) & ~(page - 1);
	int fd = vgpu_sealed_memfd("vgpu-hostmem", size);
	if (fd < 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	uint32_t token = __atomic_fetch_add(&next_token, 1, __ATOMIC_RELAXED);
	struct vgpu_req_hostmem_map req = { .bytes = size, .flags = flags, .token = token };
	struct vgpu_rsp_hostmem_map rsp;
	struct vgpu_part part = { &req, sizeof(req) };
	uint32_t seq;
	/* The descriptor goes on the socket and the request on the ring, in that order, under the send lock. */
	vgpu_call_begin(vgpu.ch);
	r = vgpu_tx_begin(vgpu.ch);
	if (r == CUDA_SUCCESS) {
		if (vgpu.ch->tp->ops->share_segment(vgpu.ch->tp, fd, token) < 0)
			r = CUDA_ERROR_OPERATING_SYSTEM;
		else
			r = vgpu_tx_push(vgpu.ch, VGPU_OP_HOSTMEM_MAP, VGPU_RF_REPLY, c->id, &part, 1, &seq);
		vgpu_tx_end(vgpu.ch);
		if (r == CUDA_SUCCESS)
			r = vgpu_call_wait(vgpu.ch, seq, &rsp, sizeof(rsp), NULL);
	}
	vgpu_call_end(vgpu.ch);
	if (r != CUDA_SUCCESS) {
		munmap(p, size);
		close(fd);
		return r;
	}
	struct vgpu_hostseg seg = { .host = p, .size = size, .id = rsp.id, .flags = flags, .device = rsp.device_ptr, .ctx = c, .fd = fd };
	if (!vgpu_hostseg_add(&seg)) {
		struct vgpu_req_handle un = { .id = rsp.id };
		vgpu_rpc(VGPU_OP_HOSTMEM_UNMAP, c->id, &un, sizeof(un), NULL, 0);
		munmap(p, size);
		close(fd);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*pp = p;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
	return host_alloc(pp, bytesize, Flags);
}

VGPU_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
	/* With unified addressing, cuMemAllocHost memory is portable and mapped. */
	return host_alloc(pp, bytesize, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP);
}

VGPU_EXPORT CUresult cuMemFreeHost(void *p)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_hostseg seg;
	if (!vgpu_hostseg_take(p, &seg))
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_handle req = { .id = seg.id };
	r = vgpu_rpc(VGPU_OP_HOSTMEM_UNMAP, vgpu_ctx_id(seg.ctx), &req, sizeof(req), NULL, 0);
	munmap(seg.host, seg.size);
	close(seg.fd);
	return r;
}

VGPU_EXPORT CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_hostseg seg;
	if (!pdptr || Flags != 0 || !vgpu_hostseg_find(p, 1, &seg) || !seg.device)
		return CUDA_ERROR_INVALID_VALUE;
	*pdptr = seg.device + (CUdeviceptr)((char *)p - (char *)seg.host);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_hostseg seg;
	if (!pFlags || !vgpu_hostseg_find(p, 1, &seg))
		return CUDA_ERROR_INVALID_VALUE;
	*pFlags = seg.flags;
	return CUDA_SUCCESS;
}

/* --- pointer attributes --- */

struct pointer_facts {
	int known;                 /* 0: not memory the driver knows */
	CUmemorytype type;
	struct vgpu_ctx *ctx;
	CUdeviceptr device;
	void *host;
	CUdeviceptr base;
	size_t size;
	unsigned long long buffer_id;
};

static void pointer_facts(CUdeviceptr ptr, struct pointer_facts *f)
{
	memset(f, 0, sizeof(*f));
	struct vgpu_hostseg seg;
	if (vgpu_devmem_find(ptr, &f->base, &f->size, &f->ctx, &f->buffer_id)) {
		f->known = 1;
		f->type = CU_MEMORYTYPE_DEVICE;
		f->device = ptr;
	} else if (vgpu_hostseg_find((void *)(uintptr_t)ptr, 1, &seg)) {
		f->known = 1;
		f->type = CU_MEMORYTYPE_HOST;
		f->ctx = seg.ctx;
		f->host = (void *)(uintptr_t)ptr;
		f->device = seg.device ? seg.device + (ptr - (CUdeviceptr)(uintptr_t)seg.host) : 0;
		f->base = (CUdeviceptr)(uintptr_t)seg.host;
		f->size = seg.size;
		f->buffer_id = 0x8000000000000000ull | seg.id;
	}
}

/* Writes one attribute; CUDA_ERROR_INVALID_VALUE when it does not apply to this pointer. */
static CUresult pointer_attribute(const struct pointer_facts *f, CUpointer_attribute a, void *data)
{
	switch (a) {
	case CU_POINTER_ATTRIBUTE_CONTEXT:
		*(CUcontext *)data = (CUcontext)f->ctx;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned int *)data = f->type;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
		if (!f->device)
			return CUDA_ERROR_INVALID_VALUE;
		*(CUdeviceptr *)data = f->device;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_HOST_POINTER:
		if (!f->host)
			return CUDA_ERROR_INVALID_VALUE;
		*(void **)data = f->host;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
	case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
	case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
		*(int *)data = 0;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_BUFFER_ID:
		*(unsigned long long *)data = f->buffer_id;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = 0;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
		*(CUdeviceptr *)data = f->base;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
		*(size_t *)data = f->size;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_MAPPED:
		*(int *)data = 1;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
		*(unsigned long long *)data = 0;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
		*(unsigned int *)data = CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
		*(CUmemoryPool *)data = NULL;
		return CUDA_SUCCESS;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
}

VGPU_EXPORT CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	struct pointer_facts f;
	pointer_facts(ptr, &f);
	if (!f.known)
		return CUDA_ERROR_INVALID_VALUE;
	return pointer_attribute(&f, attribute, data);
}

VGPU_EXPORT CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes, void **data, CUdeviceptr ptr)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!attributes || !data)
		return CUDA_ERROR_INVALID_VALUE;
	struct pointer_facts f;
	pointer_facts(ptr, &f);
	/* Unlike cuPointerGetAttribute, memory the driver does not know is no error: zero values. */
	for (unsigned i = 0; i < numAttributes; i++) {
		if (!data[i])
			continue;
		if (!f.known || pointer_attribute(&f, attributes[i], data[i]) != CUDA_SUCCESS) {
			struct pointer_facts none;
			memset(&none, 0, sizeof(none));
			pointer_attribute(&none, attributes[i], data[i]);
		}
	}
	return CUDA_SUCCESS;
}
