/*
 * module.h — what the launch code needs of kernels: their function in a
 * context and their parameter layout (fetched once).
 */
#ifndef VGPU_MODULE_H
#define VGPU_MODULE_H

#include "api.h"

CUresult vgpu_kernel_function(struct vgpu_kernel *k, struct vgpu_ctx *c, struct vgpu_func **out);
CUresult vgpu_kernel_layout(struct vgpu_kernel *k, struct vgpu_ctx *c, const struct vgpu_param_layout **out);

#endif
