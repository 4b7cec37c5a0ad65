/*
 * module_private.h — what the files of module/ share: loading an image
 * (image_load.c), a module or a function made from the proxy's answer, a
 * request naming a symbol, and the answers functions and kernels give alike.
 * (module.h is what the launch code needs of kernels.)
 */
#ifndef VGPU_MODULE_PRIVATE_H
#define VGPU_MODULE_PRIVATE_H

#include "api.h"

/*
 * Sends an image and loads it as a module (op VGPU_OP_MODULE_LOAD) or a
 * library (VGPU_OP_LIBRARY_LOAD); *id is the new handle id.  JIT options that
 * write back (sizes, times, logs) are written back.
 */
CUresult vgpu_load_image(uint16_t op, uint32_t ctx, const void *image, unsigned njit, CUjit_option *jit_options,
			 void **jit_values, unsigned nlib, CUlibraryOption *lib_options, uint32_t *id);
/* A file's bytes, NUL-terminated (a PTX file becomes a C string), to free; NULL and *r when it cannot be read. */
void *vgpu_read_file(const char *path, CUresult *r);

/* api_module.c */
struct vgpu_module *vgpu_module_new(uint32_t id, struct vgpu_ctx *ctx);
/* A request naming a symbol of a module or library. */
CUresult vgpu_symbol_call(uint16_t op, uint32_t ctx, uint32_t owner, const char *name, void *rsp, size_t cap, size_t *len);
/* The answer to a get-global call: writes what was asked and records the global's range. */
CUresult vgpu_global_answer(CUresult r, const struct vgpu_rsp_global *g, struct vgpu_ctx *c, CUdeviceptr *dptr, size_t *bytes);

/* api_function.c */
/* Builds a function from a vgpu_rsp_func_info answer; NULL when malformed or out of memory. */
struct vgpu_func *vgpu_func_from(const uint8_t *rsp, size_t len, struct vgpu_ctx *ctx, const char *name);
/* Attributes a set may change; kept in sync with what the driver now holds. */
int vgpu_attr_settable(CUfunction_attribute a);
/* cuFuncGetParamInfo's and cuKernelGetParamInfo's answer from a layout. */
CUresult vgpu_layout_param(const struct vgpu_param_layout *l, size_t index, size_t *offset, size_t *size);

#endif
