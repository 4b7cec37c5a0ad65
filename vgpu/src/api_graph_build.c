/*
 * api_graph_build.c — graphs built node by node, as XLA builds its command
 * buffers: cuGraphCreate, cuGraphAdd*Node, the executable graph's per-node
 * updates and the node lists.
 *
 * The graph and its nodes live in the proxy.  What points at guest memory is
 * sent by value when the node is made, as the driver itself copies it then:
 * kernel arguments are packed as for a launch, memsets and copies go as
 * their addresses and sizes.  Node handles are the proxy's ids (capture.h).
 * Host nodes, memory allocation nodes, conditional nodes and copies that
 * touch host memory are answered NOT_SUPPORTED (and listed at exit).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "capture.h"
#include "module.h"

/* A node's parameters as they travel, after its request header and dependencies. */
struct node_params {
	uint32_t type;  /* VGPU_NODE_* */
	size_t len;     /* bytes of `u` that travel */
	union {
		struct vgpu_kernel_call kernel;
		struct vgpu_req_memset memset;
		struct vgpu_node_memcpy memcpy;
		struct vgpu_node_ref ref;
	} u;
};

/* --- parameters, from each of the driver's structures --- */

static CUresult kernel_params(struct node_params *p, CUfunction f, CUkernel k, CUcontext ctx, const unsigned grid[3],
			      const unsigned block[3], unsigned shmem, void **kernelParams, void **extra)
{
	struct vgpu_ctx *c;
	CUresult r;
	/* ctx is only read for a CUkernel: a function carries its context. */
	if (!f && k)
		r = vgpu_ctx_arg(ctx, &c);
	else
		r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!f && !k)
		return CUDA_ERROR_INVALID_VALUE;
	p->type = VGPU_NODE_KERNEL;
	r = vgpu_kernel_call(&p->u.kernel, f ? f : (CUfunction)k, c, grid, block, shmem, kernelParams, extra);
	p->len = sizeof(p->u.kernel.req) + p->u.kernel.req.param_bytes;
	return r;
}

#define KERNEL_PARAMS(p, kp, kern, ctx) \
	kernel_params(p, (kp)->func, kern, ctx, (const unsigned[3]){ (kp)->gridDimX, (kp)->gridDimY, (kp)->gridDimZ }, \
		      (const unsigned[3]){ (kp)->blockDimX, (kp)->blockDimY, (kp)->blockDimZ }, (kp)->sharedMemBytes, \
		      (kp)->kernelParams, (kp)->extra)

static CUresult memset_params(struct node_params *p, CUdeviceptr dst, size_t pitch, unsigned value, unsigned elem, size_t width,
			      size_t height)
{
	if (elem != 1 && elem != 2 && elem != 4)
		return CUDA_ERROR_INVALID_VALUE;
	p->type = VGPU_NODE_MEMSET;
	p->len = sizeof(p->u.memset);
	p->u.memset = (struct vgpu_req_memset){ .dst = dst, .pitch = height > 1 ? pitch : 0, .width = width, .height = height,
						 .value = value, .elem_size = elem };
	return CUDA_SUCCESS;
}

static int device_side(CUmemorytype t)
{
	return t == CU_MEMORYTYPE_DEVICE || t == CU_MEMORYTYPE_UNIFIED;
}

/* A copy node: device to device, one row (what XLA makes); anything else is not remoted. */
static CUresult memcpy_params(struct node_params *p, const CUDA_MEMCPY3D *m)
{
	if (!m)
		return CUDA_ERROR_INVALID_VALUE;
	if (!device_side(m->srcMemoryType) || !device_side(m->dstMemoryType) || m->Height > 1 || m->Depth > 1 || m->srcY || m->srcZ ||
	    m->dstY || m->dstZ || m->srcLOD || m->dstLOD)
		return vgpu_unsupported("graph memcpy node other than one row from device to device memory");
	p->type = VGPU_NODE_MEMCPY;
	p->len = sizeof(p->u.memcpy);
	p->u.memcpy = (struct vgpu_node_memcpy){ .dst = m->dstDevice + m->dstXInBytes, .src = m->srcDevice + m->srcXInBytes,
						  .bytes = m->WidthInBytes };
	return CUDA_SUCCESS;
}

static CUresult ref_params(struct node_params *p, uint32_t type, uint32_t id)
{
	p->type = type;
	p->len = sizeof(p->u.ref);
	p->u.ref = (struct vgpu_node_ref){ .id = id };
	return CUDA_SUCCESS;
}

static CUresult child_params(struct node_params *p, CUgraph child)
{
	struct vgpu_graph *g = vgpu_object(child, VGPU_MAGIC_GRAPH);
	return g ? ref_params(p, VGPU_NODE_CHILD, g->id) : CUDA_ERROR_INVALID_HANDLE;
}

static CUresult event_params(struct node_params *p, uint32_t type, CUevent h)
{
	struct vgpu_event *e;
	CUresult r = vgpu_event_arg(h, &e);
	return r == CUDA_SUCCESS ? ref_params(p, type, e->id) : r;
}

static CUresult empty_params(struct node_params *p)
{
	p->type = VGPU_NODE_EMPTY;
	p->len = 0;
	return CUDA_SUCCESS;
}

/* CUgraphNodeParams (cuGraphAddNode, cuGraphExecNodeSetParams): the types a runtime builds graphs of. */
static CUresult generic_params(struct node_params *p, const CUgraphNodeParams *np)
{
	if (!np)
		return CUDA_ERROR_INVALID_VALUE;
	switch (np->type) {
	case CU_GRAPH_NODE_TYPE_KERNEL:
		return KERNEL_PARAMS(p, &np->kernel, np->kernel.kern, np->kernel.ctx);
	case CU_GRAPH_NODE_TYPE_MEMCPY:
		if (np->memcpy.flags || np->memcpy.reserved)
			return CUDA_ERROR_INVALID_VALUE;
		return memcpy_params(p, &np->memcpy.copyParams);
	case CU_GRAPH_NODE_TYPE_MEMSET:
		return memset_params(p, np->memset.dst, np->memset.pitch, np->memset.value, np->memset.elementSize, np->memset.width,
				     np->memset.height);
	case CU_GRAPH_NODE_TYPE_GRAPH:
		if (np->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE)
			return vgpu_unsupported("graph child node that takes over its graph (CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE)");
		return child_params(p, np->graph.graph);
	case CU_GRAPH_NODE_TYPE_EMPTY:
		return empty_params(p);
	case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
		return event_params(p, VGPU_NODE_EVENT_WAIT, np->eventWait.event);
	case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
		return event_params(p, VGPU_NODE_EVENT_RECORD, np->eventRecord.event);
	case CU_GRAPH_NODE_TYPE_HOST:
		return vgpu_unsupported("graph host node");
	case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
	case CU_GRAPH_NODE_TYPE_MEM_FREE:
		return vgpu_unsupported("graph memory allocation or free node");
	case CU_GRAPH_NODE_TYPE_CONDITIONAL:
		return vgpu_unsupported("graph conditional node");
	default:
		return vgpu_unsupported("graph node of this type (external semaphores, batch memory operations)");
	}
}

/* --- requests --- */

/* Adds a node with parameters p to graph h after deps; its handle in *out. */
static CUresult add_node(CUgraphNode *out, CUgraph h, const CUgraphNode *deps, const CUgraphEdgeData *edges, size_t n,
			 const struct node_params *p)
{
	struct vgpu_graph *g = vgpu_object(h, VGPU_MAGIC_GRAPH);
	if (!g)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!out || n > VGPU_GRAPH_DEPS_MAX || (n && !deps))
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_graph_node hdr = { .graph = g->id, .type = p->type, .dep_count = (uint32_t)n };
	uint32_t ids[VGPU_GRAPH_DEPS_MAX];
	for (size_t i = 0; i < n; i++) {
		if (!vgpu_node_id(deps[i], &ids[i]))
			return CUDA_ERROR_INVALID_VALUE;
		if (edges && (edges[i].from_port || edges[i].to_port || edges[i].type))
			return vgpu_unsupported("graph dependencies with edge data other than the default");
	}
	struct vgpu_part parts[3] = { { &hdr, sizeof(hdr) }, { ids, n * sizeof(uint32_t) }, { &p->u, p->len } };
	struct vgpu_rsp_handle rsp;
	memset(&rsp, 0, sizeof(rsp));
	struct vgpu_ctx *c = vgpu_current_ctx();
	CUresult r = vgpu_call(vgpu.ch, VGPU_OP_GRAPH_ADD_NODE, vgpu_ctx_id(c), parts, 3, &rsp, sizeof(rsp), NULL);
	if (r == CUDA_SUCCESS)
		*out = vgpu_node_handle(rsp.id);
	return r;
}

/* Gives node hNode of executable graph hExec the parameters p. */
static CUresult set_exec_node(CUgraphExec hExec, CUgraphNode hNode, const struct node_params *p)
{
	struct vgpu_graph *e = vgpu_object(hExec, VGPU_MAGIC_GRAPH_EXEC);
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	struct vgpu_req_graph_exec_node hdr = { .exec = e->id, .type = p->type };
	if (!vgpu_node_id(hNode, &hdr.node))
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_part parts[2] = { { &hdr, sizeof(hdr) }, { &p->u, p->len } };
	return vgpu_call(vgpu.ch, VGPU_OP_GRAPH_EXEC_SET_NODE, vgpu_ctx_id(e->ctx), parts, 2, NULL, 0, NULL);
}

/* Runs a node request on heap-held parameters (a kernel's may be 32 KiB: not for every thread's stack). */
#define WITH_PARAMS(fill, then)                                         \
	do {                                                            \
		CUresult r_ = vgpu_ready();                             \
		if (r_ != CUDA_SUCCESS)                                 \
			return r_;                                      \
		struct node_params *p = malloc(sizeof(*p));             \
		if (!p)                                                 \
			return CUDA_ERROR_OUT_OF_MEMORY;                \
		r_ = (fill);                                            \
		if (r_ == CUDA_SUCCESS)                                 \
			r_ = (then);                                    \
		free(p);                                                \
		return r_;                                              \
	} while (0)

/* --- graphs --- */

VGPU_EXPORT CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	if (!phGraph || flags)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct vgpu_ctx *c = vgpu_current_ctx();
	struct vgpu_req_u32 req = { .value = flags };
	struct vgpu_rsp_handle rsp;
	r = vgpu_rpc(VGPU_OP_GRAPH_CREATE, vgpu_ctx_id(c), &req, sizeof(req), &rsp, sizeof(rsp));
	if (r != CUDA_SUCCESS) {
		free(g);
		return r;
	}
	*g = (struct vgpu_graph){ .magic = VGPU_MAGIC_GRAPH, .id = rsp.id, .ctx = c };
	*phGraph = (CUgraph)g;
	return CUDA_SUCCESS;
}

/* --- adding nodes --- */

VGPU_EXPORT CUresult cuGraphAddKernelNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n,
					  const CUDA_KERNEL_NODE_PARAMS_v1 *kp)
{
	if (!kp)
		return CUDA_ERROR_INVALID_VALUE;
	WITH_PARAMS(KERNEL_PARAMS(p, kp, NULL, NULL), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddKernelNode_v2(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n,
					     const CUDA_KERNEL_NODE_PARAMS *kp)
{
	if (!kp)
		return CUDA_ERROR_INVALID_VALUE;
	WITH_PARAMS(KERNEL_PARAMS(p, kp, kp->kern, kp->ctx), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddMemsetNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n,
					  const CUDA_MEMSET_NODE_PARAMS *mp, CUcontext ctx)
{
	(void)ctx; /* one device: the memset runs where the graph runs */
	if (!mp)
		return CUDA_ERROR_INVALID_VALUE;
	WITH_PARAMS(memset_params(p, mp->dst, mp->pitch, mp->value, mp->elementSize, mp->width, mp->height),
		    add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddMemcpyNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n, const CUDA_MEMCPY3D *mp,
					  CUcontext ctx)
{
	(void)ctx;
	WITH_PARAMS(memcpy_params(p, mp), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddEmptyNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n)
{
	WITH_PARAMS(empty_params(p), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddChildGraphNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n, CUgraph child)
{
	WITH_PARAMS(child_params(p, child), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddEventRecordNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n, CUevent ev)
{
	WITH_PARAMS(event_params(p, VGPU_NODE_EVENT_RECORD, ev), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddEventWaitNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n, CUevent ev)
{
	WITH_PARAMS(event_params(p, VGPU_NODE_EVENT_WAIT, ev), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddNode(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t n, CUgraphNodeParams *np)
{
	WITH_PARAMS(generic_params(p, np), add_node(node, g, deps, NULL, n, p));
}

VGPU_EXPORT CUresult cuGraphAddNode_v2(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edges, size_t n,
				       CUgraphNodeParams *np)
{
	WITH_PARAMS(generic_params(p, np), add_node(node, g, deps, edges, n, p));
}

/* --- updating an executable graph's nodes --- */

VGPU_EXPORT CUresult cuGraphExecKernelNodeSetParams(CUgraphExec e, CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS_v1 *kp)
{
	if (!kp)
		return CUDA_ERROR_INVALID_VALUE;
	WITH_PARAMS(KERNEL_PARAMS(p, kp, NULL, NULL), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec e, CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS *kp)
{
	if (!kp)
		return CUDA_ERROR_INVALID_VALUE;
	WITH_PARAMS(KERNEL_PARAMS(p, kp, kp->kern, kp->ctx), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec e, CUgraphNode node, const CUDA_MEMSET_NODE_PARAMS *mp, CUcontext ctx)
{
	(void)ctx;
	if (!mp)
		return CUDA_ERROR_INVALID_VALUE;
	WITH_PARAMS(memset_params(p, mp->dst, mp->pitch, mp->value, mp->elementSize, mp->width, mp->height), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec e, CUgraphNode node, const CUDA_MEMCPY3D *mp, CUcontext ctx)
{
	(void)ctx;
	WITH_PARAMS(memcpy_params(p, mp), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec e, CUgraphNode node, CUgraph child)
{
	WITH_PARAMS(child_params(p, child), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec e, CUgraphNode node, CUevent ev)
{
	WITH_PARAMS(event_params(p, VGPU_NODE_EVENT_RECORD, ev), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec e, CUgraphNode node, CUevent ev)
{
	WITH_PARAMS(event_params(p, VGPU_NODE_EVENT_WAIT, ev), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphExecNodeSetParams(CUgraphExec e, CUgraphNode node, CUgraphNodeParams *np)
{
	WITH_PARAMS(generic_params(p, np), set_exec_node(e, node, p));
}

VGPU_EXPORT CUresult cuGraphNodeSetEnabled(CUgraphExec hExec, CUgraphNode hNode, unsigned int isEnabled)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *e = vgpu_object(hExec, VGPU_MAGIC_GRAPH_EXEC);
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	struct vgpu_req_graph_exec_node req = { .exec = e->id, .value = isEnabled ? 1 : 0 };
	if (!vgpu_node_id(hNode, &req.node))
		return CUDA_ERROR_INVALID_VALUE;
	return vgpu_rpc(VGPU_OP_GRAPH_NODE_ENABLE, vgpu_ctx_id(e->ctx), &req, sizeof(req), NULL, 0);
}

/* --- node lists --- */

/*
 * The nodes of a graph or a node's dependencies, as the driver answers them:
 * with nodes NULL the count; else up to *n handles, *n set to how many were
 * written (the rest of the array NULL), edge data all default.
 */
static CUresult node_list(uint32_t what, uint32_t id, CUgraphNode *nodes, CUgraphEdgeData *edges, size_t *n)
{
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	struct vgpu_req_node_list req = { .id = id, .what = what };
	struct {
		struct vgpu_rsp_node_list hdr;
		uint32_t ids[VGPU_NODE_LIST_MAX];
	} *rsp = malloc(sizeof(*rsp));
	if (!rsp)
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult r = vgpu_rpc(VGPU_OP_GRAPH_NODE_LIST, vgpu_ctx_id(vgpu_current_ctx()), &req, sizeof(req), rsp, sizeof(*rsp));
	if (r == CUDA_SUCCESS) {
		size_t count = rsp->hdr.count;
		if (!nodes) {
			*n = count;
		} else {
			if (count > VGPU_NODE_LIST_MAX && *n > VGPU_NODE_LIST_MAX)
				r = vgpu_unsupported("graph node lists longer than 4096 nodes");
			size_t wrote = count < *n ? count : *n;
			for (size_t i = 0; r == CUDA_SUCCESS && i < *n; i++) {
				nodes[i] = i < wrote ? vgpu_node_handle(rsp->ids[i]) : NULL;
				if (edges)
					memset(&edges[i], 0, sizeof(edges[i]));
			}
			if (r == CUDA_SUCCESS)
				*n = wrote;
		}
	}
	free(rsp);
	return r;
}

/* How many nodes a graph has, or the nodes themselves. */
VGPU_EXPORT CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_graph *g = vgpu_object(hGraph, VGPU_MAGIC_GRAPH);
	if (!g)
		return CUDA_ERROR_INVALID_HANDLE;
	return node_list(VGPU_LIST_GRAPH_NODES, g->id, nodes, NULL, numNodes);
}

static CUresult node_deps(CUgraphNode hNode, CUgraphNode *deps, CUgraphEdgeData *edges, size_t *n)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	uint32_t id;
	if (!vgpu_node_id(hNode, &id))
		return CUDA_ERROR_INVALID_VALUE;
	return node_list(VGPU_LIST_NODE_DEPS, id, deps, edges, n);
}

VGPU_EXPORT CUresult cuGraphNodeGetDependencies(CUgraphNode node, CUgraphNode *deps, size_t *n)
{
	return node_deps(node, deps, NULL, n);
}

VGPU_EXPORT CUresult cuGraphNodeGetDependencies_v2(CUgraphNode node, CUgraphNode *deps, CUgraphEdgeData *edges, size_t *n)
{
	return node_deps(node, deps, edges, n);
}

/*
 * Graph memory is what memory allocation nodes keep cached; those nodes are
 * not remoted, so there is none to trim.
 */
VGPU_EXPORT CUresult cuDeviceGraphMemTrim(CUdevice dev)
{
	CUresult r = vgpu_ready();
	return r != CUDA_SUCCESS ? r : vgpu_device_arg(dev);
}
