/*
 * api_stream.c — streams and events.  Recording and waiting are sent
 * without an answer; synchronising and querying wait for one.  Facts about a
 * stream (flags, priority, context) are answered here.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "capture.h"

static CUresult stream_create(CUstream *phStream, unsigned flags, int priority)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!phStream || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct vgpu_req_stream_create req = { .flags = flags, .priority = priority };
	struct vgpu_rsp_handle rsp;
	r = vgpu_rpc(VGPU_OP_STREAM_CREATE, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS) {
		free(s);
		return r;
	}
	/* The driver clamps priorities into the context's range; answer what it holds. */
	int least = 0, greatest = 0;
	if (cuCtxGetStreamPriorityRange(&least, &greatest) == CUDA_SUCCESS) {
		if (priority > least)
			priority = least;
		if (priority < greatest)
			priority = greatest;
	}
	*s = (struct vgpu_stream){ .magic = VGPU_MAGIC_STREAM, .id = rsp.id, .ctx = c, .flags = flags, .priority = priority };
	*phStream = (CUstream)s;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
	return stream_create(phStream, Flags, 0);
}

VGPU_EXPORT CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
	return stream_create(phStream, flags, priority);
}

static CUresult stream_arg(CUstream h, struct vgpu_stream **out)
{
	*out = h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD ? NULL : vgpu_object(h, VGPU_MAGIC_STREAM);
	return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

VGPU_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream)
{
	struct vgpu_stream *s;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = stream_arg(hStream, &s);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_handle req = { .id = s->id };
	/* Like the driver's: returns at once; the stream's work still completes. */
	r = vgpu_post(VGPU_OP_STREAM_DESTROY, s->ctx->id, &req, sizeof(req));
	s->magic = VGPU_MAGIC_DEAD;
	return r;
}

VGPU_EXPORT CUresult cuStreamDestroy(CUstream hStream)
{
	return cuStreamDestroy_v2(hStream);
}

static CUresult stream_wait(uint16_t op, CUstream h, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_handle req = { 0 };
	if ((r = vgpu_stream_id(h, per_thread, c, &req.id)) != CUDA_SUCCESS)
		return r;
	const struct vgpu_stream *s = (h && h != CU_STREAM_LEGACY && h != CU_STREAM_PER_THREAD) ? (const struct vgpu_stream *)h : NULL;
	return vgpu_rpc(op, s ? s->ctx->id : c->id, &req, sizeof(req), NULL, 0);
}

VGPU_EXPORT CUresult cuStreamSynchronize(CUstream h) { return stream_wait(VGPU_OP_STREAM_SYNC, h, 0); }
VGPU_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream h) { return stream_wait(VGPU_OP_STREAM_SYNC, h, 1); }
VGPU_EXPORT CUresult cuStreamQuery(CUstream h) { return stream_wait(VGPU_OP_STREAM_QUERY, h, 0); }
VGPU_EXPORT CUresult cuStreamQuery_ptsz(CUstream h) { return stream_wait(VGPU_OP_STREAM_QUERY, h, 1); }

static CUresult stream_event(uint16_t op, CUstream h, CUevent ev, unsigned flags, int per_thread)
{
	struct vgpu_ctx *c;
	struct vgpu_event *e;
	CUresult r = vgpu_need_ctx(&c);
	if (r == CUDA_SUCCESS)
		r = vgpu_event_arg(ev, &e);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_stream_event req = { .event = e->id, .flags = flags };
	if ((r = vgpu_stream_id(h, per_thread, c, &req.stream)) != CUDA_SUCCESS)
		return r;
	return vgpu_post(op, c->id, &req, sizeof(req));
}

VGPU_EXPORT CUresult cuStreamWaitEvent(CUstream h, CUevent e, unsigned int flags) { return stream_event(VGPU_OP_STREAM_WAIT_EVENT, h, e, flags, 0); }
VGPU_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream h, CUevent e, unsigned int flags) { return stream_event(VGPU_OP_STREAM_WAIT_EVENT, h, e, flags, 1); }
VGPU_EXPORT CUresult cuEventRecord(CUevent e, CUstream h) { return stream_event(VGPU_OP_EVENT_RECORD, h, e, 0, 0); }
VGPU_EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream h) { return stream_event(VGPU_OP_EVENT_RECORD, h, e, 0, 1); }
VGPU_EXPORT CUresult cuEventRecordWithFlags(CUevent e, CUstream h, unsigned int flags) { return stream_event(VGPU_OP_EVENT_RECORD, h, e, flags, 0); }
VGPU_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent e, CUstream h, unsigned int flags) { return stream_event(VGPU_OP_EVENT_RECORD, h, e, flags, 1); }

/* Facts of a stream handle, including the two default streams. */
static CUresult stream_facts(CUstream h, struct vgpu_ctx **ctx, unsigned *flags, int *priority, unsigned long long *id)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!h || h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD) {
		struct vgpu_ctx *c;
		if ((r = vgpu_need_ctx(&c)) != CUDA_SUCCESS)
			return r;
		*ctx = c;
		*flags = CU_STREAM_DEFAULT;
		*priority = 0;
		*id = h == CU_STREAM_PER_THREAD ? 2 : 1;
		return CUDA_SUCCESS;
	}
	struct vgpu_stream *s;
	if ((r = stream_arg(h, &s)) != CUDA_SUCCESS)
		return r;
	*ctx = s->ctx;
	*flags = s->flags;
	*priority = s->priority;
	*id = ((unsigned long long)vgpu.guest_id << 32) | s->id;
	return CUDA_SUCCESS;
}

#define STREAM_GETTER(name, type, field_expr)                                                                            \
	VGPU_EXPORT CUresult name(CUstream h, type *out)                                                                 \
	{                                                                                                                \
		struct vgpu_ctx *c;                                                                                      \
		unsigned flags;                                                                                          \
		int priority;                                                                                            \
		unsigned long long id;                                                                                   \
		if (!out)                                                                                                \
			return CUDA_ERROR_INVALID_VALUE;                                                                 \
		CUresult r = stream_facts(h, &c, &flags, &priority, &id);                                                \
		if (r == CUDA_SUCCESS)                                                                                   \
			*out = (type)(field_expr);                                                                       \
		return r;                                                                                                \
	}

STREAM_GETTER(cuStreamGetFlags, unsigned int, flags)
STREAM_GETTER(cuStreamGetFlags_ptsz, unsigned int, flags)
STREAM_GETTER(cuStreamGetPriority, int, priority)
STREAM_GETTER(cuStreamGetPriority_ptsz, int, priority)
STREAM_GETTER(cuStreamGetCtx, CUcontext, c)
STREAM_GETTER(cuStreamGetCtx_ptsz, CUcontext, c)
STREAM_GETTER(cuStreamGetId, unsigned long long, id)
STREAM_GETTER(cuStreamGetId_ptsz, unsigned long long, id)
STREAM_GETTER(cuStreamGetDevice, CUdevice, c->dev)
STREAM_GETTER(cuStreamGetDevice_ptsz, CUdevice, c->dev)

static CUresult stream_ctx_v2(CUstream h, CUcontext *pCtx, CUgreenCtx *pGreenCtx)
{
	struct vgpu_ctx *c;
	unsigned flags;
	int priority;
	unsigned long long id;
	if (!pCtx)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = stream_facts(h, &c, &flags, &priority, &id);
	if (r == CUDA_SUCCESS) {
		*pCtx = (CUcontext)c;
		if (pGreenCtx)
			*pGreenCtx = NULL;
	}
	return r;
}

VGPU_EXPORT CUresult cuStreamGetCtx_v2(CUstream h, CUcontext *pCtx, CUgreenCtx *pGreenCtx) { return stream_ctx_v2(h, pCtx, pGreenCtx); }
VGPU_EXPORT CUresult cuStreamGetCtx_v2_ptsz(CUstream h, CUcontext *pCtx, CUgreenCtx *pGreenCtx) { return stream_ctx_v2(h, pCtx, pGreenCtx); }

/* Capture status from the guest's own list of capturing streams (api_graph.c). */
static CUresult is_capturing_id(CUstream h, int per_thread, CUstreamCaptureStatus *status, unsigned long long *capture)
{
	struct vgpu_ctx *c;
	unsigned flags;
	int priority;
	unsigned long long id;
	uint32_t wire;
	if (!status)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = stream_facts(h, &c, &flags, &priority, &id);
	if (r == CUDA_SUCCESS)
		r = vgpu_stream_id(h, per_thread, c, &wire);
	if (r == CUDA_SUCCESS)
		*status = vgpu_capture_of(wire, capture) ? CU_STREAM_CAPTURE_STATUS_ACTIVE : CU_STREAM_CAPTURE_STATUS_NONE;
	return r;
}

static CUresult is_capturing(CUstream h, CUstreamCaptureStatus *status)
{
	return is_capturing_id(h, 0, status, NULL);
}

VGPU_EXPORT CUresult cuStreamIsCapturing(CUstream h, CUstreamCaptureStatus *s) { return is_capturing(h, s); }
VGPU_EXPORT CUresult cuStreamIsCapturing_ptsz(CUstream h, CUstreamCaptureStatus *s) { return is_capturing_id(h, 1, s, NULL); }

static CUresult capture_info(CUstream h, int per_thread, CUstreamCaptureStatus *status, cuuint64_t *id, CUgraph *graph,
			     const CUgraphNode **deps, const CUgraphEdgeData **edges, size_t *ndeps)
{
	unsigned long long capture = 0;
	CUresult r = is_capturing_id(h, per_thread, status, &capture);
	if (r != CUDA_SUCCESS)
		return r;
	if (*status == CU_STREAM_CAPTURE_STATUS_ACTIVE) {
		if (id)
			*id = capture;
		/*
		 * The graph being built lives in the proxy: its handle and frontier are not
		 * known here.  They are answered as none (logged once), not as an error,
		 * since runtimes ask for them with every status query.
		 */
		if (graph)
			*graph = NULL;
		if (deps)
			*deps = NULL;
		if (edges)
			*edges = NULL;
		if (ndeps)
			*ndeps = 0;
		if (graph || deps)
			vgpu_unsupported("cuStreamGetCaptureInfo: graph and dependencies of an active capture (answered as none)");
	} else if (id)
		*id = 0;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuStreamGetCaptureInfo(CUstream h, CUstreamCaptureStatus *s, cuuint64_t *id) { return capture_info(h, 0, s, id, NULL, NULL, NULL, NULL); }
VGPU_EXPORT CUresult cuStreamGetCaptureInfo_ptsz(CUstream h, CUstreamCaptureStatus *s, cuuint64_t *id) { return capture_info(h, 1, s, id, NULL, NULL, NULL, NULL); }
VGPU_EXPORT CUresult cuStreamGetCaptureInfo_v2(CUstream h, CUstreamCaptureStatus *s, cuuint64_t *id, CUgraph *g, const CUgraphNode **d, size_t *n)
{
	return capture_info(h, 0, s, id, g, d, NULL, n);
}
VGPU_EXPORT CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream h, CUstreamCaptureStatus *s, cuuint64_t *id, CUgraph *g, const CUgraphNode **d, size_t *n)
{
	return capture_info(h, 1, s, id, g, d, NULL, n);
}
VGPU_EXPORT CUresult cuStreamGetCaptureInfo_v3(CUstream h, CUstreamCaptureStatus *s, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
					       const CUgraphEdgeData **e, size_t *n)
{
	return capture_info(h, 0, s, id, g, d, e, n);
}
VGPU_EXPORT CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream h, CUstreamCaptureStatus *s, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
						    const CUgraphEdgeData **e, size_t *n)
{
	return capture_info(h, 1, s, id, g, d, e, n);
}

/* The calling thread's capture interaction mode: a per-thread setting, kept here. */
static __thread CUstreamCaptureMode capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

/* While any capture is active, requests carry the calling thread's mode (the proxy runs them all on one thread). */
uint16_t vgpu_capture_mode_flags(void)
{
	if (!vgpu_capture_active())
		return 0;
	return (uint16_t)(((unsigned)capture_mode + 1u) << VGPU_RF_CAPMODE_SHIFT);
}

VGPU_EXPORT CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!mode || (unsigned)*mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	CUstreamCaptureMode old = capture_mode;
	capture_mode = *mode;
	*mode = old;
	return CUDA_SUCCESS;
}

/* --- events --- */

VGPU_EXPORT CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!phEvent)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_event *e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct vgpu_req_u32 req = { .value = Flags };
	struct vgpu_rsp_handle rsp;
	r = vgpu_rpc(VGPU_OP_EVENT_CREATE, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS) {
		free(e);
		return r;
	}
	*e = (struct vgpu_event){ .magic = VGPU_MAGIC_EVENT, .id = rsp.id, .ctx = c, .flags = Flags };
	*phEvent = (CUevent)e;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuEventDestroy_v2(CUevent hEvent)
{
	struct vgpu_event *e;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_event_arg(hEvent, &e);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_handle req = { .id = e->id };
	r = vgpu_post(VGPU_OP_EVENT_DESTROY, e->ctx->id, &req, sizeof(req));
	e->magic = VGPU_MAGIC_DEAD;
	return r;
}

VGPU_EXPORT CUresult cuEventDestroy(CUevent hEvent)
{
	return cuEventDestroy_v2(hEvent);
}

static CUresult event_wait(uint16_t op, CUevent h)
{
	struct vgpu_event *e;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_event_arg(h, &e);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_handle req = { .id = e->id };
	return vgpu_rpc(op, e->ctx->id, &req, sizeof(req), NULL, 0);
}

VGPU_EXPORT CUresult cuEventSynchronize(CUevent h) { return event_wait(VGPU_OP_EVENT_SYNC, h); }
VGPU_EXPORT CUresult cuEventQuery(CUevent h) { return event_wait(VGPU_OP_EVENT_QUERY, h); }

VGPU_EXPORT CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	struct vgpu_event *a, *b;
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS)
		r = vgpu_event_arg(hStart, &a);
	if (r == CUDA_SUCCESS)
		r = vgpu_event_arg(hEnd, &b);
	if (r != CUDA_SUCCESS)
		return r;
	if (!pMilliseconds)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_event_pair req = { .start = a->id, .end = b->id };
	struct vgpu_rsp_elapsed rsp;
	r = vgpu_rpc(VGPU_OP_EVENT_ELAPSED, a->ctx->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		*pMilliseconds = rsp.millis;
	return r;
}

VGPU_EXPORT CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	return cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}
