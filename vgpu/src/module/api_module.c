/*
 * api_module.c — modules (cuModule*): loading one, its functions and its
 * globals.  A function's attributes and parameter layout come with it and
 * are answered locally after (api_function.c).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "module_private.h"

struct vgpu_module *vgpu_module_new(uint32_t id, struct vgpu_ctx *ctx)
{
	struct vgpu_module *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->magic = VGPU_MAGIC_MODULE;
	m->id = id;
	m->ctx = ctx;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

VGPU_EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions, CUjit_option *options, void **optionValues)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!module)
		return CUDA_ERROR_INVALID_VALUE;
	uint32_t id = 0;
	r = vgpu_load_image(VGPU_OP_MODULE_LOAD, c->id, image, numOptions, options, optionValues, 0, NULL, &id);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_module *m = vgpu_module_new(id, c);
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*module = (CUmodule)m;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	return cuModuleLoadDataEx(module, image, 0, NULL, NULL);
}

VGPU_EXPORT CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
	return cuModuleLoadDataEx(module, fatCubin, 0, NULL, NULL);
}

VGPU_EXPORT CUresult cuModuleLoad(CUmodule *module, const char *fname)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!fname)
		return CUDA_ERROR_INVALID_VALUE;
	void *image = vgpu_read_file(fname, &r);
	if (!image)
		return r;
	r = cuModuleLoadDataEx(module, image, 0, NULL, NULL);
	free(image);
	return r;
}

static CUresult module_arg(CUmodule h, struct vgpu_module **out)
{
	*out = vgpu_object(h, VGPU_MAGIC_MODULE);
	return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

VGPU_EXPORT CUresult cuModuleUnload(CUmodule hmod)
{
	struct vgpu_ctx *c;
	struct vgpu_module *m;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = module_arg(hmod, &m);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_handle req = { .id = m->id };
	r = vgpu_rpc(VGPU_OP_MODULE_UNLOAD, vgpu_ctx_id(m->ctx ? m->ctx : c), &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS) {
		m->magic = VGPU_MAGIC_DEAD;
		for (struct vgpu_func *f = m->funcs; f; f = f->next)
			f->magic = VGPU_MAGIC_DEAD;
	}
	return r;
}

/* A request naming a symbol of a module or library. */
CUresult vgpu_symbol_call(uint16_t op, uint32_t ctx, uint32_t owner, const char *name, void *rsp, size_t cap, size_t *len)
{
	size_t n = strlen(name);
	if (n == 0 || n > 4096)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_symbol req = { .owner = owner, .name_len = (uint32_t)n };
	struct vgpu_part parts[2] = { { &req, sizeof(req) }, { name, n } };
	return vgpu_call(vgpu.ch, op, ctx, parts, 2, rsp, cap, len);
}

VGPU_EXPORT CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	struct vgpu_ctx *c;
	struct vgpu_module *m;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = module_arg(hmod, &m);
	if (r != CUDA_SUCCESS)
		return r;
	if (!hfunc || !name)
		return CUDA_ERROR_INVALID_VALUE;
	/* The same name gives the same handle, as the driver's does. */
	pthread_mutex_lock(&m->lock);
	for (struct vgpu_func *f = m->funcs; f; f = f->next)
		if (!strcmp(f->name, name)) {
			pthread_mutex_unlock(&m->lock);
			*hfunc = (CUfunction)f;
			return CUDA_SUCCESS;
		}
	pthread_mutex_unlock(&m->lock);
	uint8_t *rsp = malloc(VGPU_RECORD_MAX);
	if (!rsp)
		return CUDA_ERROR_OUT_OF_MEMORY;
	size_t len = 0;
	r = vgpu_symbol_call(VGPU_OP_MODULE_GET_FUNCTION, vgpu_ctx_id(m->ctx ? m->ctx : c), m->id, name, rsp, VGPU_RECORD_MAX, &len);
	struct vgpu_func *f = r == CUDA_SUCCESS ? vgpu_func_from(rsp, len, m->ctx ? m->ctx : c, name) : NULL;
	free(rsp);
	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_OUT_OF_MEMORY;
	f->module = m;
	pthread_mutex_lock(&m->lock);
	f->next = m->funcs;
	m->funcs = f;
	pthread_mutex_unlock(&m->lock);
	*hfunc = (CUfunction)f;
	return CUDA_SUCCESS;
}

CUresult vgpu_global_answer(CUresult r, const struct vgpu_rsp_global *g, struct vgpu_ctx *c, CUdeviceptr *dptr, size_t *bytes)
{
	if (r != CUDA_SUCCESS)
		return r;
	if (dptr)
		*dptr = g->dptr;
	if (bytes)
		*bytes = g->bytes;
	vgpu_devmem_add(g->dptr, g->bytes, c, VGPU_DEVMEM_GLOBAL);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name)
{
	struct vgpu_ctx *c;
	struct vgpu_module *m;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = module_arg(hmod, &m);
	if (r != CUDA_SUCCESS)
		return r;
	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_rsp_global g;
	r = vgpu_symbol_call(VGPU_OP_MODULE_GET_GLOBAL, vgpu_ctx_id(m->ctx ? m->ctx : c), m->id, name, &g, sizeof(g), NULL);
	return vgpu_global_answer(r, &g, m->ctx ? m->ctx : c, dptr, bytes);
}

VGPU_EXPORT CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!mode)
		return CUDA_ERROR_INVALID_VALUE;
	static int known;
	static CUmoduleLoadingMode cached;
	if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
		struct vgpu_rsp_u64 rsp;
		if ((r = vgpu_rpc(VGPU_OP_MODULE_LOADING_MODE, 0, NULL, 0, &rsp, sizeof(rsp))) != CUDA_SUCCESS)
			return r;
		cached = (CUmoduleLoadingMode)rsp.value;
		__atomic_store_n(&known, 1, __ATOMIC_RELEASE);
	}
	*mode = cached;
	return CUDA_SUCCESS;
}
