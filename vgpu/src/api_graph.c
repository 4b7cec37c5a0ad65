/*
 * api_graph.c — stream capture and executable graphs.
 *
 * The guest's work on a capturing stream reaches the real stream in the
 * proxy in order, so the driver records the graph itself.  Which streams are
 * capturing, with which capture id, is known here (capture begins and ends
 * only through this file), so capture-status questions stay local.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "capture.h"

/* --- which streams are capturing --- */

#define CAPTURES_MAX 64
struct capture {
	uint32_t stream;             /* wire stream id; 0 = free slot */
	unsigned long long id;
	struct vgpu_graph *into;     /* cuStreamBeginCaptureToGraph: the graph it adds to */
};
static struct capture captures[CAPTURES_MAX];
static int capture_count;        /* slots in use; read without the lock as a fast "none" */
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;

int vgpu_capture_active(void)
{
	return __atomic_load_n(&capture_count, __ATOMIC_ACQUIRE) != 0;
}

int vgpu_capture_of(uint32_t stream, unsigned long long *id)
{
	if (__atomic_load_n(&capture_count, __ATOMIC_ACQUIRE) == 0 || stream < VGPU_FIRST_ID)
		return 0;
	int found = 0;
	pthread_mutex_lock(&capture_lock);
	for (int i = 0; i < CAPTURES_MAX; i++)
		if (captures[i].stream == stream) {
			if (id)
				*id = captures[i].id;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&capture_lock);
	return found;
}

static void capture_set(uint32_t stream, unsigned long long id, struct vgpu_graph *into)
{
	pthread_mutex_lock(&capture_lock);
	for (int i = 0; i < CAPTURES_MAX; i++)
		if (captures[i].stream == 0) {
			captures[i] = (struct capture){ stream, id, into };
			__atomic_add_fetch(&capture_count, 1, __ATOMIC_RELEASE);
			break;
		}
	pthread_mutex_unlock(&capture_lock);
}

/* Forgets the stream's capture; the graph it captured into, if it was begun with one. */
static struct vgpu_graph *capture_clear(uint32_t stream)
{
	struct vgpu_graph *into = NULL;
	pthread_mutex_lock(&capture_lock);
	for (int i = 0; i < CAPTURES_MAX; i++)
		if (captures[i].stream == stream) {
			into = captures[i].into;
			captures[i].stream = 0;
			__atomic_sub_fetch(&capture_count, 1, __ATOMIC_RELEASE);
		}
	pthread_mutex_unlock(&capture_lock);
	return into;
}

/* --- capture --- */

static CUresult begin_capture(CUstream h, CUstreamCaptureMode mode, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_req_capture req = { .mode = (uint32_t)mode };
	if ((r = vgpu_stream_id(h, per_thread, c, &req.stream)) != CUDA_SUCCESS)
		return r;
	struct vgpu_rsp_u64 rsp;
	r = vgpu_rpc(VGPU_OP_STREAM_BEGIN_CAPTURE, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		capture_set(req.stream, rsp.value, NULL);
	return r;
}

VGPU_EXPORT CUresult cuStreamBeginCapture_v2(CUstream h, CUstreamCaptureMode mode) { return begin_capture(h, mode, 0); }
VGPU_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream h, CUstreamCaptureMode mode) { return begin_capture(h, mode, 1); }
/* The first ABI had no mode: global. */
VGPU_EXPORT CUresult cuStreamBeginCapture(CUstream h) { return begin_capture(h, CU_STREAM_CAPTURE_MODE_GLOBAL, 0); }
VGPU_EXPORT CUresult cuStreamBeginCapture_ptsz(CUstream h) { return begin_capture(h, CU_STREAM_CAPTURE_MODE_GLOBAL, 1); }

/*
 * Capture into an existing graph (XLA traces library calls into its command
 * buffers this way).  Edge data other than the default (full completion, no
 * ports) is not remoted.
 */
static CUresult begin_capture_to_graph(CUstream h, CUgraph hGraph, const CUgraphNode *deps, const CUgraphEdgeData *edges, size_t n,
				       CUstreamCaptureMode mode, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *g = vgpu_object(hGraph, VGPU_MAGIC_GRAPH);
	if (!g)
		return CUDA_ERROR_INVALID_HANDLE;
	if (n > VGPU_GRAPH_DEPS_MAX || (n && !deps))
		return CUDA_ERROR_INVALID_VALUE;
	struct {
		struct vgpu_req_capture_to_graph hdr;
		uint32_t deps[VGPU_GRAPH_DEPS_MAX];
	} *req = calloc(1, sizeof(*req));
	if (!req)
		return CUDA_ERROR_OUT_OF_MEMORY;
	req->hdr = (struct vgpu_req_capture_to_graph){ .mode = (uint32_t)mode, .graph = g->id, .dep_count = (uint32_t)n };
	r = vgpu_stream_id(h, per_thread, c, &req->hdr.stream);
	for (size_t i = 0; r == CUDA_SUCCESS && i < n; i++) {
		if (!vgpu_node_id(deps[i], &req->deps[i]))
			r = CUDA_ERROR_INVALID_VALUE;
		else if (edges && (edges[i].from_port || edges[i].to_port || edges[i].type))
			r = vgpu_unsupported("cuStreamBeginCaptureToGraph with edge data other than the default");
	}
	struct vgpu_rsp_u64 rsp;
	if (r == CUDA_SUCCESS)
		r = vgpu_rpc(VGPU_OP_STREAM_CAPTURE_TO_GRAPH, c->id, req, sizeof(req->hdr) + n * sizeof(uint32_t), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		capture_set(req->hdr.stream, rsp.value, g);
	free(req);
	return r;
}

VGPU_EXPORT CUresult cuStreamBeginCaptureToGraph(CUstream h, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edges, size_t n,
						 CUstreamCaptureMode mode)
{
	return begin_capture_to_graph(h, g, deps, edges, n, mode, 0);
}
VGPU_EXPORT CUresult cuStreamBeginCaptureToGraph_ptsz(CUstream h, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edges,
						      size_t n, CUstreamCaptureMode mode)
{
	return begin_capture_to_graph(h, g, deps, edges, n, mode, 1);
}

static CUresult end_capture(CUstream h, CUgraph *phGraph, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!phGraph)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_capture req = { 0 };
	if ((r = vgpu_stream_id(h, per_thread, c, &req.stream)) != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct vgpu_rsp_handle rsp;
	r = vgpu_rpc(VGPU_OP_STREAM_END_CAPTURE, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	/* Whatever the answer, the stream no longer captures (the driver ends a broken capture too). */
	struct vgpu_graph *into = capture_clear(req.stream);
	if (r != CUDA_SUCCESS) {
		free(g);
		*phGraph = NULL;
		return r;
	}
	/* A capture into an existing graph ends with that graph (the proxy answers its id). */
	if (into && vgpu_object(into, VGPU_MAGIC_GRAPH) && into->id == rsp.id) {
		free(g);
		*phGraph = (CUgraph)into;
		return CUDA_SUCCESS;
	}
	*g = (struct vgpu_graph){ .magic = VGPU_MAGIC_GRAPH, .id = rsp.id, .ctx = c };
	*phGraph = (CUgraph)g;
	return CUDA_SUCCESS;
}

VGPU_EXPORT CUresult cuStreamEndCapture(CUstream h, CUgraph *g) { return end_capture(h, g, 0); }
VGPU_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream h, CUgraph *g) { return end_capture(h, g, 1); }

/* --- graphs --- */

static CUresult instantiate(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags, CUstream upload, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *g = vgpu_object(hGraph, VGPU_MAGIC_GRAPH);
	if (!g)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!phGraphExec)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_graph *e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct vgpu_req_graph req = { .id = g->id, .flags = flags & ~(unsigned long long)CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD };
	struct vgpu_rsp_handle rsp;
	r = vgpu_rpc(VGPU_OP_GRAPH_INSTANTIATE, c->id, &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS) {
		free(e);
		return r;
	}
	*e = (struct vgpu_graph){ .magic = VGPU_MAGIC_GRAPH_EXEC, .id = rsp.id, .ctx = c };
	*phGraphExec = (CUgraphExec)e;
	/* The upload flag means: instantiate, then upload on the given stream. */
	if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) {
		struct vgpu_req_graph up = { .id = e->id };
		if ((r = vgpu_stream_id(upload, per_thread, c, &up.stream)) == CUDA_SUCCESS)
			r = vgpu_post(VGPU_OP_GRAPH_UPLOAD, c->id, &up, sizeof(up));
	}
	return r;
}

VGPU_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)
{
	if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD)
		return CUDA_ERROR_INVALID_VALUE; /* needs a stream: only through the params form */
	return instantiate(phGraphExec, hGraph, flags, NULL, 0);
}

static CUresult instantiate_params(CUgraphExec *phGraphExec, CUgraph hGraph, CUDA_GRAPH_INSTANTIATE_PARAMS *p, int per_thread)
{
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = instantiate(phGraphExec, hGraph, p->flags, p->hUploadStream, per_thread);
	p->hErrNode_out = NULL;
	p->result_out = r == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS : CUDA_GRAPH_INSTANTIATE_ERROR;
	return r;
}

VGPU_EXPORT CUresult cuGraphInstantiateWithParams(CUgraphExec *e, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS *p) { return instantiate_params(e, g, p, 0); }
VGPU_EXPORT CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *e, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS *p) { return instantiate_params(e, g, p, 1); }

static CUresult on_stream(uint16_t op, CUgraphExec hExec, CUstream h, int per_thread)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *e = vgpu_object(hExec, VGPU_MAGIC_GRAPH_EXEC);
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	struct vgpu_req_graph req = { .id = e->id };
	if ((r = vgpu_stream_id(h, per_thread, c, &req.stream)) != CUDA_SUCCESS)
		return r;
	/* Like a kernel launch: sent without waiting. */
	return vgpu_post(op, c->id, &req, sizeof(req));
}

VGPU_EXPORT CUresult cuGraphLaunch(CUgraphExec e, CUstream h) { return on_stream(VGPU_OP_GRAPH_LAUNCH, e, h, 0); }
VGPU_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec e, CUstream h) { return on_stream(VGPU_OP_GRAPH_LAUNCH, e, h, 1); }
VGPU_EXPORT CUresult cuGraphUpload(CUgraphExec e, CUstream h) { return on_stream(VGPU_OP_GRAPH_UPLOAD, e, h, 0); }
VGPU_EXPORT CUresult cuGraphUpload_ptsz(CUgraphExec e, CUstream h) { return on_stream(VGPU_OP_GRAPH_UPLOAD, e, h, 1); }

/* Destroys a graph or an executable graph; the handle stays allocated, marked dead. */
static CUresult destroy(const void *h, uint32_t magic, uint16_t op)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *g = vgpu_object(h, magic);
	if (!g)
		return CUDA_ERROR_INVALID_HANDLE;
	struct vgpu_req_handle req = { .id = g->id };
	r = vgpu_rpc(op, vgpu_ctx_id(g->ctx), &req, sizeof(req), NULL, 0);
	g->magic = VGPU_MAGIC_DEAD;
	return r;
}

VGPU_EXPORT CUresult cuGraphDestroy(CUgraph h) { return destroy(h, VGPU_MAGIC_GRAPH, VGPU_OP_GRAPH_DESTROY); }
VGPU_EXPORT CUresult cuGraphExecDestroy(CUgraphExec h) { return destroy(h, VGPU_MAGIC_GRAPH_EXEC, VGPU_OP_GRAPH_EXEC_DESTROY); }
