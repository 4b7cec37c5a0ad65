/*
 * api_vmm.c — the virtual-memory management API (cuMemCreate, cuMemMap,
 * cuMemAddressReserve, ...), as JAX, NCCL and PyTorch's expandable segments
 * use it.
 *
 * Everything is remoted: the proxy makes the real allocations, reservations
 * and mappings, counts physical memory against the guest's quota, and hands
 * out ids as the CUmemGenericAllocationHandle values the application sees.
 * The guest remembers mapped ranges only (so copies know their direction and
 * pointer queries are answered here).
 *
 * Sharing: cuMemExportToShareableHandle (POSIX file descriptor) gives a small
 * memfd naming the handle for this process's channel; cuMemImportFromShareableHandle
 * takes it back in the same process.  A descriptor from another process names
 * an allocation of another proxy session, which this one cannot reach: refused
 * as unsupported.
 */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "channel/transport.h"

#define EXPORT_MAGIC 0x584d4d56u /* "VMMX" */

/* What an exported descriptor holds. */
struct export_token {
	uint32_t magic;
	uint32_t handle;      /* the proxy's id */
	uint32_t guest_id;    /* the channel it belongs to (vgpu.guest_id) */
	int32_t  pid;
};

/* A call in the current context when there is one (the driver needs none for these). */
static CUresult vmm_call(uint16_t op, const void *req, size_t len, void *rsp, size_t cap)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	return vgpu_rpc(op, vgpu_ctx_id(vgpu_current_ctx()), req, len, rsp, cap);
}

/* The id behind an application's handle value; 0 for a value no id can be. */
static uint32_t handle_id(CUmemGenericAllocationHandle h)
{
	return h >= VGPU_FIRST_ID && h <= 0xffffffffu ? (uint32_t)h : 0;
}

static CUresult prop_to_wire(const CUmemAllocationProp *p, struct vgpu_vmm_prop *w)
{
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if (p->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return vgpu_unsupported("virtual-memory allocations located on the host (CU_MEM_LOCATION_TYPE_HOST*)");
	if (p->win32HandleMetaData)
		return CUDA_ERROR_INVALID_VALUE;
	*w = (struct vgpu_vmm_prop){
		.type = (uint32_t)p->type,
		.handle_types = (uint32_t)p->requestedHandleTypes,
		.location_type = (uint32_t)p->location.type,
		.location_id = p->location.id,
		.compression_type = p->allocFlags.compressionType,
		.gpu_direct_rdma_capable = p->allocFlags.gpuDirectRDMACapable,
		.usage = p->allocFlags.usage,
	};
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop, CUmemAllocationGranularity_flags option)
{
	if (!granularity)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_vmm_granularity req = { .option = (uint32_t)option };
	CUresult r = prop_to_wire(prop, &req.prop);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_rsp_u64 rsp;
	if ((r = vmm_call(VGPU_OP_VMM_GRANULARITY, &req, sizeof(req), &rsp, sizeof(rsp))) == CUDA_SUCCESS)
		*granularity = (size_t)rsp.value;
	return r;
}

VGPU_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop, unsigned long long flags)
{
	if (!handle)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_vmm_create req = { .bytes = size, .flags = flags };
	CUresult r = prop_to_wire(prop, &req.prop);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_rsp_handle rsp;
	if ((r = vmm_call(VGPU_OP_VMM_CREATE, &req, sizeof(req), &rsp, sizeof(rsp))) == CUDA_SUCCESS)
		*handle = rsp.id;
	return r;
}

VGPU_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	struct vgpu_req_handle req = { .id = handle_id(handle) };
	return vmm_call(VGPU_OP_VMM_RELEASE, &req, sizeof(req), NULL, 0);
}

VGPU_EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr, unsigned long long flags)
{
	if (!ptr)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_vmm_reserve req = { .bytes = size, .alignment = alignment, .addr = addr, .flags = flags };
	struct vgpu_rsp_u64 rsp;
	CUresult r = vmm_call(VGPU_OP_VMM_RESERVE, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		*ptr = rsp.value;
	return r;
}

VGPU_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	struct vgpu_req_vmm_range req = { .ptr = ptr, .bytes = size };
	return vmm_call(VGPU_OP_VMM_FREE, &req, sizeof(req), NULL, 0);
}

VGPU_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle, unsigned long long flags)
{
	struct vgpu_req_vmm_map req = { .ptr = ptr, .bytes = size, .offset = offset, .flags = flags, .handle = handle_id(handle) };
	CUresult r = vmm_call(VGPU_OP_VMM_MAP, &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS)
		vgpu_devmem_add(ptr, size, NULL, VGPU_DEVMEM_VMM);
	return r;
}

VGPU_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	struct vgpu_req_vmm_range req = { .ptr = ptr, .bytes = size };
	CUresult r = vmm_call(VGPU_OP_VMM_UNMAP, &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS)
		vgpu_devmem_remove_range(ptr, size);
	return r;
}

VGPU_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
	if (!desc || count == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (count > VGPU_VMM_ACCESS_MAX)
		return vgpu_unsupported("cuMemSetAccess with more than 64 descriptors");
	struct vgpu_req_vmm_range req = { .ptr = ptr, .bytes = size, .count = (uint32_t)count };
	struct vgpu_vmm_access access[VGPU_VMM_ACCESS_MAX];
	for (size_t i = 0; i < count; i++) {
		if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE)
			return vgpu_unsupported("cuMemSetAccess for a host location");
		access[i] = (struct vgpu_vmm_access){ .location_type = (uint32_t)desc[i].location.type, .location_id = desc[i].location.id,
						      .flags = (uint32_t)desc[i].flags };
	}
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_part parts[2] = { { &req, sizeof(req) }, { access, sizeof(access[0]) * count } };
	return vgpu_call(vgpu.ch, VGPU_OP_VMM_SET_ACCESS, vgpu_ctx_id(vgpu_current_ctx()), parts, 2, NULL, 0, NULL);
}

VGPU_EXPORT CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr)
{
	if (!flags || !location)
		return CUDA_ERROR_INVALID_VALUE;
	if (location->type != CU_MEM_LOCATION_TYPE_DEVICE)
		return vgpu_unsupported("cuMemGetAccess for a host location");
	struct vgpu_req_vmm_get_access req = { .ptr = ptr, .location_type = (uint32_t)location->type, .location_id = location->id };
	struct vgpu_rsp_u64 rsp;
	CUresult r = vmm_call(VGPU_OP_VMM_GET_ACCESS, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		*flags = rsp.value;
	return r;
}

VGPU_EXPORT CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop, CUmemGenericAllocationHandle handle)
{
	if (!prop)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_handle req = { .id = handle_id(handle) };
	struct vgpu_vmm_prop w;
	CUresult r = vmm_call(VGPU_OP_VMM_PROPERTIES, &req, sizeof(req), &w, sizeof(w));
	if (r != CUDA_SUCCESS)
		return r;
	memset(prop, 0, sizeof(*prop));
	prop->type = (CUmemAllocationType)w.type;
	prop->requestedHandleTypes = (CUmemAllocationHandleType)w.handle_types;
	prop->location.type = (CUmemLocationType)w.location_type;
	prop->location.id = w.location_id;
	prop->allocFlags.compressionType = w.compression_type;
	prop->allocFlags.gpuDirectRDMACapable = w.gpu_direct_rdma_capable;
	prop->allocFlags.usage = w.usage;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr)
{
	if (!handle)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_vmm_range req = { .ptr = (CUdeviceptr)(uintptr_t)addr };
	struct vgpu_rsp_handle rsp;
	CUresult r = vmm_call(VGPU_OP_VMM_RETAIN, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		*handle = rsp.id;
	return r;
}

VGPU_EXPORT CUresult cuMemExportToShareableHandle(void *shareableHandle, CUmemGenericAllocationHandle handle, CUmemAllocationHandleType handleType,
						  unsigned long long flags)
{
	if (!shareableHandle)
		return CUDA_ERROR_INVALID_VALUE;
	if (handleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
		return vgpu_unsupported("cuMemExportToShareableHandle to a handle type other than a POSIX file descriptor");
	struct vgpu_req_vmm_share req = { .handle = handle_id(handle), .handle_type = (uint32_t)handleType, .flags = flags };
	CUresult r = vmm_call(VGPU_OP_VMM_EXPORT, &req, sizeof(req), NULL, 0);
	if (r != CUDA_SUCCESS)
		return r;
	struct export_token token = { .magic = EXPORT_MAGIC, .handle = req.handle, .guest_id = vgpu.guest_id, .pid = (int32_t)getpid() };
	int fd = vgpu_sealed_memfd("vgpu-vmm-export", sizeof(token));
	if (fd < 0)
		return CUDA_ERROR_OPERATING_SYSTEM;
	if (pwrite(fd, &token, sizeof(token), 0) != (ssize_t)sizeof(token)) {
		close(fd);
		return CUDA_ERROR_OPERATING_SYSTEM;
	}
	*(int *)shareableHandle = fd;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *osHandle, CUmemAllocationHandleType shHandleType)
{
	if (!handle)
		return CUDA_ERROR_INVALID_VALUE;
	if (shHandleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
		return vgpu_unsupported("cuMemImportFromShareableHandle of a handle type other than a POSIX file descriptor");
	int fd = (int)(intptr_t)osHandle;
	struct export_token token;
	if (pread(fd, &token, sizeof(token), 0) != (ssize_t)sizeof(token) || token.magic != EXPORT_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	if (token.guest_id != vgpu.guest_id || token.pid != (int32_t)getpid())
		return vgpu_unsupported("cuMemImportFromShareableHandle of memory another process exported");
	struct vgpu_req_vmm_share req = { .handle = token.handle, .handle_type = (uint32_t)shHandleType };
	struct vgpu_rsp_handle rsp;
	CUresult r = vmm_call(VGPU_OP_VMM_IMPORT, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		*handle = rsp.id;
	return r;
}
