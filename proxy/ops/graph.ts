// Stream capture and graphs.  The guest's work on a capturing stream reaches
// the real stream in order, so the driver itself records the graph; the
// guest gets ids for the graph and its executable form.
import * as W from '../wire/layout.js';
import * as C from '../native/libc.js';
import { CUDA_ERROR_INVALID_HANDLE, CUDA_ERROR_OUT_OF_MEMORY, CUDA_SUCCESS } from '../native/cuda.js';
import type { Request } from '../channel/rings.js';
import type { Session } from '../guest/session.js';
import { op, OpSpec, P } from './op.js';
import { topLevelNodes } from './graph-build.js';
import { Refusal } from '../metrics/guest-stats.js';

function launchOn(s: Session, req: Request, run: (exec: number, stream: number) => number): number {
  const exec = s.realHandle(req.dv.getUint32(P + W.ReqGraph.id, true), 'graphExec');
  const stream = s.stream(req.dv.getUint32(P + W.ReqGraph.stream, true));
  if (exec < 0 || stream < 0) return CUDA_ERROR_INVALID_HANDLE;
  return run(exec, stream);
}

function destroy(s: Session, req: Request, kind: 'graph' | 'graphExec'): number {
  const id = req.dv.getUint32(P + W.ReqHandle.id, true);
  const h = s.handles.get(id, kind);
  if (!h) return CUDA_ERROR_INVALID_HANDLE;
  const r = kind === 'graph' ? s.driver()!.cuGraphDestroy(h.ptr) : s.driver()!.cuGraphExecDestroy(h.ptr);
  s.graphNodes.drop(id);
  s.handles.delete(id);
  return r;
}

/**
 * The graph a capture ended with: the graph it captured into (the same id;
 * what it added counted), or a new one, counted against the node limit.
 */
function capturedGraph(s: Session, stream: number, graph: number): number {
  const cuda = s.driver()!;
  const into = s.graphNodes.captureInto.get(stream);
  s.graphNodes.captureInto.delete(stream);
  if (into && s.realHandle(into.graph, 'graph') === graph) {
    const after = topLevelNodes(s, graph);
    s.graphNodes.grow(into.graph, Math.max(0, after - into.nodesBefore));
    return into.graph;
  }
  const nodes = Math.max(0, topLevelNodes(s, graph));
  const fits = s.graphNodes.fits(nodes);
  if (!fits) s.refuse(Refusal.graph_node_limit, W.Op.STREAM_END_CAPTURE, nodes);
  const id = fits ? s.handles.add('graph', graph, 0) : -1;
  if (id < 0) {
    cuda.cuGraphDestroy(graph);
    return -1;
  }
  s.graphNodes.grow(id, nodes);
  return id;
}

export const graphOps: OpSpec[] = [
  op(W.Op.STREAM_BEGIN_CAPTURE, W.ReqCapture.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const stream = s.stream(req.dv.getUint32(P + W.ReqCapture.stream, true));
    if (stream < 0) return CUDA_ERROR_INVALID_HANDLE;
    let r = cuda.cuStreamBeginCapture_v2(stream, req.dv.getUint32(P + W.ReqCapture.mode, true));
    if (r !== CUDA_SUCCESS) return r;
    // The capture's id, which the guest answers cuStreamGetCaptureInfo with from now on.
    r = cuda.cuStreamGetCaptureInfo_v3(stream, s.out.addr, s.out.addr + 8, 0, 0, 0, 0);
    if (r === CUDA_SUCCESS) out.size(W.RspU64.SIZE).setBigUint64(W.RspU64.value, s.out.dv.getBigUint64(8, true), true);
    return r;
  }, { needsCtx: true }),

  op(W.Op.STREAM_END_CAPTURE, W.ReqCapture.SIZE, (s, req, out) => {
    const stream = s.stream(req.dv.getUint32(P + W.ReqCapture.stream, true));
    if (stream < 0) return CUDA_ERROR_INVALID_HANDLE;
    const r = s.driver()!.cuStreamEndCapture(stream, s.out.addr);
    if (r !== CUDA_SUCCESS) {
      s.graphNodes.captureInto.delete(stream);
      return r;
    }
    const id = capturedGraph(s, stream, C.readU64(s.out.dv, 0));
    if (id < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
    return CUDA_SUCCESS;
  }, { needsCtx: true, syncPoint: true }),

  op(W.Op.GRAPH_INSTANTIATE, W.ReqGraph.SIZE, (s, req, out) => {
    const cuda = s.driver()!;
    const graphId = req.dv.getUint32(P + W.ReqGraph.id, true);
    const graph = s.realHandle(graphId, 'graph');
    if (graph < 0) return CUDA_ERROR_INVALID_HANDLE;
    const flags = C.readU64(req.dv, P + W.ReqGraph.flags);
    if (!Number.isSafeInteger(flags)) return 1;
    // The executable graph holds a copy of every node.
    const nodes = s.graphNodes.weight(graphId);
    if (!s.graphNodes.fits(nodes)) {
      s.refuse(Refusal.graph_node_limit, req.op, nodes);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    const r = cuda.cuGraphInstantiateWithFlags(s.out.addr, graph, flags);
    if (r !== CUDA_SUCCESS) return r;
    const exec = C.readU64(s.out.dv, 0);
    const id = s.handles.add('graphExec', exec, req.ctx);
    if (id < 0) {
      cuda.cuGraphExecDestroy(exec);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    s.graphNodes.grow(id, nodes);
    out.size(W.RspHandle.SIZE).setUint32(W.RspHandle.id, id, true);
    return CUDA_SUCCESS;
  }, { needsCtx: true }),

  op(W.Op.GRAPH_LAUNCH, W.ReqGraph.SIZE, (s, req) => launchOn(s, req, (e, st) => s.driver()!.cuGraphLaunch(e, st)), { needsCtx: true }),
  op(W.Op.GRAPH_UPLOAD, W.ReqGraph.SIZE, (s, req) => launchOn(s, req, (e, st) => s.driver()!.cuGraphUpload(e, st)), { needsCtx: true }),
  op(W.Op.GRAPH_DESTROY, W.ReqHandle.SIZE, (s, req) => destroy(s, req, 'graph')),
  op(W.Op.GRAPH_EXEC_DESTROY, W.ReqHandle.SIZE, (s, req) => destroy(s, req, 'graphExec'), { needsCtx: true }),
];
