// Graphs built node by node (XLA's command buffers): cuGraphCreate, the
// cuGraphAdd*Node calls, the executable graph's per-node updates, node lists
// and capture into an existing graph.
//
// Node parameters arrive by value and are rebuilt in proxy-private memory
// (s.graphMem): kernel arguments as a packed buffer handed over through
// `extra`, as launches are; memsets and copies only over device memory the
// guest owns, as the immediate ones.  Dependencies must be nodes of the same
// graph.  A child-graph node clones its child, so every node counts against
// the guest's graph-node limit with the clones it brings (GraphNodes).
import * as W from '../wire/layout.js';
import * as A from '../wire/cuda-abi.js';
import * as C from '../native/libc.js';
import { CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_NOT_SUPPORTED, CUDA_ERROR_OUT_OF_MEMORY, CUDA_SUCCESS } from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';
import { memsetBytes } from './memory.js';
import { Refusal } from '../metrics/guest-stats.js';
import { op, OpSpec, P, Reply } from './op.js';

/** s.graphMem, laid out. */
const MEM = {
  /** The node's parameter struct (CUDA_KERNEL_NODE_PARAMS, CUDA_MEMSET_NODE_PARAMS or CUDA_MEMCPY3D). */
  PARAMS: 0,
  /** A kernel node's `extra` array: five pointers. */
  EXTRA: 256,
  /** The size word `extra` points at. */
  PARAM_SIZE: 304,
  /** The dependencies, as real nodes. */
  DEPS: 512,
  /** A kernel node's packed arguments; a node list's real nodes (never both). */
  BUFFER: 512 + W.GRAPH_DEPS_MAX * 8,
} as const;
const MAX_PARAM_BYTES = 32764;
const LIST_BYTES = W.NODE_LIST_MAX * 8;

interface NodeParams {
  type: number;
  /** The driver handle a child or event node names (0 otherwise). */
  handle: number;
  /** Nodes the node brings: 1, or 1 + its child graph's for a child-graph node. */
  weight: number;
}

/** Decodes the node parameters at `at` into s.graphMem; a CUresult when refused. */
function decodeParams(s: Session, req: Request, type: number, at: number): NodeParams | number {
  const m = s.graphMem;
  const dv = req.dv;
  const left = P + req.payloadLen - at;
  const node: NodeParams = { type, handle: 0, weight: 1 };
  m.u8.fill(0, MEM.PARAMS, MEM.DEPS);
  switch (type) {
    case W.NODE_EMPTY:
      return node;
    case W.NODE_KERNEL: {
      if (left < W.ReqLaunch.SIZE) return CUDA_ERROR_INVALID_VALUE;
      const flags = dv.getUint32(at + W.ReqLaunch.launch_flags, true);
      const paramBytes = dv.getUint32(at + W.ReqLaunch.param_bytes, true);
      if ((flags & ~W.LAUNCH_KERNEL_HANDLE) !== 0 || dv.getUint32(at + W.ReqLaunch.attr_count, true) !== 0) return CUDA_ERROR_INVALID_VALUE;
      if (paramBytes > MAX_PARAM_BYTES || W.ReqLaunch.SIZE + paramBytes > left) return CUDA_ERROR_INVALID_VALUE;
      const id = dv.getUint32(at + W.ReqLaunch.func, true);
      const kernel = (flags & W.LAUNCH_KERNEL_HANDLE) !== 0;
      const fn = s.realHandle(id, kernel ? 'kernel' : 'function');
      if (fn < 0) return CUDA_ERROR_INVALID_HANDLE;
      const K = A.CUDA_KERNEL_NODE_PARAMS;
      C.writeU64(m.dv, MEM.PARAMS + (kernel ? K.kern : K.func), fn);
      const dims = [K.gridDimX, K.gridDimY, K.gridDimZ, K.blockDimX, K.blockDimY, K.blockDimZ];
      for (let i = 0; i < 6; i++) m.dv.setUint32(MEM.PARAMS + dims[i]!, dv.getUint32(at + W.ReqLaunch.grid + i * 4, true), true);
      m.dv.setUint32(MEM.PARAMS + K.sharedMemBytes, dv.getUint32(at + W.ReqLaunch.shared_mem, true), true);
      if (paramBytes > 0) {
        const from = at + W.ReqLaunch.SIZE;
        m.u8.set(req.bytes.subarray(from, from + paramBytes), MEM.BUFFER);
        C.writeU64(m.dv, MEM.PARAM_SIZE, paramBytes);
        C.writeU64(m.dv, MEM.EXTRA, A.CU_LAUNCH_PARAM_BUFFER_POINTER_AS_INT);
        C.writeU64(m.dv, MEM.EXTRA + 8, m.addr + MEM.BUFFER);
        C.writeU64(m.dv, MEM.EXTRA + 16, A.CU_LAUNCH_PARAM_BUFFER_SIZE_AS_INT);
        C.writeU64(m.dv, MEM.EXTRA + 24, m.addr + MEM.PARAM_SIZE);
        C.writeU64(m.dv, MEM.EXTRA + 32, A.CU_LAUNCH_PARAM_END_AS_INT);
        C.writeU64(m.dv, MEM.PARAMS + K.extra, m.addr + MEM.EXTRA);
      }
      return node;
    }
    case W.NODE_MEMSET: {
      if (left < W.ReqMemset.SIZE) return CUDA_ERROR_INVALID_VALUE;
      const dst = C.readU64(dv, at + W.ReqMemset.dst);
      const pitch = C.readU64(dv, at + W.ReqMemset.pitch);
      const width = C.readU64(dv, at + W.ReqMemset.width);
      const height = C.readU64(dv, at + W.ReqMemset.height);
      const elem = dv.getUint32(at + W.ReqMemset.elem_size, true);
      if (elem !== 1 && elem !== 2 && elem !== 4) return CUDA_ERROR_INVALID_VALUE;
      const bytes = memsetBytes(pitch, width, height, elem);
      if (bytes <= 0 || !Number.isSafeInteger(dst) || !s.ranges.covers(dst, bytes)) return CUDA_ERROR_INVALID_VALUE;
      const M = A.CUDA_MEMSET_NODE_PARAMS;
      C.writeU64(m.dv, MEM.PARAMS + M.dst, dst);
      C.writeU64(m.dv, MEM.PARAMS + M.pitch, pitch);
      m.dv.setUint32(MEM.PARAMS + M.value, dv.getUint32(at + W.ReqMemset.value, true), true);
      m.dv.setUint32(MEM.PARAMS + M.elementSize, elem, true);
      C.writeU64(m.dv, MEM.PARAMS + M.width, width);
      C.writeU64(m.dv, MEM.PARAMS + M.height, height);
      return node;
    }
    case W.NODE_MEMCPY: {
      if (left < W.NodeMemcpy.SIZE) return CUDA_ERROR_INVALID_VALUE;
      const dst = C.readU64(dv, at + W.NodeMemcpy.dst);
      const src = C.readU64(dv, at + W.NodeMemcpy.src);
      const bytes = C.readU64(dv, at + W.NodeMemcpy.bytes);
      if (!Number.isSafeInteger(bytes) || bytes <= 0 || !s.ranges.covers(dst, bytes) || !s.ranges.covers(src, bytes)) return CUDA_ERROR_INVALID_VALUE;
      const M = A.CUDA_MEMCPY3D;
      m.dv.setUint32(MEM.PARAMS + M.srcMemoryType, A.CU_MEMORYTYPE_DEVICE, true);
      m.dv.setUint32(MEM.PARAMS + M.dstMemoryType, A.CU_MEMORYTYPE_DEVICE, true);
      C.writeU64(m.dv, MEM.PARAMS + M.srcDevice, src);
      C.writeU64(m.dv, MEM.PARAMS + M.dstDevice, dst);
      C.writeU64(m.dv, MEM.PARAMS + M.WidthInBytes, bytes);
      C.writeU64(m.dv, MEM.PARAMS + M.Height, 1);
      C.writeU64(m.dv, MEM.PARAMS + M.Depth, 1);
      return node;
    }
    case W.NODE_CHILD: {
      if (left < W.NodeRef.SIZE) return CUDA_ERROR_INVALID_VALUE;
      const id = dv.getUint32(at + W.NodeRef.id, true);
      node.handle = s.realHandle(id, 'graph');
      if (node.handle < 0) return CUDA_ERROR_INVALID_HANDLE;
      node.weight = 1 + s.graphNodes.weight(id);
      return node;
    }
    case W.NODE_EVENT_RECORD:
    case W.NODE_EVENT_WAIT: {
      if (left < W.NodeRef.SIZE) return CUDA_ERROR_INVALID_VALUE;
      node.handle = s.realHandle(dv.getUint32(at + W.NodeRef.id, true), 'event');
      return node.handle < 0 ? CUDA_ERROR_INVALID_HANDLE : node;
    }
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

/** Writes `count` dependencies (ids at `at`, nodes of graph `graph`) as real nodes at MEM.DEPS; a CUresult. */
function decodeDeps(s: Session, req: Request, at: number, count: number, graph: number): number {
  if (count > W.GRAPH_DEPS_MAX || at + count * 4 > P + req.payloadLen) return CUDA_ERROR_INVALID_VALUE;
  for (let i = 0; i < count; i++) {
    const real = s.graphNodes.real(req.dv.getUint32(at + i * 4, true), graph);
    if (real < 0) return CUDA_ERROR_INVALID_VALUE;
    C.writeU64(s.graphMem.dv, MEM.DEPS + i * 8, real);
  }
  return CUDA_SUCCESS;
}

/** The real current context of the request, for the memset and copy nodes' `ctx` argument. */
function requestCtx(s: Session, req: Request): number {
  return s.handles.get(req.ctx, 'ctx')?.ptr ?? 0;
}

function addNode(s: Session, req: Request, out: Reply): number {
  const cuda = s.driver()!;
  const graphId = req.dv.getUint32(P + W.ReqGraphNode.graph, true);
  const graph = s.realHandle(graphId, 'graph');
  if (graph < 0) return CUDA_ERROR_INVALID_HANDLE;
  const count = req.dv.getUint32(P + W.ReqGraphNode.dep_count, true);
  let r = decodeDeps(s, req, P + W.ReqGraphNode.SIZE, count, graphId);
  if (r !== CUDA_SUCCESS) return r;
  const node = decodeParams(s, req, req.dv.getUint32(P + W.ReqGraphNode.type, true), P + W.ReqGraphNode.SIZE + count * 4);
  if (typeof node === 'number') return node;
  if (!s.graphNodes.fits(node.weight)) {
    s.refuse(Refusal.graph_node_limit, req.op, node.weight);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  const o = s.out.addr;
  const deps = count ? s.graphMem.addr + MEM.DEPS : 0;
  const params = s.graphMem.addr + MEM.PARAMS;
  switch (node.type) {
    case W.NODE_EMPTY: r = cuda.cuGraphAddEmptyNode(o, graph, deps, count); break;
    case W.NODE_KERNEL: r = cuda.cuGraphAddKernelNode_v2(o, graph, deps, count, params); break;
    case W.NODE_MEMSET: r = cuda.cuGraphAddMemsetNode(o, graph, deps, count, params, requestCtx(s, req)); break;
    case W.NODE_MEMCPY: r = cuda.cuGraphAddMemcpyNode(o, graph, deps, count, params, requestCtx(s, req)); break;
    case W.NODE_CHILD: r = cuda.cuGraphAddChildGraphNode(o, graph, deps, count, node.handle); break;
    case W.NODE_EVENT_RECORD: r = cuda.cuGraphAddEventRecordNode(o, graph, deps, count, node.handle); break;
    default: r = cuda.cuGraphAddEventWaitNode(o, graph, deps, count, node.handle);
  }
  if (r !== CUDA_SUCCESS) return r;
  const real = C.readU64(s.out.dv, 0);
  const id = s.graphNodes.idOf(real, graphId);
  if (id < 0) {
    cuda.cuGraphDestroyNode(real);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  s.graphNodes.grow(graphId, node.weight);
  out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
  return CUDA_SUCCESS;
}

function setExecNode(s: Session, req: Request): number {
  const cuda = s.driver()!;
  const exec = s.realHandle(req.dv.getUint32(P + W.ReqGraphExecNode.exec, true), 'graphExec');
  const nodeReal = s.graphNodes.real(req.dv.getUint32(P + W.ReqGraphExecNode.node, true));
  if (exec < 0 || nodeReal < 0) return CUDA_ERROR_INVALID_HANDLE;
  const node = decodeParams(s, req, req.dv.getUint32(P + W.ReqGraphExecNode.type, true), P + W.ReqGraphExecNode.SIZE);
  if (typeof node === 'number') return node;
  const params = s.graphMem.addr + MEM.PARAMS;
  switch (node.type) {
    case W.NODE_KERNEL: return cuda.cuGraphExecKernelNodeSetParams_v2(exec, nodeReal, params);
    case W.NODE_MEMSET: return cuda.cuGraphExecMemsetNodeSetParams(exec, nodeReal, params, requestCtx(s, req));
    case W.NODE_MEMCPY: return cuda.cuGraphExecMemcpyNodeSetParams(exec, nodeReal, params, requestCtx(s, req));
    // A child graph given to an executable graph must have the topology it had: its weight stays.
    case W.NODE_CHILD: return cuda.cuGraphExecChildGraphNodeSetParams(exec, nodeReal, node.handle);
    case W.NODE_EVENT_RECORD: return cuda.cuGraphExecEventRecordNodeSetEvent(exec, nodeReal, node.handle);
    case W.NODE_EVENT_WAIT: return cuda.cuGraphExecEventWaitNodeSetEvent(exec, nodeReal, node.handle);
    default: return CUDA_ERROR_INVALID_VALUE; // an empty node has nothing to set
  }
}

/** Answers up to NODE_LIST_MAX real nodes at MEM.BUFFER (of which `count` in all) as ids of graph `graph`. */
function answerList(s: Session, out: Reply, count: number, listed: number, graph: number): number {
  const dv = out.size(W.RspNodeList.SIZE + listed * 4);
  dv.setUint32(W.RspNodeList.count, count, true);
  for (let i = 0; i < listed; i++) {
    const id = s.graphNodes.idOf(C.readU64(s.graphMem.dv, MEM.BUFFER + i * 8), graph);
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    dv.setUint32(W.RspNodeList.SIZE + i * 4, id, true);
  }
  return CUDA_SUCCESS;
}

function nodeList(s: Session, req: Request, out: Reply): number {
  const cuda = s.driver()!;
  const id = req.dv.getUint32(P + W.ReqNodeList.id, true);
  const what = req.dv.getUint32(P + W.ReqNodeList.what, true);
  const m = s.graphMem;
  const countAt = s.out.addr;
  let graph: number;
  let list: (nodes: number) => number;
  if (what === W.LIST_GRAPH_NODES) {
    const real = s.realHandle(id, 'graph');
    if (real < 0) return CUDA_ERROR_INVALID_HANDLE;
    graph = id;
    list = (nodes) => cuda.cuGraphGetNodes(real, nodes, countAt);
  } else if (what === W.LIST_NODE_DEPS) {
    const real = s.graphNodes.real(id);
    if (real < 0) return CUDA_ERROR_INVALID_HANDLE;
    graph = s.graphNodes.graphOf(id);
    list = (nodes) => cuda.cuGraphNodeGetDependencies_v2(real, nodes, 0, countAt);
  } else return CUDA_ERROR_INVALID_VALUE;
  C.writeU64(s.out.dv, 0, 0);
  let r = list(0);
  if (r !== CUDA_SUCCESS) return r;
  const count = C.readU64(s.out.dv, 0);
  const listed = Math.min(count, W.NODE_LIST_MAX);
  if (listed > 0) {
    C.writeU64(s.out.dv, 0, listed);
    m.u8.fill(0, MEM.BUFFER, MEM.BUFFER + LIST_BYTES);
    r = list(m.addr + MEM.BUFFER);
    if (r !== CUDA_SUCCESS) return r;
  }
  return answerList(s, out, count, Math.min(listed, C.readU64(s.out.dv, 0)), graph);
}

/** Top-level nodes of a real graph (what a capture added is counted with this), or -1. */
export function topLevelNodes(s: Session, graph: number): number {
  C.writeU64(s.out.dv, 0, 0);
  return s.driver()!.cuGraphGetNodes(graph, 0, s.out.addr) === CUDA_SUCCESS ? C.readU64(s.out.dv, 0) : -1;
}

export const graphBuildOps: OpSpec[] = [
  op(W.Op.GRAPH_CREATE, W.ReqU32.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    if (req.dv.getUint32(P + W.ReqU32.value, true) !== 0) return CUDA_ERROR_INVALID_VALUE;
    const r = cuda.cuGraphCreate(s.out.addr, 0);
    if (r !== CUDA_SUCCESS) return r;
    const graph = C.readU64(s.out.dv, 0);
    const id = s.handles.add('graph', graph, 0);
    if (id < 0) {
      cuda.cuGraphDestroy(graph);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
    return CUDA_SUCCESS;
  }),

  op(W.Op.GRAPH_ADD_NODE, W.ReqGraphNode.SIZE, addNode, { needsCtx: true }),
  op(W.Op.GRAPH_EXEC_SET_NODE, W.ReqGraphExecNode.SIZE, setExecNode, { needsCtx: true }),

  op(W.Op.GRAPH_NODE_ENABLE, W.ReqGraphExecNode.SIZE, (s, req) => {
    const exec = s.realHandle(req.dv.getUint32(P + W.ReqGraphExecNode.exec, true), 'graphExec');
    const node = s.graphNodes.real(req.dv.getUint32(P + W.ReqGraphExecNode.node, true));
    if (exec < 0 || node < 0) return CUDA_ERROR_INVALID_HANDLE;
    return s.driver()!.cuGraphNodeSetEnabled(exec, node, req.dv.getUint32(P + W.ReqGraphExecNode.value, true) ? 1 : 0);
  }, { needsCtx: true }),

  op(W.Op.GRAPH_NODE_LIST, W.ReqNodeList.SIZE, nodeList),

  op(W.Op.STREAM_CAPTURE_TO_GRAPH, W.ReqCaptureToGraph.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const dv = req.dv;
    const stream = s.stream(dv.getUint32(P + W.ReqCaptureToGraph.stream, true));
    const graphId = dv.getUint32(P + W.ReqCaptureToGraph.graph, true);
    const graph = s.realHandle(graphId, 'graph');
    if (stream < 0 || graph < 0) return CUDA_ERROR_INVALID_HANDLE;
    const count = dv.getUint32(P + W.ReqCaptureToGraph.dep_count, true);
    let r = decodeDeps(s, req, P + W.ReqCaptureToGraph.SIZE, count, graphId);
    if (r !== CUDA_SUCCESS) return r;
    const before = topLevelNodes(s, graph);
    if (before < 0) return CUDA_ERROR_INVALID_HANDLE;
    r = cuda.cuStreamBeginCaptureToGraph(stream, graph, count ? s.graphMem.addr + MEM.DEPS : 0, 0, count,
      dv.getUint32(P + W.ReqCaptureToGraph.mode, true));
    if (r !== CUDA_SUCCESS) return r;
    s.graphNodes.captureInto.set(stream, { graph: graphId, nodesBefore: before });
    // The capture's id, which the guest answers cuStreamGetCaptureInfo with from now on.
    r = cuda.cuStreamGetCaptureInfo_v3(stream, s.out.addr, s.out.addr + 8, 0, 0, 0, 0);
    if (r === CUDA_SUCCESS) out.size(W.RspU64.SIZE).setBigUint64(W.RspU64.value, s.out.dv.getBigUint64(8, true), true);
    return r;
  }, { needsCtx: true }),
];
