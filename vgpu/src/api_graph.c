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

static void capture_set(uint32_t stream, unsigned long long id)
{
	pthread_mutex_lock(&capture_lock);
	for (int i = 0; i < CAPTURES_MAX; i++)
		if (captures[i].stream == 0) {
			captures[i] = (struct capture){ stream, id };
			__atomic_add_fetch(&capture_count, 1, __ATOMIC_RELEASE);
			break;
		}
	pthread_mutex_unlock(&capture_lock);
}

static void capture_clear(uint32_t stream)
{
	pthread_mutex_lock(&capture_lock);
	for (int i = 0; i < CAPTURES_MAX; i++)
		if (captures[i].stream == stream) {
			captures[i].stream = 0;
			__atomic_sub_fetch(&capture_count, 1, __ATOMIC_RELEASE);
		}
	pthread_mutex_unlock(&capture_lock);
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
		capture_set(req.stream, rsp.value);
	return r;
}

VGPU_EXPORT CUresult cuStreamBeginCapture_v2(CUstream h, CUstreamCaptureMode mode) { return begin_capture(h, mode, 0); }
VGPU_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream h, CUstreamCaptureMode mode) { return begin_capture(h, mode, 1); }
/* The first ABI had no mode: global. */
VGPU_EXPORT CUresult cuStreamBeginCapture(CUstream h) { return begin_capture(h, CU_STREAM_CAPTURE_MODE_GLOBAL, 0); }
VGPU_EXPORT CUresult cuStreamBeginCapture_ptsz(CUstream h) { return begin_capture(h, CU_STREAM_CAPTURE_MODE_GLOBAL, 1); }

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
	capture_clear(req.stream);
	if (r != CUDA_SUCCESS) {
		free(g);
		*phGraph = NULL;
		return r;
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

/* How many nodes a graph has (what runtimes ask to check a capture); node handles themselves stay in the proxy. */
VGPU_EXPORT CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *g = vgpu_object(hGraph, VGPU_MAGIC_GRAPH);
	if (!g)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!numNodes)
		return CUDA_ERROR_INVALID_VALUE;
	if (nodes)
		return vgpu_unsupported("cuGraphGetNodes with a node array (node handles are not remoted)");
	struct vgpu_req_handle req = { .id = g->id };
	struct vgpu_rsp_u64 rsp;
	r = vgpu_rpc(VGPU_OP_GRAPH_NODE_COUNT, vgpu_ctx_id(g->ctx), &req, sizeof(req), &rsp, sizeof(rsp));
	if (r == CUDA_SUCCESS)
		*numNodes = (size_t)rsp.value;
	return r;
}

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
