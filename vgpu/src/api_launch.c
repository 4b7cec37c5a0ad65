/*
 * api_launch.c — kernel launches and occupancy.
 *
 * A launch is sent without waiting: its errors surface at the next
 * synchronising call, as the driver's own asynchronous errors do.  What
 * points at memory goes by value: kernel parameters are packed at the
 * offsets cuFuncGetParamInfo gave, launch attributes are copied, and the
 * event handles inside them become wire ids.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "module.h"

#define MAX_PARAM_BYTES VGPU_MAX_PARAM_BYTES
#define MAX_LAUNCH_ATTRS 32

struct launch {
	struct vgpu_req_launch req;
	struct vgpu_launch_attr attrs[MAX_LAUNCH_ATTRS];
	uint8_t params[MAX_PARAM_BYTES];
};

/* Resolves f (a function, or a kernel cast to one) to its wire id and parameter layout. */
static CUresult target(CUfunction f, struct vgpu_ctx *c, struct vgpu_req_launch *req, const struct vgpu_param_layout **layout,
		       const int32_t **attrs)
{
	struct vgpu_func *fn;
	struct vgpu_kernel *k;
	CUresult r = vgpu_func_arg(f, &fn, &k);
	if (r != CUDA_SUCCESS)
		return r;
	if (fn) {
		req->func = fn->id;
		*layout = &fn->layout;
		*attrs = fn->attrs;
		return CUDA_SUCCESS;
	}
	req->func = k->id;
	req->launch_flags |= VGPU_LAUNCH_KERNEL_HANDLE;
	*attrs = k->attrs_fetched ? k->attrs : NULL;
	return vgpu_kernel_layout(k, c, layout);
}

/* Packs kernelParams (or the `extra` buffer) into params; their length into req->param_bytes. */
static CUresult pack_params(struct vgpu_req_launch *req, uint8_t *params, const struct vgpu_param_layout *layout, void **kernelParams,
			   void **extra)
{
	if (extra) {
		if (kernelParams)
			return CUDA_ERROR_INVALID_VALUE;
		const void *buf = NULL;
		size_t size = 0;
		int has_size = 0;
		for (int i = 0; i < 64 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
			if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				buf = extra[i + 1];
			else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) {
				size = *(const size_t *)extra[i + 1];
				has_size = 1;
			} else
				return CUDA_ERROR_INVALID_VALUE;
		}
		if (!has_size || (size && !buf) || size > MAX_PARAM_BYTES)
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(params, buf, size);
		req->param_bytes = (uint32_t)size;
		return CUDA_SUCCESS;
	}
	if (layout->result != CUDA_SUCCESS) {
		VGPU_WARN("event=launch_refused reason=\"the driver gave no parameter layout for this kernel (cuFuncGetParamInfo returned %u); launch it with CU_LAUNCH_PARAM_BUFFER_POINTER in `extra`\"",
			  layout->result);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (layout->count && !kernelParams)
		return CUDA_ERROR_INVALID_VALUE;
	if (layout->total > MAX_PARAM_BYTES)
		return CUDA_ERROR_INVALID_VALUE;
	memset(params, 0, layout->total);
	for (uint32_t i = 0; i < layout->count; i++) {
		const struct vgpu_param_info *p = &layout->params[i];
		if (!kernelParams[i])
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(params + p->offset, kernelParams[i], p->size);
	}
	req->param_bytes = layout->total;
	return CUDA_SUCCESS;
}

/* Copies launch attributes by value; event handles become wire ids. */
static CUresult pack_attrs(struct launch *l, const CUlaunchAttribute *attrs, unsigned n)
{
	if (n > MAX_LAUNCH_ATTRS || (n && !attrs))
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < n; i++) {
		struct vgpu_launch_attr *w = &l->attrs[i];
		memset(w, 0, sizeof(*w));
		w->id = (uint32_t)attrs[i].id;
		memcpy(w->value, &attrs[i].value, sizeof(w->value));
		if (attrs[i].id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT || attrs[i].id == CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT) {
			struct vgpu_event *e;
			CUevent h;
			memcpy(&h, &attrs[i].value, sizeof(h));
			CUresult r = vgpu_event_arg(h, &e);
			if (r != CUDA_SUCCESS)
				return r;
			memset(w->value, 0, sizeof(h));
			memcpy(w->value, &e->id, sizeof(e->id));
		}
	}
	l->req.attr_count = n;
	return CUDA_SUCCESS;
}

static CUresult check_dims(const struct vgpu_req_launch *q, const int32_t *attrs)
{
	if (!q->grid[0] || !q->grid[1] || !q->grid[2] || !q->block[0] || !q->block[1] || !q->block[2])
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t threads = (uint64_t)q->block[0] * q->block[1] * q->block[2];
	if (attrs && attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK] > 0 && threads > (uint64_t)attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK])
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

/* The function, grid, block, shared memory and packed arguments of a launch request. */
static CUresult kernel_request(struct vgpu_req_launch *req, uint8_t *params, CUfunction f, struct vgpu_ctx *c, const unsigned grid[3],
			       const unsigned block[3], unsigned shmem, void **kernelParams, void **extra)
{
	const struct vgpu_param_layout *layout = NULL;
	const int32_t *fattrs = NULL;
	memset(req, 0, sizeof(*req));
	CUresult r = target(f, c, req, &layout, &fattrs);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(req->grid, grid, sizeof(req->grid));
	memcpy(req->block, block, sizeof(req->block));
	req->shared_mem = shmem;
	if ((r = check_dims(req, fattrs)) != CUDA_SUCCESS)
		return r;
	return pack_params(req, params, layout, kernelParams, extra);
}

static CUresult launch(CUfunction f, const unsigned grid[3], const unsigned block[3], unsigned shmem, CUstream stream,
		       void **kernelParams, void **extra, const CUlaunchAttribute *attrs, unsigned nattrs, int ex, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	struct launch l;
	if ((r = kernel_request(&l.req, l.params, f, c, grid, block, shmem, kernelParams, extra)) != CUDA_SUCCESS)
		return r;
	if ((r = vgpu_stream_id(stream, per_thread, c, &l.req.stream)) != CUDA_SUCCESS)
		return r;
	if (ex) {
		l.req.launch_flags |= VGPU_LAUNCH_EX;
		if ((r = pack_attrs(&l, attrs, nattrs)) != CUDA_SUCCESS)
			return r;
	}
	struct vgpu_part parts[3] = {
		{ &l.req, sizeof(l.req) },
		{ l.attrs, sizeof(l.attrs[0]) * l.req.attr_count },
		{ l.params, l.req.param_bytes },
	};
	return vgpu_send(vgpu.ch, VGPU_OP_LAUNCH, c->id, parts, 3);
}

CUresult vgpu_kernel_call(struct vgpu_kernel_call *k, CUfunction f, struct vgpu_ctx *c, const unsigned grid[3], const unsigned block[3],
			  unsigned shmem, void **kernelParams, void **extra)
{
	return kernel_request(&k->req, k->params, f, c, grid, block, shmem, kernelParams, extra);
}

VGPU_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
				    unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
				    unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
{
	const unsigned g[3] = { gridDimX, gridDimY, gridDimZ }, b[3] = { blockDimX, blockDimY, blockDimZ };
	return launch(f, g, b, sharedMemBytes, hStream, kernelParams, extra, NULL, 0, 0, 0);
}

VGPU_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
					 unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
					 unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
{
	const unsigned g[3] = { gridDimX, gridDimY, gridDimZ }, b[3] = { blockDimX, blockDimY, blockDimZ };
	return launch(f, g, b, sharedMemBytes, hStream, kernelParams, extra, NULL, 0, 0, 1);
}

static CUresult launch_ex(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra, int per_thread)
{
	if (!config)
		return CUDA_ERROR_INVALID_VALUE;
	const unsigned g[3] = { config->gridDimX, config->gridDimY, config->gridDimZ };
	const unsigned b[3] = { config->blockDimX, config->blockDimY, config->blockDimZ };
	return launch(f, g, b, config->sharedMemBytes, config->hStream, kernelParams, extra, config->attrs, config->numAttrs, 1, per_thread);
}

VGPU_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
	return launch_ex(config, f, kernelParams, extra, 0);
}

VGPU_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
	return launch_ex(config, f, kernelParams, extra, 1);
}

static CUresult cooperative(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
			    unsigned shmem, CUstream s, void **kernelParams, int per_thread)
{
	CUlaunchAttribute attr;
	memset(&attr, 0, sizeof(attr));
	attr.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
	attr.value.cooperative = 1;
	const unsigned g[3] = { gx, gy, gz }, b[3] = { bx, by, bz };
	return launch(f, g, b, shmem, s, kernelParams, NULL, &attr, 1, 1, per_thread);
}

VGPU_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
					       unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
					       unsigned int sharedMemBytes, CUstream hStream, void **kernelParams)
{
	return cooperative(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, kernelParams, 0);
}

VGPU_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
						    unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
						    unsigned int sharedMemBytes, CUstream hStream, void **kernelParams)
{
	return cooperative(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, kernelParams, 1);
}

/* --- occupancy --- */

/* The function id in the current context, for occupancy questions (kernels resolve to their function). */
static CUresult occupancy_func(CUfunction f, struct vgpu_ctx **c, struct vgpu_func **out)
{
	struct vgpu_kernel *k;
	CUresult r = vgpu_need_ctx(c);
	if (r == CUDA_SUCCESS)
		r = vgpu_func_arg(f, out, &k);
	if (r == CUDA_SUCCESS && k)
		r = vgpu_kernel_function(k, *c, out);
	return r;
}

/* Answers are fixed for a function and its arguments: cached, direct-mapped. */
#define OCC_CACHE 512
struct occ_entry {
	const struct vgpu_func *f;
	int block;
	size_t dsmem;
	unsigned flags;
	int blocks;
};
static struct occ_entry occ_cache[OCC_CACHE];
static pthread_mutex_t occ_lock = PTHREAD_MUTEX_INITIALIZER;

static CUresult max_blocks(struct vgpu_ctx *c, const struct vgpu_func *f, int block, size_t dsmem, unsigned flags, int *blocks)
{
	size_t h = (((uintptr_t)f >> 4) * 31 + (size_t)block * 7 + dsmem * 13 + flags) % OCC_CACHE;
	pthread_mutex_lock(&occ_lock);
	struct occ_entry e = occ_cache[h];
	pthread_mutex_unlock(&occ_lock);
	if (e.f == f && e.block == block && e.dsmem == dsmem && e.flags == flags) {
		*blocks = e.blocks;
		return CUDA_SUCCESS;
	}
	struct vgpu_req_occupancy req = { .func = f->id, .flags = flags, .block_size = block, .dynamic_smem = dsmem };
	struct vgpu_rsp_u64 rsp;
	CUresult r = vgpu_rpc(VGPU_OP_OCC_MAX_BLOCKS, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS)
		return r;
	*blocks = (int)rsp.value;
	pthread_mutex_lock(&occ_lock);
	occ_cache[h] = (struct occ_entry){ f, block, dsmem, flags, *blocks };
	pthread_mutex_unlock(&occ_lock);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func, int blockSize,
									  size_t dynamicSMemSize, unsigned int flags)
{
	struct vgpu_ctx *c;
	struct vgpu_func *f;
	CUresult r = occupancy_func(func, &c, &f);
	if (r != CUDA_SUCCESS)
		return r;
	if (!numBlocks)
		return CUDA_ERROR_INVALID_VALUE;
	return max_blocks(c, f, blockSize, dynamicSMemSize, flags, numBlocks);
}

VGPU_EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize, size_t dynamicSMemSize)
{
	return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, func, blockSize, dynamicSMemSize, 0);
}

VGPU_EXPORT CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dynamicSmemSize, CUfunction func, int numBlocks, int blockSize)
{
	struct vgpu_ctx *c;
	struct vgpu_func *f;
	CUresult r = occupancy_func(func, &c, &f);
	if (r != CUDA_SUCCESS)
		return r;
	if (!dynamicSmemSize)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_occupancy req = { .func = f->id, .block_size = blockSize, .num_blocks = numBlocks };
	struct vgpu_rsp_u64 rsp;
	r = vgpu_rpc(VGPU_OP_OCC_DSMEM, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		*dynamicSmemSize = rsp.value;
	return r;
}

/*
 * The block size with the most resident threads per multiprocessor, as the
 * CUDA occupancy calculator picks it: the application's callback (which may
 * only run here, in the guest) gives the shared memory of each size.
 */
static CUresult potential_block_size(int *minGridSize, int *blockSize, CUfunction func, CUoccupancyB2DSize b2d, size_t dsmem,
				     int limit, unsigned flags)
{
	struct vgpu_ctx *c;
	struct vgpu_func *f;
	CUresult r = occupancy_func(func, &c, &f);
	if (r != CUDA_SUCCESS)
		return r;
	if (!minGridSize || !blockSize)
		return CUDA_ERROR_INVALID_VALUE;
	int warp = vgpu.dev.attrs[CU_DEVICE_ATTRIBUTE_WARP_SIZE];
	int sms = vgpu.dev.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
	int max = f->attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
	if (warp <= 0 || sms <= 0 || max <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (limit > 0 && limit < max)
		max = limit;
	int best_block = 0, best_threads = -1, best_blocks = 0;
	for (int bs = (max / warp) * warp; bs > 0; bs -= warp) {
		size_t smem = b2d ? b2d(bs) : dsmem;
		int blocks;
		if ((r = max_blocks(c, f, bs, smem, flags, &blocks)) != CUDA_SUCCESS)
			return r;
		if (blocks * bs > best_threads) {
			best_threads = blocks * bs;
			best_block = bs;
			best_blocks = blocks;
		}
	}
	*blockSize = best_block;
	*minGridSize = best_blocks * sms;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
						      CUoccupancyB2DSize blockSizeToDynamicSMemSize, size_t dynamicSMemSize,
						      int blockSizeLimit)
{
	return potential_block_size(minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize, blockSizeLimit, 0);
}

VGPU_EXPORT CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize, CUfunction func,
							       CUoccupancyB2DSize blockSizeToDynamicSMemSize, size_t dynamicSMemSize,
							       int blockSizeLimit, unsigned int flags)
{
	return potential_block_size(minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize, blockSizeLimit, flags);
}

static CUresult cluster_query(uint16_t op, int *out, CUfunction func, const CUlaunchConfig *config)
{
	struct vgpu_ctx *c;
	struct vgpu_func *f;
	CUresult r = occupancy_func(func, &c, &f);
	if (r != CUDA_SUCCESS)
		return r;
	if (!out || !config)
		return CUDA_ERROR_INVALID_VALUE;
	struct launch *l = malloc(sizeof(*l));
	if (!l)
		return CUDA_ERROR_OUT_OF_MEMORY;
	memset(&l->req, 0, sizeof(l->req));
	l->req.func = f->id;
	l->req.launch_flags = VGPU_LAUNCH_EX;
	const unsigned dims[6] = { config->gridDimX, config->gridDimY, config->gridDimZ, config->blockDimX, config->blockDimY, config->blockDimZ };
	memcpy(l->req.grid, dims, sizeof(l->req.grid));
	memcpy(l->req.block, dims + 3, sizeof(l->req.block));
	l->req.shared_mem = config->sharedMemBytes;
	if ((r = vgpu_stream_id(config->hStream, 0, c, &l->req.stream)) == CUDA_SUCCESS &&
	    (r = pack_attrs(l, config->attrs, config->numAttrs)) == CUDA_SUCCESS) {
		struct vgpu_part parts[2] = { { &l->req, sizeof(l->req) }, { l->attrs, sizeof(l->attrs[0]) * l->req.attr_count } };
		struct vgpu_rsp_u64 rsp;
		r = vgpu_call(vgpu.ch, op, c->id, parts, 2, &rsp, sizeof(rsp), NULL);
		if (r == CUDA_SUCCESS)
			*out = (int)rsp.value;
	}
	free(l);
	return r;
}

VGPU_EXPORT CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func, const CUlaunchConfig *config)
{
	return cluster_query(VGPU_OP_OCC_MAX_CLUSTERS, numClusters, func, config);
}

VGPU_EXPORT CUresult cuOccupancyMaxPotentialClusterSize(int *clusterSize, CUfunction func, const CUlaunchConfig *config)
{
	return cluster_query(VGPU_OP_OCC_CLUSTER_SIZE, clusterSize, func, config);
}
