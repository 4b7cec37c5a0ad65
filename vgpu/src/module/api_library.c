/*
 * api_library.c — libraries and their kernels (cuLibrary*, cuKernel*).  A
 * kernel has a function in each context it is used in (module.h, for the
 * launch code); its attributes and parameter layout are fetched once and
 * answered locally after.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "module.h"
#include "module_private.h"

VGPU_EXPORT CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions, void **jitOptionsValues,
				       unsigned int numJitOptions, CUlibraryOption *libraryOptions, void **libraryOptionValues,
				       unsigned int numLibraryOptions)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!library)
		return CUDA_ERROR_INVALID_VALUE;
	/*
	 * The values may be NULL: the one option taken, CU_LIBRARY_BINARY_IS_PRESERVED,
	 * is a hint whose value is not read, and cuBLASLt 13 loads its CUTLASS
	 * cubins with the option and no values (driver 580 accepts that).
	 */
	if (numLibraryOptions && !libraryOptions) {
		VGPU_INFO("event=image_refused call=cuLibraryLoadData reason=\"%u library options and no option array\"", numLibraryOptions);
		return CUDA_ERROR_INVALID_VALUE;
	}
	uint32_t id = 0;
	r = vgpu_load_image(VGPU_OP_LIBRARY_LOAD, vgpu_ctx_id(vgpu_current_ctx()), code, numJitOptions, jitOptions, jitOptionsValues,
			    numLibraryOptions, libraryOptions, &id);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_library *l = calloc(1, sizeof(*l));
	if (!l)
		return CUDA_ERROR_OUT_OF_MEMORY;
	l->magic = VGPU_MAGIC_LIBRARY;
	l->id = id;
	pthread_mutex_init(&l->lock, NULL);
	*library = (CUlibrary)l;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuLibraryLoadFromFile(CUlibrary *library, const char *fileName, CUjit_option *jitOptions, void **jitOptionsValues,
					   unsigned int numJitOptions, CUlibraryOption *libraryOptions, void **libraryOptionValues,
					   unsigned int numLibraryOptions)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!fileName)
		return CUDA_ERROR_INVALID_VALUE;
	void *code = vgpu_read_file(fileName, &r);
	if (!code)
		return r;
	r = cuLibraryLoadData(library, code, jitOptions, jitOptionsValues, numJitOptions, libraryOptions, libraryOptionValues,
			      numLibraryOptions);
	free(code);
	return r;
}

static CUresult library_arg(CUlibrary h, struct vgpu_library **out)
{
	*out = vgpu_object(h, VGPU_MAGIC_LIBRARY);
	return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

VGPU_EXPORT CUresult cuLibraryUnload(CUlibrary library)
{
	struct vgpu_library *l;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = library_arg(library, &l);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_handle req = { .id = l->id };
	r = vgpu_rpc(VGPU_OP_LIBRARY_UNLOAD, 0, &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS) {
		l->magic = VGPU_MAGIC_DEAD;
		for (struct vgpu_kernel *k = l->kernels; k; k = k->next) {
			k->magic = VGPU_MAGIC_DEAD;
			for (struct vgpu_func *f = k->funcs; f; f = f->next)
				f->magic = VGPU_MAGIC_DEAD;
		}
	}
	return r;
}

VGPU_EXPORT CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
	struct vgpu_library *l;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = library_arg(library, &l);
	if (r != CUDA_SUCCESS)
		return r;
	if (!pKernel || !name)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&l->lock);
	for (struct vgpu_kernel *k = l->kernels; k; k = k->next)
		if (!strcmp(k->name, name)) {
			pthread_mutex_unlock(&l->lock);
			*pKernel = (CUkernel)k;
			return CUDA_SUCCESS;
		}
	pthread_mutex_unlock(&l->lock);
	struct vgpu_rsp_handle rsp;
	r = vgpu_symbol_call(VGPU_OP_LIBRARY_GET_KERNEL, 0, l->id, name, &rsp, sizeof(rsp), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_kernel *k = calloc(1, sizeof(*k));
	if (!k || !(k->name = strdup(name))) {
		free(k);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	k->magic = VGPU_MAGIC_KERNEL;
	k->id = rsp.id;
	k->library = l;
	k->layout.result = CUDA_ERROR_NOT_READY; /* not fetched yet */
	pthread_mutex_lock(&l->lock);
	k->next = l->kernels;
	l->kernels = k;
	pthread_mutex_unlock(&l->lock);
	*pKernel = (CUkernel)k;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary library)
{
	struct vgpu_ctx *c;
	struct vgpu_library *l;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = library_arg(library, &l);
	if (r != CUDA_SUCCESS)
		return r;
	if (!pMod)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_handle req = { .id = l->id };
	struct vgpu_rsp_handle rsp;
	if ((r = vgpu_rpc(VGPU_OP_LIBRARY_GET_MODULE, c->id, &req, sizeof(req), &rsp, sizeof(rsp))) != CUDA_SUCCESS)
		return r;
	struct vgpu_module *m = vgpu_module_new(rsp.id, c);
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*pMod = (CUmodule)m;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name)
{
	struct vgpu_ctx *c;
	struct vgpu_library *l;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = library_arg(library, &l);
	if (r != CUDA_SUCCESS)
		return r;
	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_rsp_global g;
	r = vgpu_symbol_call(VGPU_OP_LIBRARY_GET_GLOBAL, c->id, l->id, name, &g, sizeof(g), NULL);
	return vgpu_global_answer(r, &g, c, dptr, bytes);
}

static CUresult kernel_arg(CUkernel h, struct vgpu_kernel **out)
{
	*out = vgpu_object(h, VGPU_MAGIC_KERNEL);
	return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult vgpu_kernel_function(struct vgpu_kernel *k, struct vgpu_ctx *c, struct vgpu_func **out)
{
	pthread_mutex_lock(&k->library->lock);
	for (struct vgpu_func *f = k->funcs; f; f = f->next)
		if (f->ctx == c && f->magic == VGPU_MAGIC_FUNC) {
			pthread_mutex_unlock(&k->library->lock);
			*out = f;
			return CUDA_SUCCESS;
		}
	pthread_mutex_unlock(&k->library->lock);
	uint8_t *rsp = malloc(VGPU_RECORD_MAX);
	if (!rsp)
		return CUDA_ERROR_OUT_OF_MEMORY;
	size_t len = 0;
	struct vgpu_req_handle req = { .id = k->id };
	struct vgpu_part part = { &req, sizeof(req) };
	CUresult r = vgpu_call(vgpu.ch, VGPU_OP_KERNEL_GET_FUNCTION, c->id, &part, 1, rsp, VGPU_RECORD_MAX, &len);
	struct vgpu_func *f = r == CUDA_SUCCESS ? vgpu_func_from(rsp, len, c, k->name) : NULL;
	free(rsp);
	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_OUT_OF_MEMORY;
	f->kernel = k;
	pthread_mutex_lock(&k->library->lock);
	f->next = k->funcs;
	k->funcs = f;
	if (k->layout.result == CUDA_ERROR_NOT_READY)
		k->layout = f->layout; /* the layout is the same in every context */
	pthread_mutex_unlock(&k->library->lock);
	*out = f;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
	struct vgpu_ctx *c;
	struct vgpu_kernel *k;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = kernel_arg(kernel, &k);
	if (r != CUDA_SUCCESS)
		return r;
	if (!pFunc)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_func *f;
	if ((r = vgpu_kernel_function(k, c, &f)) == CUDA_SUCCESS)
		*pFunc = (CUfunction)f;
	return r;
}

static CUresult kernel_attrs(struct vgpu_kernel *k)
{
	if (__atomic_load_n(&k->attrs_fetched, __ATOMIC_ACQUIRE))
		return CUDA_SUCCESS;
	struct vgpu_req_handle req = { .id = k->id, .aux = 0 };
	struct vgpu_rsp_func_info info;
	CUresult r = vgpu_rpc(VGPU_OP_KERNEL_GET_ATTRIBUTES, 0, &req, sizeof(req), &info, sizeof(info));
	if (r != CUDA_SUCCESS)
		return r;
	pthread_mutex_lock(&k->library->lock);
	memcpy(k->attrs, info.attrs, sizeof(k->attrs));
	__atomic_store_n(&k->attrs_fetched, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&k->library->lock);
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev)
{
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = kernel_arg(kernel, &k);
	if (r == CUDA_SUCCESS)
		r = vgpu_device_arg(dev);
	if (r != CUDA_SUCCESS)
		return r;
	if (!pi || (unsigned)attrib >= VGPU_FUNC_ATTR_COUNT)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = kernel_attrs(k)) != CUDA_SUCCESS)
		return r;
	int32_t v = __atomic_load_n(&k->attrs[attrib], __ATOMIC_RELAXED);
	if (v == VGPU_ATTR_REFUSED)
		return CUDA_ERROR_INVALID_VALUE;
	*pi = v;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev)
{
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = kernel_arg(kernel, &k);
	if (r == CUDA_SUCCESS)
		r = vgpu_device_arg(dev);
	if (r != CUDA_SUCCESS)
		return r;
	if ((unsigned)attrib >= VGPU_FUNC_ATTR_COUNT || !vgpu_attr_settable(attrib))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = kernel_attrs(k)) != CUDA_SUCCESS)
		return r;
	/* Libraries set the same value before every launch: an unchanged value needs no round trip. */
	if (__atomic_load_n(&k->attrs[attrib], __ATOMIC_RELAXED) == val)
		return CUDA_SUCCESS;
	struct vgpu_req_func_attr req = { .id = k->id, .attr = (uint32_t)attrib, .value = val, .device = dev };
	r = vgpu_rpc(VGPU_OP_KERNEL_SET_ATTRIBUTE, 0, &req, sizeof(req), NULL, 0);
	if (r == CUDA_SUCCESS) {
		__atomic_store_n(&k->attrs[attrib], val, __ATOMIC_RELAXED);
		pthread_mutex_lock(&k->library->lock);
		for (struct vgpu_func *f = k->funcs; f; f = f->next)
			__atomic_store_n(&f->attrs[attrib], val, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&k->library->lock);
	}
	return r;
}

VGPU_EXPORT CUresult cuKernelGetName(const char **name, CUkernel hfunc)
{
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = kernel_arg(hfunc, &k);
	if (r == CUDA_SUCCESS && !name)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS)
		*name = k->name;
	return r;
}

VGPU_EXPORT CUresult cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel)
{
	struct vgpu_kernel *k;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = kernel_arg(kernel, &k);
	if (r == CUDA_SUCCESS && !pLib)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS)
		*pLib = (CUlibrary)k->library;
	return r;
}

CUresult vgpu_kernel_layout(struct vgpu_kernel *k, struct vgpu_ctx *c, const struct vgpu_param_layout **out)
{
	if (__atomic_load_n(&k->layout.result, __ATOMIC_ACQUIRE) == CUDA_ERROR_NOT_READY) {
		struct vgpu_func *f;
		CUresult r = vgpu_kernel_function(k, c, &f);
		if (r != CUDA_SUCCESS)
			return r;
	}
	*out = &k->layout;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize)
{
	struct vgpu_kernel *k;
	const struct vgpu_param_layout *l;
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = kernel_arg(kernel, &k);
	if (r == CUDA_SUCCESS)
		r = vgpu_kernel_layout(k, c, &l);
	return r == CUDA_SUCCESS ? vgpu_layout_param(l, paramIndex, paramOffset, paramSize) : r;
}
