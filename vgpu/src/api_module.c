/*
 * api_module.c — modules, libraries, functions and kernels.
 *
 * Images are sent by value (sized from their own headers), JIT options by
 * value (log buffers stay here; the proxy sends the text back).  Function and
 * kernel attributes and parameter layouts are fetched once and answered
 * locally after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "image.h"
#include "module.h"
#include "sha256.h"

#define MAX_JIT_OPTIONS 64

/* --- sending an image and loading it --- */

struct jit_out {
	unsigned count;
	CUjit_option *options;
	void **values;
	char *info_log, *error_log;
	size_t info_cap, error_cap;
};

/* Options by value; returns the log capacity the proxy should use, or -1 when refused. */
static long jit_marshal(unsigned n, CUjit_option *options, void **values, struct vgpu_jit_option *wire, struct jit_out *out)
{
	long log = 0;
	memset(out, 0, sizeof(*out));
	out->count = n;
	out->options = options;
	out->values = values;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t v = (uintptr_t)values[i];
		wire[i] = (struct vgpu_jit_option){ .option = (uint32_t)options[i], .value = v };
		switch (options[i]) {
		case CU_JIT_INFO_LOG_BUFFER:
			out->info_log = values[i];
			wire[i].value = 0;
			break;
		case CU_JIT_ERROR_LOG_BUFFER:
			out->error_log = values[i];
			wire[i].value = 0;
			break;
		case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
			out->info_cap = v;
			log = (long)v > log ? (long)v : log;
			break;
		case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
			out->error_cap = v;
			log = (long)v > log ? (long)v : log;
			break;
		case CU_JIT_GLOBAL_SYMBOL_NAMES:
		case CU_JIT_GLOBAL_SYMBOL_ADDRESSES:
		case CU_JIT_REFERENCED_KERNEL_NAMES:
		case CU_JIT_REFERENCED_VARIABLE_NAMES:
			return -1;
		default:
			break;
		}
	}
	return log > 65536 ? 65536 : log;
}

/* Writes back what the driver answered in the options: sizes, times, logs. */
static void jit_unmarshal(const struct jit_out *out, const uint8_t *rsp, size_t len)
{
	struct vgpu_rsp_module_load head;
	memcpy(&head, rsp, sizeof(head));
	size_t values_at = sizeof(head), logs_at = values_at + (size_t)out->count * 8;
	if (logs_at + head.info_log_len + head.error_log_len > len)
		return;
	for (unsigned i = 0; i < out->count; i++) {
		uint64_t v;
		memcpy(&v, rsp + values_at + (size_t)i * 8, 8);
		switch (out->options[i]) {
		case CU_JIT_WALL_TIME: {
			uint32_t bits = (uint32_t)v;
			float f;
			memcpy(&f, &bits, 4);
			memcpy(&out->values[i], &f, sizeof(f));
			break;
		}
		case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
		case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
		case CU_JIT_THREADS_PER_BLOCK:
			out->values[i] = (void *)(uintptr_t)v;
			break;
		default:
			break;
		}
	}
	const char *info = (const char *)rsp + logs_at, *error = info + head.info_log_len;
	if (out->info_log && out->info_cap) {
		size_t n = head.info_log_len < out->info_cap - 1 ? head.info_log_len : out->info_cap - 1;
		memcpy(out->info_log, info, n);
		out->info_log[n] = 0;
	}
	if (out->error_log && out->error_cap) {
		size_t n = head.error_log_len < out->error_cap - 1 ? head.error_log_len : out->error_cap - 1;
		memcpy(out->error_log, error, n);
		out->error_log[n] = 0;
	}
}

/* Stages the image in the proxy; the caller holds the call lock. */
static CUresult stage(const uint8_t *image, size_t size)
{
	size_t chunk = vgpu_arena_chunk(vgpu.ch);
	CUresult r = CUDA_SUCCESS;
	for (size_t done = 0; done < size && r == CUDA_SUCCESS;) {
		size_t len = size - done < chunk ? size - done : chunk;
		struct vgpu_req_stage_append req = { .reset = done == 0 };
		uint8_t *bytes;
		if ((r = vgpu_tx_begin(vgpu.ch)) != CUDA_SUCCESS)
			break;
		r = vgpu_tx_arena(vgpu.ch, (uint32_t)len, &req.data, &bytes);
		if (r == CUDA_SUCCESS) {
			memcpy(bytes, image + done, len);
			struct vgpu_part part = { &req, sizeof(req) };
			r = vgpu_tx_push(vgpu.ch, VGPU_OP_STAGE_APPEND, 0, 0, &part, 1, NULL);
		}
		vgpu_tx_end(vgpu.ch);
		done += len;
	}
	return r;
}

/* A load the driver (or the proxy) refused, with what was asked: the application sees only the code. */
static void log_load_failure(uint16_t op, CUresult r, size_t size, enum vgpu_image_kind kind, int cached, unsigned njit,
			     const CUjit_option *jit_options, unsigned nlib, const CUlibraryOption *lib_options)
{
	if (!vgpu_log_enabled(VGPU_LOG_INFO))
		return;
	char opts[256];
	size_t at = 0;
	opts[0] = 0;
	for (unsigned i = 0; i < njit + nlib && at < sizeof(opts) - 16; i++)
		at += (size_t)snprintf(opts + at, sizeof(opts) - at, "%s%s%u", i ? "," : "", i < njit ? "jit" : "lib",
				       i < njit ? (unsigned)jit_options[i] : (unsigned)lib_options[i - njit]);
	static const char *kinds[] = { [VGPU_IMAGE_TEXT] = "text", [VGPU_IMAGE_CUBIN] = "cubin", [VGPU_IMAGE_FATBIN] = "fatbin" };
	VGPU_INFO("event=image_load_failed call=%s result=%d bytes=%zu kind=%s from_cache=%d options=%s",
		  op == VGPU_OP_LIBRARY_LOAD ? "cuLibraryLoadData" : "cuModuleLoadData", (int)r, size,
		  (unsigned)kind < 3 ? kinds[kind] : "?", cached, at ? opts : "none");
}

/*
 * Sends an image and loads it as a module (op MODULE_LOAD) or a library
 * (LIBRARY_LOAD); *id is the new handle id.
 */
static CUresult load_image(uint16_t op, uint32_t ctx, const void *image, unsigned njit, CUjit_option *jit_options,
			   void **jit_values, unsigned nlib, CUlibraryOption *lib_options, uint32_t *id)
{
	if (!image || njit > MAX_JIT_OPTIONS || nlib > MAX_JIT_OPTIONS || (njit && (!jit_options || !jit_values)))
		return CUDA_ERROR_INVALID_VALUE;
	enum vgpu_image_kind kind;
	size_t size = vgpu_image_size(&image, &kind);
	if (size == 0) {
		VGPU_INFO("event=image_refused reason=\"no module image this library recognises (fatbin, ELF cubin or PTX text)\" first_word=0x%08x",
			  *(const uint32_t *)image);
		return CUDA_ERROR_INVALID_IMAGE;
	}
	struct vgpu_jit_option wire[2 * MAX_JIT_OPTIONS];
	struct jit_out out;
	long log = jit_marshal(njit, jit_options, jit_values, wire, &out);
	if (log < 0)
		return vgpu_unsupported("JIT options that pass pointers (symbol names or addresses)");
	for (unsigned i = 0; i < nlib; i++) {
		if (lib_options[i] != CU_LIBRARY_BINARY_IS_PRESERVED)
			return vgpu_unsupported("library options other than CU_LIBRARY_BINARY_IS_PRESERVED");
		wire[njit + i] = (struct vgpu_jit_option){ .option = (uint32_t)lib_options[i] };
	}
	struct vgpu_req_module_load req = { .image_bytes = size, .jit_count = njit, .lib_count = nlib, .log_bytes = (uint32_t)log };
	struct vgpu_part parts[2] = { { &req, sizeof(req) }, { wire, sizeof(wire[0]) * (njit + nlib) } };
	uint8_t *rsp = malloc(VGPU_RECORD_MAX);
	if (!rsp)
		return CUDA_ERROR_OUT_OF_MEMORY;
	size_t len = 0;
	uint32_t seq;
	/* Named by content first: the bytes travel only when the proxy's cache lacks them. */
	struct vgpu_req_stage_lookup lookup = { .bytes = size };
	vgpu_sha256(image, size, lookup.sha256);
	struct vgpu_part lookup_part = { &lookup, sizeof(lookup) };
	struct vgpu_rsp_u64 cached = { 0 };
	/* Staging and loading hold the call lock, so two threads' images never mix. */
	vgpu_call_begin(vgpu.ch);
	CUresult r = vgpu_tx_begin(vgpu.ch);
	if (r == CUDA_SUCCESS) {
		r = vgpu_tx_push(vgpu.ch, VGPU_OP_STAGE_LOOKUP, VGPU_RF_REPLY, ctx, &lookup_part, 1, &seq);
		vgpu_tx_end(vgpu.ch);
		if (r == CUDA_SUCCESS)
			r = vgpu_call_wait(vgpu.ch, seq, &cached, sizeof(cached), NULL);
	}
	if (r == CUDA_SUCCESS && !cached.value)
		r = stage(image, size);
	if (r == CUDA_SUCCESS && (r = vgpu_tx_begin(vgpu.ch)) == CUDA_SUCCESS) {
		r = vgpu_tx_push(vgpu.ch, op, VGPU_RF_REPLY, ctx, parts, 2, &seq);
		vgpu_tx_end(vgpu.ch);
		if (r == CUDA_SUCCESS)
			r = vgpu_call_wait(vgpu.ch, seq, rsp, VGPU_RECORD_MAX, &len);
	}
	vgpu_call_end(vgpu.ch);
	if (r != CUDA_SUCCESS)
		log_load_failure(op, r, size, kind, cached.value != 0, njit, jit_options, nlib, lib_options);
	if (len >= sizeof(struct vgpu_rsp_module_load)) {
		jit_unmarshal(&out, rsp, len);
		struct vgpu_rsp_module_load head;
		memcpy(&head, rsp, sizeof(head));
		*id = head.id;
	}
	free(rsp);
	return r;
}

static void *read_file(const char *path, CUresult *r)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		*r = CUDA_ERROR_FILE_NOT_FOUND;
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *grown = realloc(buf, cap * 2 + 1);
			if (!grown) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf) {
		*r = CUDA_ERROR_OUT_OF_MEMORY;
		return NULL;
	}
	buf[n] = 0; /* a PTX file becomes a C string */
	*r = CUDA_SUCCESS;
	return buf;
}

/* --- modules --- */

static struct vgpu_module *module_new(uint32_t id, struct vgpu_ctx *ctx)
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
	r = load_image(VGPU_OP_MODULE_LOAD, c->id, image, numOptions, options, optionValues, 0, NULL, &id);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_module *m = module_new(id, c);
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
	void *image = read_file(fname, &r);
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

/* Builds a function from a vgpu_rsp_func_info answer. */
static struct vgpu_func *func_from(const uint8_t *rsp, size_t len, struct vgpu_ctx *ctx, const char *name)
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

/* A request naming a symbol of a module or library. */
static CUresult symbol_call(uint16_t op, uint32_t ctx, uint32_t owner, const char *name, void *rsp, size_t cap, size_t *len)
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
	r = symbol_call(VGPU_OP_MODULE_GET_FUNCTION, vgpu_ctx_id(m->ctx ? m->ctx : c), m->id, name, rsp, VGPU_RECORD_MAX, &len);
	struct vgpu_func *f = r == CUDA_SUCCESS ? func_from(rsp, len, m->ctx ? m->ctx : c, name) : NULL;
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

static CUresult global_answer(CUresult r, const struct vgpu_rsp_global *g, struct vgpu_ctx *c, CUdeviceptr *dptr, size_t *bytes)
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
	r = symbol_call(VGPU_OP_MODULE_GET_GLOBAL, vgpu_ctx_id(m->ctx ? m->ctx : c), m->id, name, &g, sizeof(g), NULL);
	return global_answer(r, &g, m->ctx ? m->ctx : c, dptr, bytes);
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

/* --- libraries and kernels --- */

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
	r = load_image(VGPU_OP_LIBRARY_LOAD, vgpu_ctx_id(vgpu_current_ctx()), code, numJitOptions, jitOptions, jitOptionsValues,
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
	void *code = read_file(fileName, &r);
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
	r = symbol_call(VGPU_OP_LIBRARY_GET_KERNEL, 0, l->id, name, &rsp, sizeof(rsp), NULL);
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
	struct vgpu_module *m = module_new(rsp.id, c);
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
	r = symbol_call(VGPU_OP_LIBRARY_GET_GLOBAL, c->id, l->id, name, &g, sizeof(g), NULL);
	return global_answer(r, &g, c, dptr, bytes);
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
	struct vgpu_func *f = r == CUDA_SUCCESS ? func_from(rsp, len, c, k->name) : NULL;
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

/* Attributes a set may change; kept in sync with what the driver now holds. */
static int attr_settable(CUfunction_attribute a)
{
	return a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES || a == CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT ||
	       a == CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH || a == CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT ||
	       a == CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH || a == CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED ||
	       a == CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
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
	if ((unsigned)attrib >= VGPU_FUNC_ATTR_COUNT || !attr_settable(attrib))
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

static CUresult param_info(const struct vgpu_param_layout *l, size_t index, size_t *offset, size_t *size)
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
	return r == CUDA_SUCCESS ? param_info(l, paramIndex, paramOffset, paramSize) : r;
}

/* --- functions --- */

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
	if ((unsigned)attrib >= VGPU_FUNC_ATTR_COUNT || !attr_settable(attrib))
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
	return param_info(&f->layout, paramIndex, paramOffset, paramSize);
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
