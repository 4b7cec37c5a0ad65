/*
 * api_function.c — functions (cuFunc*): those of a module, and those got
 * from a library's kernel, which answer as their kernel does.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "module_private.h"

/* Builds a function from a vgpu_rsp_func_info answer. */
struct vgpu_func *vgpu_func_from(const uint8_t *rsp, size_t len, struct vgpu_ctx *ctx, const char *name)
{
	struct vgpu_rsp_func_info info;
	if (len < sizeof(info))
		return NULL;
	memcpy(&info, rsp, sizeof(info));
	if (sizeof(info) + (size_t)info.param_count * sizeof(struct vgpu_param_info) > len)
		return NULL;
	struct vgpu_func *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->magic = VGPU_MAGIC_FUNC;
	f->id = info.id;
	f->ctx = ctx;
	f->name = strdup(name ? name : "");
	memcpy(f->attrs, info.attrs, sizeof(f->attrs));
	f->layout.count = info.param_count;
	f->layout.result = info.param_info_result;
	f->layout.params = calloc(info.param_count ? info.param_count : 1, sizeof(struct vgpu_param_info));
	if (!f->layout.params || !f->name) {
		free(f->layout.params);
		free(f->name);
		free(f);
		return NULL;
	}
	memcpy(f->layout.params, rsp + sizeof(info), (size_t)info.param_count * sizeof(struct vgpu_param_info));
	for (uint32_t i = 0; i < info.param_count; i++) {
		uint32_t end = f->layout.params[i].offset + f->layout.params[i].size;
		if (end > f->layout.total)
			f->layout.total = end;
	}
	return f;
}

/* Attributes a set may change; kept in sync with what the driver now holds. */
int vgpu_attr_settable(CUfunction_attribute a)
{
	return a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES || a == CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT ||
	       a == CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH || a == CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT ||
	       a == CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH || a == CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED ||
	       a == CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
}

CUresult vgpu_layout_param(const struct vgpu_param_layout *l, size_t index, size_t *offset, size_t *size)
{
	if (l->result != CUDA_SUCCESS)
		return (CUresult)l->result;
	if (index >= l->count)
		return CUDA_ERROR_INVALID_VALUE;
	if (offset)
		*offset = l->params[index].offset;
	if (size)
		*size = l->params[index].size;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
	struct vgpu_func *f;
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_func_arg(hfunc, &f, &k);
	if (r != CUDA_SUCCESS)
		return r;
	if (k)
		return cuKernelGetAttribute(pi, attrib, (CUkernel)k, 0);
	if (!pi || (unsigned)attrib >= VGPU_FUNC_ATTR_COUNT)
		return CUDA_ERROR_INVALID_VALUE;
	int32_t v = __atomic_load_n(&f->attrs[attrib], __ATOMIC_RELAXED);
	if (v == VGPU_ATTR_REFUSED)
		return CUDA_ERROR_INVALID_VALUE;
	*pi = v;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
	struct vgpu_func *f;
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_func_arg(hfunc, &f, &k);
	if (r != CUDA_SUCCESS)
		return r;
	if (k)
		return cuKernelSetAttribute(attrib, value, (CUkernel)k, 0);
	if ((unsigned)attrib >= VGPU_FUNC_ATTR_COUNT || !vgpu_attr_settable(attrib))
		return CUDA_ERROR_INVALID_VALUE;
	if (__atomic_load_n(&f->attrs[attrib], __ATOMIC_RELAXED) == value)
		return CUDA_SUCCESS;
	struct vgpu_req_func_attr req = { .id = f->id, .attr = (uint32_t)attrib, .value = value };
	r = vgpu_rpc(VGPU_OP_FUNC_SET_ATTRIBUTE, f->ctx->id, &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS)
		__atomic_store_n(&f->attrs[attrib], value, __ATOMIC_RELAXED);
	return r;
}

VGPU_EXPORT CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config)
{
	struct vgpu_func *f;
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_func_arg(hfunc, &f, &k);
	if (r != CUDA_SUCCESS)
		return r;
	if (k)
		return vgpu_unsupported("cuFuncSetCacheConfig on a kernel handle");
	struct vgpu_req_func_attr req = { .id = f->id, .value = (int32_t)config };
	return vgpu_rpc(VGPU_OP_FUNC_SET_CACHE_CONFIG, f->ctx->id, &req, sizeof(req), NULL, 0);
}

VGPU_EXPORT CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize)
{
	struct vgpu_func *f;
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_func_arg(func, &f, &k);
	if (r != CUDA_SUCCESS)
		return r;
	if (k)
		return cuKernelGetParamInfo((CUkernel)k, paramIndex, paramOffset, paramSize);
	return vgpu_layout_param(&f->layout, paramIndex, paramOffset, paramSize);
}

VGPU_EXPORT CUresult cuFuncGetName(const char **name, CUfunction hfunc)
{
	struct vgpu_func *f;
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_func_arg(hfunc, &f, &k);
	if (r == CUDA_SUCCESS && !name)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS)
		*name = k ? k->name : f->name;
	return r;
}

VGPU_EXPORT CUresult cuFuncGetModule(CUmodule *hmod, CUfunction hfunc)
{
	struct vgpu_func *f;
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_func_arg(hfunc, &f, &k);
	if (r != CUDA_SUCCESS)
		return r;
	if (!hmod)
		return CUDA_ERROR_INVALID_VALUE;
	if (k || !f->module)
		return vgpu_unsupported("cuFuncGetModule of a library kernel's function");
	*hmod = (CUmodule)f->module;
	return CUDA_SUCCESS;
}
