/*
 * image_load.c — sending a module image to the proxy and loading it as a
 * module or a library (module_private.h).
 *
 * An image travels by value, sized from its own headers, and is named by its
 * content first: the bytes go only when the proxy's cache lacks them.  JIT
 * options go by value too (log buffers stay here; the proxy sends the text
 * back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "image.h"
#include "module_private.h"
#include "sha256.h"

#define MAX_JIT_OPTIONS 64

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
CUresult vgpu_load_image(uint16_t op, uint32_t ctx, const void *image, unsigned njit, CUjit_option *jit_options,
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

void *vgpu_read_file(const char *path, CUresult *r)
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
