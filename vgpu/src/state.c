/*
 * state.c — libvgpu's process state: the channel, the virtual device, each
 * thread's context stack and per-thread streams, and handle checks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "capture.h"

struct vgpu_state vgpu = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.primary = { .magic = VGPU_MAGIC_CTX, .is_primary = 1, .lock = PTHREAD_MUTEX_INITIALIZER },
};

static const char *program_name(void)
{
	extern char *program_invocation_short_name;
	return program_invocation_short_name ? program_invocation_short_name : "";
}

static CUresult fetch_device(void)
{
	/* Ask for every attribute this header knows; the proxy answers each or marks it refused. */
	struct vgpu_req_device_info req = { .device = 0, .attr_count = CU_DEVICE_ATTRIBUTE_MAX };
	size_t cap = sizeof(struct vgpu_rsp_device_info) + sizeof(int32_t) * CU_DEVICE_ATTRIBUTE_MAX;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct vgpu_part part = { &req, sizeof(req) };
	size_t len = 0;
	CUresult r = vgpu_call(vgpu.ch, VGPU_OP_DEVICE_INFO, 0, &part, 1, buf, cap, &len);
	/* A reply shorter than its fixed part is a broken proxy: nothing of it is used. */
	if (r == CUDA_SUCCESS && len < sizeof(struct vgpu_rsp_device_info))
		r = CUDA_ERROR_INVALID_VALUE;
	if (r != CUDA_SUCCESS) {
		free(buf);
		return r;
	}
	struct vgpu_rsp_device_info info;
	memcpy(&info, buf, sizeof(info));
	struct vgpu_device *d = &vgpu.dev;
	memcpy(d->name, info.name, sizeof(d->name));
	d->name[sizeof(d->name) - 1] = 0;
	memcpy(d->uuid.bytes, info.uuid, sizeof(d->uuid.bytes));
	memcpy(d->pci_bus_id, info.pci_bus_id, sizeof(d->pci_bus_id));
	d->pci_bus_id[sizeof(d->pci_bus_id) - 1] = 0;
	d->total_mem = info.total_mem;
	/* Only the attributes the reply really holds (its length, not its count field, bounds them). */
	size_t held = (len < cap ? len : cap) - sizeof(info);
	d->attr_count = info.attr_count < CU_DEVICE_ATTRIBUTE_MAX ? info.attr_count : CU_DEVICE_ATTRIBUTE_MAX;
	if ((size_t)d->attr_count > held / sizeof(int32_t))
		d->attr_count = (uint32_t)(held / sizeof(int32_t));
	d->attrs = calloc(d->attr_count ? d->attr_count : 1, sizeof(int32_t));
	if (!d->attrs) {
		free(buf);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memcpy(d->attrs, buf + sizeof(info), sizeof(int32_t) * d->attr_count);
	free(buf);
	return CUDA_SUCCESS;
}

CUresult vgpu_connect(void)
{
	if (__atomic_load_n(&vgpu.connected, __ATOMIC_ACQUIRE))
		return vgpu.connect_result;
	pthread_mutex_lock(&vgpu.lock);
	if (!vgpu.connected) {
		CUresult r = vgpu_channel_open(&vgpu.ch, program_name());
		if (r == CUDA_SUCCESS) {
			vgpu.ch->thread_flags = vgpu_capture_mode_flags;
			struct vgpu_rsp_driver_info info;
			r = vgpu_rpc(VGPU_OP_DRIVER_INFO, 0, NULL, 0, &info, sizeof(info));
			if (r == CUDA_SUCCESS) {
				vgpu.driver_version = info.driver_version;
				vgpu.device_count = info.device_count;
				vgpu.guest_id = info.guest_id;
				r = vgpu.device_count > 0 ? fetch_device() : CUDA_ERROR_NO_DEVICE;
			}
			if (r != CUDA_SUCCESS)
				VGPU_ERROR("event=init_failed result=%d reason=\"vgpu-proxy has no GPU for this guest; see the proxy's log\"", (int)r);
		}
		vgpu.connect_result = r;
		__atomic_store_n(&vgpu.connected, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vgpu.lock);
	return vgpu.connect_result;
}

CUresult vgpu_rpc(uint16_t op, uint32_t ctx, const void *req, size_t req_len, void *rsp, size_t rsp_cap)
{
	struct vgpu_part part = { req, req_len };
	/* A reply shorter than rsp_cap (a broken or hostile proxy) leaves zeros, never stale bytes. */
	if (rsp && rsp_cap)
		memset(rsp, 0, rsp_cap);
	return vgpu_call(vgpu.ch, op, ctx, &part, req_len ? 1 : 0, rsp, rsp_cap, NULL);
}

CUresult vgpu_post(uint16_t op, uint32_t ctx, const void *req, size_t req_len)
{
	struct vgpu_part part = { req, req_len };
	return vgpu_send(vgpu.ch, op, ctx, &part, req_len ? 1 : 0);
}

/* --- contexts of the calling thread --- */

#define CTX_STACK_MAX 64
static __thread struct vgpu_ctx *ctx_stack[CTX_STACK_MAX];
static __thread int ctx_depth;

struct vgpu_ctx *vgpu_current_ctx(void)
{
	return ctx_depth ? ctx_stack[ctx_depth - 1] : NULL;
}

/* Exported to the context code: the stack itself. */
int vgpu_ctx_push(struct vgpu_ctx *c)
{
	if (ctx_depth == CTX_STACK_MAX)
		return -1;
	ctx_stack[ctx_depth++] = c;
	return 0;
}

struct vgpu_ctx *vgpu_ctx_pop(void)
{
	return ctx_depth ? ctx_stack[--ctx_depth] : NULL;
}

void vgpu_ctx_set_top(struct vgpu_ctx *c)
{
	if (!c) {
		if (ctx_depth)
			ctx_depth--;
		return;
	}
	if (ctx_depth)
		ctx_stack[ctx_depth - 1] = c;
	else
		ctx_stack[ctx_depth++] = c;
}

void vgpu_ctx_stack_forget(struct vgpu_ctx *ctx)
{
	int w = 0;
	for (int i = 0; i < ctx_depth; i++)
		if (ctx_stack[i] != ctx)
			ctx_stack[w++] = ctx_stack[i];
	ctx_depth = w;
}

CUresult vgpu_need_ctx(struct vgpu_ctx **out)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_ctx *c = vgpu_current_ctx();
	if (!c || c->magic != VGPU_MAGIC_CTX || c->id == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	*out = c;
	return CUDA_SUCCESS;
}

CUresult vgpu_ctx_arg(CUcontext h, struct vgpu_ctx **out)
{
	if (!h)
		return vgpu_need_ctx(out);
	struct vgpu_ctx *c = (struct vgpu_ctx *)h;
	if (c->magic != VGPU_MAGIC_CTX || c->id == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	*out = c;
	return CUDA_SUCCESS;
}

/* --- per-thread default streams: one real stream per (thread, context) --- */

#define PTDS_MAX 8
struct ptds_slot {
	struct vgpu_ctx *ctx;
	uint32_t ctx_id;
	uint32_t stream;
};
static __thread struct ptds_slot ptds[PTDS_MAX];

static CUresult per_thread_stream(struct vgpu_ctx *ctx, uint32_t *id)
{
	int free_slot = -1;
	for (int i = 0; i < PTDS_MAX; i++) {
		if (ptds[i].ctx == ctx && ptds[i].ctx_id == ctx->id) {
			*id = ptds[i].stream;
			return CUDA_SUCCESS;
		}
		if (free_slot < 0 && (!ptds[i].ctx || ptds[i].ctx->magic != VGPU_MAGIC_CTX || ptds[i].ctx_id != ptds[i].ctx->id))
			free_slot = i;
	}
	if (free_slot < 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	/* A blocking stream: like the real per-thread default stream, it synchronises with the legacy stream. */
	struct vgpu_req_stream_create req = { .flags = CU_STREAM_DEFAULT, .priority = 0 };
	struct vgpu_rsp_handle rsp;
	CUresult r = vgpu_rpc(VGPU_OP_STREAM_CREATE, ctx->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS)
		return r;
	ptds[free_slot] = (struct ptds_slot){ .ctx = ctx, .ctx_id = ctx->id, .stream = rsp.id };
	*id = rsp.id;
	return CUDA_SUCCESS;
}

CUresult vgpu_stream_id(CUstream h, int per_thread, struct vgpu_ctx *ctx, uint32_t *id)
{
	if (h == NULL) {
		if (!per_thread) {
			*id = VGPU_STREAM_NULL;
			return CUDA_SUCCESS;
		}
		return per_thread_stream(ctx, id);
	}
	if (h == CU_STREAM_LEGACY) {
		*id = VGPU_STREAM_LEGACY;
		return CUDA_SUCCESS;
	}
	if (h == CU_STREAM_PER_THREAD)
		return per_thread_stream(ctx, id);
	const struct vgpu_stream *s = (const struct vgpu_stream *)h;
	if (s->magic != VGPU_MAGIC_STREAM)
		return CUDA_ERROR_INVALID_HANDLE;
	*id = s->id;
	return CUDA_SUCCESS;
}

CUresult vgpu_event_arg(CUevent h, struct vgpu_event **out)
{
	*out = vgpu_object(h, VGPU_MAGIC_EVENT);
	return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult vgpu_func_arg(CUfunction h, struct vgpu_func **fn, struct vgpu_kernel **kernel)
{
	*fn = NULL;
	*kernel = NULL;
	if (!h)
		return CUDA_ERROR_INVALID_HANDLE;
	uint32_t magic = *(const uint32_t *)h;
	if (magic == VGPU_MAGIC_FUNC)
		*fn = (struct vgpu_func *)h;
	else if (magic == VGPU_MAGIC_KERNEL)
		*kernel = (struct vgpu_kernel *)h;
	else
		return CUDA_ERROR_INVALID_HANDLE;
	return CUDA_SUCCESS;
}
