/*
 * graph_build.c — CUDA graphs built node by node, the way XLA builds its
 * command buffers: cuGraphCreate, kernel, memset, memcpy, empty, child-graph
 * and event nodes with dependencies (cuGraphAddKernelNode and cuGraphAddNode),
 * instantiate and launch several times, per-node updates of the executable
 * graph (kernel parameters, memset value, copy source, child graph), a node
 * disabled and enabled again, capture into an existing graph
 * (cuStreamBeginCaptureToGraph, ending with the same graph), node lists
 * (cuGraphGetNodes, cuGraphNodeGetDependencies), and the errors a careless
 * caller gets (a dependency from another graph, a node of a destroyed graph).
 *
 * Writes every result buffer to OUT_DIR; stdout: checksums and CUresults.
 */
#include "common.h"

#define N 4096u
#define BLOCK 256u

static CUfunction f_axpb, f_add;

/* f over N elements, BLOCK threads a block. */
static CUDA_KERNEL_NODE_PARAMS kernel_params(CUfunction f, void **params)
{
    CUDA_KERNEL_NODE_PARAMS kp;
    memset(&kp, 0, sizeof kp);
    kp.func = f;
    kp.gridDimX = blocks_for(N, BLOCK);
    kp.gridDimY = kp.gridDimZ = 1;
    kp.blockDimX = BLOCK;
    kp.blockDimY = kp.blockDimZ = 1;
    kp.kernelParams = params;
    return kp;
}

static CUgraphNode kernel_node(CUgraph g, const CUgraphNode *deps, size_t ndeps, CUfunction f, void **params)
{
    CUDA_KERNEL_NODE_PARAMS kp = kernel_params(f, params);
    CUgraphNode node = NULL;
    CHECK(cuGraphAddKernelNode(&node, g, deps, ndeps, &kp));
    return node;
}

static CUDA_MEMCPY3D d2d(CUdeviceptr dst, CUdeviceptr src, size_t bytes)
{
    CUDA_MEMCPY3D m;
    memset(&m, 0, sizeof m);
    m.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    m.srcDevice = src;
    m.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    m.dstDevice = dst;
    m.WidthInBytes = bytes;
    m.Height = 1;
    m.Depth = 1;
    return m;
}

static CUDA_MEMSET_NODE_PARAMS fill(CUdeviceptr dst, unsigned value)
{
    CUDA_MEMSET_NODE_PARAMS p;
    memset(&p, 0, sizeof p);
    p.dst = dst;
    p.value = value;
    p.elementSize = 4;
    p.width = N;
    p.height = 1;
    return p;
}

static unsigned long long dump(const struct args *a, const char *name, CUdeviceptr d)
{
    unsigned int *h = xmalloc(N * sizeof(unsigned int));
    CHECK(cuMemcpyDtoH(h, d, N * sizeof(unsigned int)));
    write_file(a->out_dir, name, h, N * sizeof(unsigned int));
    unsigned long long sum = fnv1a64(h, N * sizeof(unsigned int));
    free(h);
    printf("%s: fnv1a64 %016llx\n", name, sum);
    return sum;
}

static size_t count_nodes(CUgraph g)
{
    size_t n = 0;
    CHECK(cuGraphGetNodes(g, NULL, &n));
    return n;
}

int main(int argc, char **argv)
{
    struct args args = parse_args(argc, argv);
    CUdevice dev;
    CUcontext ctx = setup_primary(&dev);

    CUmodule mod = load_module(&args, "graph_build.fatbin");
    CHECK(cuModuleGetFunction(&f_axpb, mod, "axpb"));
    CHECK(cuModuleGetFunction(&f_add, mod, "add_into"));

    const size_t bytes = N * sizeof(unsigned int);
    CUdeviceptr a, b, c;
    CHECK(cuMemAlloc(&a, bytes));
    CHECK(cuMemAlloc(&b, bytes));
    CHECK(cuMemAlloc(&c, bytes));
    CUstream s;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUevent ev;
    CHECK(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));

    /* A child graph: b = b * 3 + 1. */
    CUgraph child;
    CHECK(cuGraphCreate(&child, 0));
    unsigned n = N, mul3 = 3, add1 = 1;
    void *child_params[] = { &b, &n, &mul3, &add1 };
    kernel_node(child, NULL, 0, f_axpb, child_params);
    printf("child nodes: %zu\n", count_nodes(child));

    /*
     * The graph:  fill_a(7) -> axpb(a, 5, 2) --\
     *             fill_b(9) -> child(b) --------> join(empty) -> add(a += b) -> copy(c <- a) -> record(ev)
     */
    CUgraph g;
    CHECK(cuGraphCreate(&g, 0));
    CUgraphNode fill_a, fill_b, join, copy, record, child_node;
    CUDA_MEMSET_NODE_PARAMS fa = fill(a, 7), fb = fill(b, 9);
    CHECK(cuGraphAddMemsetNode(&fill_a, g, NULL, 0, &fa, ctx));
    CHECK(cuGraphAddMemsetNode(&fill_b, g, NULL, 0, &fb, ctx));
    unsigned mul5 = 5, add2 = 2;
    void *axpb_params[] = { &a, &n, &mul5, &add2 };
    CUgraphNode axpb = kernel_node(g, &fill_a, 1, f_axpb, axpb_params);
    CHECK(cuGraphAddChildGraphNode(&child_node, g, &fill_b, 1, child));
    CUgraphNode both[2] = { axpb, child_node };
    CHECK(cuGraphAddEmptyNode(&join, g, both, 2));
    void *add_params[] = { &a, &b, &n };
    CUgraphNode add = kernel_node(g, &join, 1, f_add, add_params);
    /* The copy through the generic cuGraphAddNode, as newer runtimes add nodes. */
    CUgraphNodeParams np;
    memset(&np, 0, sizeof np);
    np.type = CU_GRAPH_NODE_TYPE_MEMCPY;
    np.memcpy.copyCtx = ctx;
    np.memcpy.copyParams = d2d(c, a, bytes);
    CHECK(cuGraphAddNode(&copy, g, &add, NULL, 1, &np));
    CHECK(cuGraphAddEventRecordNode(&record, g, &copy, 1, ev));
    printf("graph nodes: %zu\n", count_nodes(g));

    /* Node lists: the graph's nodes and join's dependencies, as the handles this program holds. */
    CUgraphNode listed[16];
    size_t nlisted = 16;
    CHECK(cuGraphGetNodes(g, listed, &nlisted));
    int found = 0;
    for (size_t i = 0; i < nlisted; i++)
        found += listed[i] == fill_a || listed[i] == add || listed[i] == record;
    printf("listed %zu nodes, 3 known ones among them: %s\n", nlisted, yes_no(found == 3));
    CUgraphNode deps[4] = { NULL, NULL, NULL, NULL };
    size_t ndeps = 4;
    CHECK(cuGraphNodeGetDependencies(join, deps, NULL, &ndeps));
    printf("join depends on %zu nodes: axpb %s, child %s\n", ndeps, yes_no(deps[0] == axpb || deps[1] == axpb),
           yes_no(deps[0] == child_node || deps[1] == child_node));

    CUgraphExec exec;
    CHECK(cuGraphInstantiate(&exec, g, 0));
    CHECK(cuGraphLaunch(exec, s));
    CHECK(cuEventSynchronize(ev));
    dump(&args, "first_c.bin", c);      /* (7*5+2) + (9*3+1) = 65 each */

    /* Launch twice more: fills make it the same each time. */
    CHECK(cuGraphLaunch(exec, s));
    CHECK(cuGraphLaunch(exec, s));
    CHECK(cuStreamSynchronize(s));
    dump(&args, "third_c.bin", c);

    /* Per-node updates: new axpb factors, a new fill value, the copy from b, the child graph changed. */
    unsigned mul11 = 11, add4 = 4;
    void *axpb2[] = { &a, &n, &mul11, &add4 };
    CUDA_KERNEL_NODE_PARAMS kp = kernel_params(f_axpb, axpb2);
    CHECK(cuGraphExecKernelNodeSetParams(exec, axpb, &kp));
    CUDA_MEMSET_NODE_PARAMS fb2 = fill(b, 100);
    CHECK(cuGraphExecMemsetNodeSetParams(exec, fill_b, &fb2, ctx));
    CUDA_MEMCPY3D from_b = d2d(c, b, bytes);
    CHECK(cuGraphExecMemcpyNodeSetParams(exec, copy, &from_b, ctx));
    CUgraph child2;
    CHECK(cuGraphCreate(&child2, 0));
    unsigned mul2 = 2, add0 = 0;
    void *child2_params[] = { &b, &n, &mul2, &add0 };
    kernel_node(child2, NULL, 0, f_axpb, child2_params);
    CHECK(cuGraphExecChildGraphNodeSetParams(exec, child_node, child2));
    CHECK(cuGraphLaunch(exec, s));
    CHECK(cuStreamSynchronize(s));
    dump(&args, "updated_c.bin", c);    /* c = b = (7*11+4) + 200 = 281 */
    dump(&args, "updated_a.bin", a);

    /* A node disabled: the add does not run, c = b = 200. */
    CHECK(cuGraphNodeSetEnabled(exec, add, 0));
    CHECK(cuGraphLaunch(exec, s));
    CHECK(cuStreamSynchronize(s));
    dump(&args, "disabled_c.bin", c);
    CHECK(cuGraphNodeSetEnabled(exec, add, 1));
    CHECK(cuGraphLaunch(exec, s));
    CHECK(cuStreamSynchronize(s));
    dump(&args, "enabled_c.bin", c);

    /* Capture into an existing graph, after a node of it: XLA traces library calls this way. */
    CUgraph traced;
    CHECK(cuGraphCreate(&traced, 0));
    CUgraphNode start;
    CUDA_MEMSET_NODE_PARAMS fc = fill(c, 1);
    CHECK(cuGraphAddMemsetNode(&start, traced, NULL, 0, &fc, ctx));
    CHECK(cuStreamBeginCaptureToGraph(s, traced, &start, NULL, 1, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
    unsigned mul6 = 6, add3 = 3;
    void *cap_params[] = { &c, &n, &mul6, &add3 };
    CHECK(cuLaunchKernel(f_axpb, blocks_for(N, BLOCK), 1, 1, BLOCK, 1, 1, 0, s, cap_params, NULL));
    CHECK(cuMemsetD32Async(a, 5, N, s));
    CUgraph ended = NULL;
    CHECK(cuStreamEndCapture(s, &ended));
    printf("capture ended with the graph it captured into: %s\n", yes_no(ended == traced));
    printf("traced nodes: %zu\n", count_nodes(traced));
    CUgraphExec texec;
    CHECK(cuGraphInstantiateWithFlags(&texec, traced, 0));
    CHECK(cuGraphLaunch(texec, s));
    CHECK(cuStreamSynchronize(s));
    dump(&args, "traced_c.bin", c);     /* 1*6+3 = 9 */
    dump(&args, "traced_a.bin", a);

    /* Errors. */
    CUgraphNode stray;
    CUresult r = cuGraphAddEmptyNode(&stray, child, &add, 1);
    printf("dependency from another graph: %d %s\n", (int)r, cu_name(r));

    CHECK(cuGraphExecDestroy(texec));
    CHECK(cuGraphExecDestroy(exec));
    CHECK(cuGraphDestroy(traced));
    CHECK(cuGraphDestroy(g));
    CHECK(cuGraphDestroy(child));
    CHECK(cuGraphDestroy(child2));
    CHECK(cuEventDestroy(ev));
    CHECK(cuStreamDestroy(s));
    CHECK(cuMemFree(a));
    CHECK(cuMemFree(b));
    CHECK(cuMemFree(c));
    CHECK(cuModuleUnload(mod));
    printf("PASS\n");
    return 0;
}
