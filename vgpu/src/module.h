/*
 * module.h — what the launch code needs of kernels: their function in a
 * context and their parameter layout (fetched once).
 */
#ifndef VGPU_MODULE_H
#define VGPU_MODULE_H

#include "api.h"

CUresult vgpu_kernel_function(struct vgpu_kernel *k, struct vgpu_ctx *c, struct vgpu_func **out);
CUresult vgpu_kernel_layout(struct vgpu_kernel *k, struct vgpu_ctx *c, const struct vgpu_param_layout **out);

#define VGPU_MAX_PARAM_BYTES 32764

/* A kernel, its grid, block, shared memory and packed arguments: a launch request without stream or attributes. */
struct vgpu_kernel_call {
	struct vgpu_req_launch req;
	uint8_t params[VGPU_MAX_PARAM_BYTES];
};
/* Fills k as cuLaunchKernel would send it (graph kernel nodes); f may be a CUkernel cast to a function. */
CUresult vgpu_kernel_call(struct vgpu_kernel_call *k, CUfunction f, struct vgpu_ctx *c, const unsigned grid[3], const unsigned block[3],
			  unsigned shmem, void **kernelParams, void **extra);

#endif
