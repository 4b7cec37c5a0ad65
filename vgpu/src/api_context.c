/*
 * api_context.c — contexts.  Which context is current is the calling
 * thread's business alone (a stack per thread, here); every request carries
 * the id of the context it runs in.  The primary context's retain count and
 * state live here too: the proxy hears only the first retain and the last
 * release.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "context_storage.h"

static struct vgpu_ctx *ctx_new(const struct vgpu_rsp_ctx *rsp, CUdevice dev)
{
	struct vgpu_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->magic = VGPU_MAGIC_CTX;
	c->id = rsp->id;
	c->dev = dev;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static CUresult ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = vgpu_device_arg(dev)) != CUDA_SUCCESS)
		return r;
	struct vgpu_req_ctx_create req = { .device = dev, .flags = flags };
	struct vgpu_rsp_ctx rsp;
	r = vgpu_rpc(VGPU_OP_CTX_CREATE, 0, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_ctx *c = ctx_new(&rsp, dev);
	if (!c) {
		struct vgpu_req_handle d = { .id = rsp.id };
		vgpu_rpc(VGPU_OP_CTX_DESTROY, 0, &d, sizeof(d), NULL, 0);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (vgpu_ctx_push(c) < 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*pctx = (CUcontext)c;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return ctx_create(pctx, flags, dev);
}

VGPU_EXPORT CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return ctx_create(pctx, flags, dev);
}

VGPU_EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams, unsigned int flags, CUdevice dev)
{
	if (numParams > 0 || paramsArray)
		return vgpu_unsupported("cuCtxCreate_v3 with execution affinity");
	return ctx_create(pctx, flags, dev);
}

VGPU_EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev)
{
	if (params && (params->numExecAffinityParams > 0 || params->execAffinityParams || params->cigParams))
		return vgpu_unsupported("cuCtxCreate_v4 with execution affinity or CIG parameters");
	return ctx_create(pctx, flags, dev);
}

VGPU_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_ctx *c = (struct vgpu_ctx *)ctx;
	if (!c || c->magic != VGPU_MAGIC_CTX || c->is_primary)
		return CUDA_ERROR_INVALID_CONTEXT;
	struct vgpu_req_handle req = { .id = c->id };
	r = vgpu_rpc(VGPU_OP_CTX_DESTROY, 0, &req, sizeof(req), NULL, 0);
	if (r != CUDA_SUCCESS)
		return r;
	/* Context-local storage destructors: torn down but still current, as driver 580 runs them. */
	vgpu_cls_context_gone(ctx);
	vgpu_ctx_stack_forget(c);
	vgpu_devmem_drop_ctx(c);
	/* Other threads may still hold the handle: it stays allocated, marked dead. */
	c->magic = VGPU_MAGIC_DEAD;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxDestroy(CUcontext ctx)
{
	return cuCtxDestroy_v2(ctx);
}

VGPU_EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_ctx *c = (struct vgpu_ctx *)ctx;
	if (!c || c->magic != VGPU_MAGIC_CTX)
		return CUDA_ERROR_INVALID_CONTEXT;
	return vgpu_ctx_push(c) < 0 ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxPushCurrent(CUcontext ctx)
{
	return cuCtxPushCurrent_v2(ctx);
}

VGPU_EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_ctx *c = vgpu_ctx_pop();
	if (!c)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (pctx)
		*pctx = (CUcontext)c;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxPopCurrent(CUcontext *pctx)
{
	return cuCtxPopCurrent_v2(pctx);
}

VGPU_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_ctx *c = (struct vgpu_ctx *)ctx;
	if (c && c->magic != VGPU_MAGIC_CTX)
		return CUDA_ERROR_INVALID_CONTEXT;
	vgpu_ctx_set_top(c);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = (CUcontext)vgpu_current_ctx();
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxGetDevice(CUdevice *device)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	*device = c->dev;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_ctx_arg(ctx, &c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	*device = c->dev;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxSynchronize(void)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	return vgpu_rpc(VGPU_OP_CTX_SYNC, c->id, NULL, 0, NULL, 0);
}

VGPU_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_ctx_arg(ctx, &c);
	if (r != CUDA_SUCCESS)
		return r;
	return vgpu_rpc(VGPU_OP_CTX_SYNC, c->id, NULL, 0, NULL, 0);
}

/* Fetches the context's fixed facts once. */
static CUresult ctx_info(struct vgpu_ctx *c)
{
	if (__atomic_load_n(&c->info_fetched, __ATOMIC_ACQUIRE))
		return CUDA_SUCCESS;
	struct vgpu_rsp_ctx_info info;
	CUresult r = vgpu_rpc(VGPU_OP_CTX_INFO, c->id, NULL, 0, &info, sizeof(info));
	if (r != CUDA_SUCCESS)
		return r;
	pthread_mutex_lock(&c->lock);
	c->unique_id = info.ctx_unique_id;
	c->api_version = info.api_version;
	c->least_priority = info.least_priority;
	c->greatest_priority = info.greatest_priority;
	c->cache_config = (CUfunc_cache)info.cache_config;
	c->driver_flags = info.flags;
	__atomic_store_n(&c->info_fetched, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxGetFlags(unsigned int *flags)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	/* As the driver reports them: it adds flags of its own (CU_CTX_MAP_HOST) to those asked for. */
	if ((r = ctx_info(c)) == CUDA_SUCCESS)
		*flags = c->driver_flags;
	return r;
}

VGPU_EXPORT CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_ctx_arg(ctx, &c);
	if (r == CUDA_SUCCESS && !version)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS && (r = ctx_info(c)) == CUDA_SUCCESS)
		*version = c->api_version;
	return r;
}

VGPU_EXPORT CUresult cuCtxGetId(CUcontext ctx, unsigned long long *ctxId)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_ctx_arg(ctx, &c);
	if (r == CUDA_SUCCESS && !ctxId)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS && (r = ctx_info(c)) == CUDA_SUCCESS)
		*ctxId = c->unique_id;
	return r;
}

VGPU_EXPORT CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS && (r = ctx_info(c)) == CUDA_SUCCESS) {
		if (leastPriority)
			*leastPriority = c->least_priority;
		if (greatestPriority)
			*greatestPriority = c->greatest_priority;
	}
	return r;
}

VGPU_EXPORT CUresult cuCtxGetCacheConfig(CUfunc_cache *pconfig)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS && !pconfig)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS && (r = ctx_info(c)) == CUDA_SUCCESS)
		*pconfig = c->cache_config;
	return r;
}

VGPU_EXPORT CUresult cuCtxSetCacheConfig(CUfunc_cache config)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if ((r = ctx_info(c)) != CUDA_SUCCESS)
		return r;
	if (c->cache_config == config)
		return CUDA_SUCCESS;
	struct vgpu_req_u32 req = { .value = (uint32_t)config };
	r = vgpu_rpc(VGPU_OP_CTX_SET_CACHE_CONFIG, c->id, &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS)
		c->cache_config = config;
	return r;
}

VGPU_EXPORT CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!pvalue)
		return CUDA_ERROR_INVALID_VALUE;
	if ((unsigned)limit < VGPU_LIMIT_COUNT && (__atomic_load_n(&c->limits_known, __ATOMIC_ACQUIRE) & (1u << limit))) {
		*pvalue = c->limits[limit];
		return CUDA_SUCCESS;
	}
	struct vgpu_req_limit req = { .limit = (uint32_t)limit };
	struct vgpu_rsp_u64 rsp;
	r = vgpu_rpc(VGPU_OP_CTX_GET_LIMIT, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS)
		return r;
	*pvalue = rsp.value;
	if ((unsigned)limit < VGPU_LIMIT_COUNT) {
		pthread_mutex_lock(&c->lock);
		c->limits[limit] = rsp.value;
		__atomic_or_fetch(&c->limits_known, 1u << limit, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&c->lock);
	}
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuCtxSetLimit(CUlimit limit, size_t value)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_limit req = { .limit = (uint32_t)limit, .value = value };
	r = vgpu_rpc(VGPU_OP_CTX_SET_LIMIT, c->id, &req, sizeof(req), NULL, 0);
	/* The driver may round the value: forget it, so the next get asks. */
	if ((unsigned)limit < VGPU_LIMIT_COUNT)
		__atomic_and_fetch(&c->limits_known, ~(1u << limit), __ATOMIC_RELEASE);
	return r;
}

/* --- the primary context --- */

static void primary_set(const struct vgpu_rsp_ctx *rsp)
{
	struct vgpu_ctx *p = &vgpu.primary;
	p->id = rsp->id;
	p->flags = rsp->flags;
	p->info_fetched = 0;
	p->limits_known = 0;
	p->magic = VGPU_MAGIC_CTX;
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = vgpu_device_arg(dev)) != CUDA_SUCCESS)
		return r;
	pthread_mutex_lock(&vgpu.lock);
	if (vgpu.primary_retains == 0) {
		struct vgpu_req_device req = { .device = dev };
		struct vgpu_rsp_ctx rsp;
		r = vgpu_rpc(VGPU_OP_PRIMARY_RETAIN, 0, &req, sizeof(req), &rsp, sizeof(rsp));
		if (r == CUDA_SUCCESS) {
			primary_set(&rsp);
			vgpu.primary.dev = dev;
		}
	}
	if (r == CUDA_SUCCESS) {
		vgpu.primary_retains++;
		*pctx = (CUcontext)&vgpu.primary;
	}
	pthread_mutex_unlock(&vgpu.lock);
	return r;
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if ((r = vgpu_device_arg(dev)) != CUDA_SUCCESS)
		return r;
	int gone = 0;
	pthread_mutex_lock(&vgpu.lock);
	if (vgpu.primary_retains == 0)
		r = CUDA_ERROR_INVALID_CONTEXT;
	else if (--vgpu.primary_retains == 0) {
		struct vgpu_req_device req = { .device = dev };
		r = vgpu_rpc(VGPU_OP_PRIMARY_RELEASE, 0, &req, sizeof(req), NULL, 0);
		vgpu_devmem_drop_ctx(&vgpu.primary);
		vgpu.primary.id = 0; /* inactive: the handle stays, as the driver's does */
		gone = 1;
	}
	pthread_mutex_unlock(&vgpu.lock);
	/* Context-local storage destructors, outside the lock: they may call the driver. */
	if (gone)
		vgpu_cls_context_gone((CUcontext)&vgpu.primary);
	return r;
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return cuDevicePrimaryCtxRelease_v2(dev);
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = vgpu_device_arg(dev)) != CUDA_SUCCESS)
		return r;
	*flags = vgpu.primary.flags;
	*active = __atomic_load_n(&vgpu.primary_retains, __ATOMIC_RELAXED) > 0;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if ((r = vgpu_device_arg(dev)) != CUDA_SUCCESS)
		return r;
	struct vgpu_req_primary_flags req = { .device = dev, .flags = flags };
	pthread_mutex_lock(&vgpu.lock);
	r = vgpu_rpc(VGPU_OP_PRIMARY_SET_FLAGS, 0, &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS) {
		vgpu.primary.flags = flags;
		__atomic_store_n(&vgpu.primary.info_fetched, 0, __ATOMIC_RELEASE); /* its flags in effect changed */
	}
	pthread_mutex_unlock(&vgpu.lock);
	return r;
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags)
{
	return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if ((r = vgpu_device_arg(dev)) != CUDA_SUCCESS)
		return r;
	struct vgpu_req_device req = { .device = dev };
	struct vgpu_rsp_ctx rsp;
	pthread_mutex_lock(&vgpu.lock);
	r = vgpu_rpc(VGPU_OP_PRIMARY_RESET, 0, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS) {
		vgpu_devmem_drop_ctx(&vgpu.primary);
		primary_set(&rsp);
	}
	pthread_mutex_unlock(&vgpu.lock);
	/* Context-local storage destructors, outside the lock: they may call the driver. */
	if (r == CUDA_SUCCESS)
		vgpu_cls_context_gone((CUcontext)&vgpu.primary);
	return r;
}

VGPU_EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	return cuDevicePrimaryCtxReset_v2(dev);
}
