// Graphs built node by node (proxy/ops/graph-build.ts): what the proxy hands
// the driver, and what it refuses before the driver sees it: dependencies
// from another graph, memsets and copies over memory the guest does not own,
// node ids of destroyed graphs, and graphs past the node limit (child graphs
// are cloned, so nesting multiplies).  The driver here records calls; the
// real one runs in test/gpu (programs/graph_build.c).
import t from 'tap';
import pino from 'pino';
import * as W from '../../proxy/wire/layout.js';
import * as A from '../../proxy/wire/cuda-abi.js';
import * as C from '../../proxy/native/libc.js';
import type { CudaDriver } from '../../proxy/native/cuda.js';
import { Region } from '../../proxy/channel/region.js';
import { Session } from '../../proxy/guest/session.js';
import { opTable } from '../../proxy/ops/index.js';
import { Reply } from '../../proxy/ops/op.js';
import { Refusal, Snap } from '../../proxy/metrics/guest-stats.js';

const SUCCESS = 0;
const INVALID_VALUE = 1;
const OUT_OF_MEMORY = 2;
const INVALID_HANDLE = 400;
const OWNED = 0x7000_0000;

interface Fixture {
  s: Session;
  calls: string[];
  /** Real node -> its graph and dependencies, as the driver was told. */
  nodes: Map<number, { graph: number; deps: number[] }>;
  call: (op: number, payload: number[][], size?: number) => { r: number; out: Reply };
}

function setup(maxGraphNodes = 1000): Fixture {
  const layout = { reqRingSize: W.RING_MIN, rspRingSize: W.RING_MIN, arenaSize: W.ARENA_MIN, regionSize: W.CTRL_SIZE + 2 * W.RING_MIN + W.ARENA_MIN };
  const region = new Region(C.allocScratch(layout.regionSize), layout);
  const calls: string[] = [];
  const nodes = new Map<number, { graph: number; deps: number[] }>();
  let next = 0x10000;
  let s: Session | null = null;
  const mem = (at: number): DataView => {
    for (const m of [s!.out, s!.graphMem]) if (at >= m.addr && at < m.addr + m.size) return new DataView(m.u8.buffer, at - m.addr);
    throw new Error(`driver handed 0x${at.toString(16)}, outside the session's scratch`);
  };
  const put = (at: number, v: number): void => C.writeU64(mem(at), 0, v);
  const add = (name: string) => (node: number, graph: number, deps: number, n: number): number => {
    const list: number[] = [];
    for (let i = 0; i < n; i++) list.push(C.readU64(mem(deps + i * 8), 0));
    calls.push(`${name}(${list.length})`);
    const id = next++;
    nodes.set(id, { graph, deps: list });
    put(node, id);
    return SUCCESS;
  };
  const cuda = {
    cuGraphCreate: (g: number) => { put(g, next++); return SUCCESS; },
    cuGraphDestroy: () => { calls.push('cuGraphDestroy'); return SUCCESS; },
    cuGraphDestroyNode: () => SUCCESS,
    cuGraphAddEmptyNode: add('empty'),
    cuGraphAddChildGraphNode: add('child'),
    cuGraphAddEventRecordNode: add('record'),
    cuGraphAddEventWaitNode: add('wait'),
    cuGraphAddKernelNode_v2: (node: number, graph: number, deps: number, n: number, params: number) => {
      const dv = mem(params);
      const extra = C.readU64(dv, A.CUDA_KERNEL_NODE_PARAMS.extra);
      const bytes = extra ? C.readU64(mem(C.readU64(mem(extra + 24), 0)), 0) : 0;
      calls.push(`kernel fn=${C.readU64(dv, A.CUDA_KERNEL_NODE_PARAMS.func)} grid=${dv.getUint32(A.CUDA_KERNEL_NODE_PARAMS.gridDimX, true)} params=${bytes}`);
      return add('kernel-node')(node, graph, deps, n);
    },
    cuGraphAddMemsetNode: (node: number, graph: number, deps: number, n: number, params: number) => {
      const dv = mem(params);
      calls.push(`memset dst=${C.readU64(dv, A.CUDA_MEMSET_NODE_PARAMS.dst).toString(16)} width=${C.readU64(dv, A.CUDA_MEMSET_NODE_PARAMS.width)}`);
      return add('memset-node')(node, graph, deps, n);
    },
    cuGraphAddMemcpyNode: (node: number, graph: number, deps: number, n: number, params: number) => {
      const dv = mem(params);
      calls.push(`memcpy bytes=${C.readU64(dv, A.CUDA_MEMCPY3D.WidthInBytes)}`);
      return add('memcpy-node')(node, graph, deps, n);
    },
    cuGraphInstantiateWithFlags: (exec: number) => { put(exec, next++); return SUCCESS; },
    cuGraphExecDestroy: () => SUCCESS,
    cuGraphGetNodes: (graph: number, list: number, count: number) => {
      const mine = [...nodes].filter(([, n]) => n.graph === graph).map(([id]) => id);
      if (list) mine.slice(0, C.readU64(mem(count), 0)).forEach((id, i) => put(list + i * 8, id));
      put(count, list ? Math.min(mine.length, C.readU64(mem(count), 0)) : mine.length);
      return SUCCESS;
    },
    cuGraphNodeGetDependencies_v2: (node: number, list: number, _edges: number, count: number) => {
      const deps = nodes.get(node)!.deps;
      if (list) deps.forEach((id, i) => put(list + i * 8, id));
      put(count, deps.length);
      return SUCCESS;
    },
    cuGraphExecMemsetNodeSetParams: () => { calls.push('set-memset'); return SUCCESS; },
    cuGraphNodeSetEnabled: (_e: number, _n: number, on: number) => { calls.push(`enabled=${on}`); return SUCCESS; },
    cuStreamBeginCaptureToGraph: () => { calls.push('capture-to-graph'); return SUCCESS; },
    cuStreamGetCaptureInfo_v3: () => SUCCESS,
    cuStreamEndCapture: () => SUCCESS,
    cuCtxDestroy_v2: () => SUCCESS,
  } as unknown as CudaDriver;
  s = new Session(1, pino({ level: 'silent' }), cuda, { cuDevice: 0, totalMem: 80 * 2 ** 30 }, region,
    { memQuota: 2 ** 30, pinnedQuota: 0, maxImage: 2 ** 20, maxHandles: 10_000, maxGraphNodes }, -1, false);
  const ctx = s.handles.add('ctx', 0x1000, 0);
  s.ranges.add(OWNED, 4096, 'alloc', ctx);
  const session = s;
  const table = opTable();
  const call = (op: number, payload: number[][]): { r: number; out: Reply } => {
    const words = payload.flat();
    const bytes = new Uint8Array(W.ReqHdr.SIZE + words.length * 4);
    const dv = new DataView(bytes.buffer);
    words.forEach((w, i) => dv.setUint32(W.ReqHdr.SIZE + i * 4, w >>> 0, true));
    const out = new Reply();
    const req = { op, flags: 0, seq: 1, ctx, payloadLen: words.length * 4, bytes, dv };
    return { r: table[op]!.handler(session, req, out), out };
  };
  return { s, calls, nodes, call };
}

const u64 = (v: number): number[] => [v % 2 ** 32, Math.floor(v / 2 ** 32)];
const id = (out: Reply): number => out.dv.getUint32(W.RspHandle.id, true);

function graph(f: Fixture): number {
  const { r, out } = f.call(W.Op.GRAPH_CREATE, [[0]]);
  if (r !== SUCCESS) throw new Error(`GRAPH_CREATE ${r}`);
  return id(out);
}

function node(f: Fixture, g: number, type: number, deps: number[], params: number[][] = []): { r: number; id: number } {
  const { r, out } = f.call(W.Op.GRAPH_ADD_NODE, [[g, type, deps.length, 0], deps, ...params]);
  return { r, id: r === SUCCESS ? id(out) : 0 };
}

const memset = (dst: number, width: number): number[][] => [u64(dst), u64(0), u64(width), u64(1), [0x5a, 1, 0, 0]];

t.test('nodes are made after their dependencies, in their graph, with what the guest owns', async (t) => {
  const f = setup();
  const g = graph(f);
  const a = node(f, g, W.NODE_EMPTY, []);
  const b = node(f, g, W.NODE_EMPTY, [a.id]);
  t.equal(a.r, SUCCESS);
  t.equal(b.r, SUCCESS);
  const m = node(f, g, W.NODE_MEMSET, [a.id, b.id], memset(OWNED, 64));
  t.equal(m.r, SUCCESS, 'a memset node over owned memory');
  t.same(f.nodes.get(f.s.graphNodes.real(m.id))!.deps, [f.s.graphNodes.real(a.id), f.s.graphNodes.real(b.id)], 'the driver got both dependencies as its own nodes');
  t.match(f.calls, ['empty(0)', 'empty(1)', 'memset dst=70000000 width=64', 'memset-node(2)']);

  t.equal(node(f, g, W.NODE_MEMSET, [], memset(OWNED + 4000, 200)).r, INVALID_VALUE, 'a memset past the end of the allocation is refused');
  t.equal(node(f, g, W.NODE_MEMCPY, [], [u64(OWNED), u64(0x9000_0000), u64(16)]).r, INVALID_VALUE, 'a copy from memory the guest does not own is refused');
  t.equal(node(f, g, W.NODE_MEMCPY, [], [u64(OWNED + 64), u64(OWNED), u64(64)]).r, SUCCESS, 'a copy within owned memory');

  const other = graph(f);
  t.equal(node(f, other, W.NODE_EMPTY, [a.id]).r, INVALID_VALUE, 'a dependency from another graph is refused');
  t.equal(node(f, g, W.NODE_EMPTY, [0xdead]).r, INVALID_VALUE, 'a dependency that is no node is refused');
  t.equal(node(f, g, 99, []).r, 801, 'an unknown node type: not supported');
  t.equal(node(f, g, W.NODE_EMPTY, new Array(W.GRAPH_DEPS_MAX + 1).fill(a.id)).r, INVALID_VALUE, 'more dependencies than a request may name');
});

t.test('kernel nodes carry the packed arguments through extra, never guest pointers', async (t) => {
  const f = setup();
  const g = graph(f);
  const fn = f.s.handles.add('function', 0x4242, 1);
  const launch = [[fn, 0], [8, 1, 1], [128, 1, 1], [0, 0, 0, 12]];
  const args = [[1, 2, 3]];
  t.equal(node(f, g, W.NODE_KERNEL, [], [...launch, ...args]).r, SUCCESS);
  t.ok(f.calls.includes(`kernel fn=${0x4242} grid=8 params=12`), 'the real function, the grid and 12 bytes of arguments');
  t.equal(node(f, g, W.NODE_KERNEL, [], [[0x777, 0], [8, 1, 1], [128, 1, 1], [0, 0, 0, 0]]).r, INVALID_HANDLE, 'a function the guest does not have');
  t.equal(node(f, g, W.NODE_KERNEL, [], [[fn, 0], [8, 1, 1], [128, 1, 1], [0, 0, 0, 64]]).r, INVALID_VALUE, 'more argument bytes than the request holds');
  t.equal(node(f, g, W.NODE_KERNEL, [], [[fn, W.LAUNCH_EX], [8, 1, 1], [128, 1, 1], [0, 0, 1, 0]]).r, INVALID_VALUE, 'launch attributes have no place in a node');
});

t.test('child graphs count with their clones: nesting cannot multiply past the node limit', async (t) => {
  const f = setup(1000);
  const leaf = graph(f);
  for (let i = 0; i < 10; i++) t.equal(node(f, leaf, W.NODE_EMPTY, []).r, SUCCESS);
  const mid = graph(f);
  for (let i = 0; i < 10; i++) t.equal(node(f, mid, W.NODE_CHILD, [], [[leaf, 0]]).r, SUCCESS);
  t.equal(f.s.graphNodes.weight(mid), 110, 'ten child nodes of ten nodes each: 110');
  const top = graph(f);
  let refused = 0;
  for (let i = 0; i < 10; i++) if (node(f, top, W.NODE_CHILD, [], [[mid, 0]]).r === OUT_OF_MEMORY) refused++;
  t.ok(refused > 0, `child nodes past the limit refused (${refused} of 10)`);
  t.ok(f.s.graphNodes.total <= 1000, `the guest's graphs hold ${f.s.graphNodes.total} nodes at most 1000`);
  t.equal(f.s.stats.snap[Snap.REFUSALS + Refusal.graph_node_limit], refused, 'each refusal counted for the metrics');
  const inst = f.call(W.Op.GRAPH_INSTANTIATE, [[top, 0], u64(0)]);
  t.equal(inst.r, OUT_OF_MEMORY, 'an executable copy that would pass the limit is refused');
  t.equal(f.call(W.Op.GRAPH_DESTROY, [[top, 0]]).r, SUCCESS);
  t.equal(f.s.graphNodes.weight(top), 0, 'a destroyed graph gives its nodes back');
  t.equal(f.call(W.Op.GRAPH_INSTANTIATE, [[mid, 0], u64(0)]).r, SUCCESS, 'now an executable copy of mid fits');
  let execs = 1;
  while (execs < 20 && f.call(W.Op.GRAPH_INSTANTIATE, [[mid, 0], u64(0)]).r === SUCCESS) execs++;
  t.equal(execs, 8, "eight executable copies of mid's 110 nodes fit beside the 120 of leaf and mid, a ninth does not");
  // Executable graphs go with their context (Session.destroyContext drops its handles): their nodes count no more.
  const ctx = [...f.s.handles.entries('ctx')][0]![0];
  t.equal(f.s.destroyContext(ctx), SUCCESS, 'the context goes, and its executable graphs with it');
  t.equal(f.call(W.Op.GRAPH_INSTANTIATE, [[mid, 0], u64(0)]).r, SUCCESS, 'after the context went, an executable copy fits again');
});

t.test('node lists answer the proxy\'s ids; a destroyed graph\'s nodes are gone', async (t) => {
  const f = setup();
  const g = graph(f);
  const a = node(f, g, W.NODE_EMPTY, []);
  const b = node(f, g, W.NODE_EMPTY, [a.id]);
  const all = f.call(W.Op.GRAPH_NODE_LIST, [[g, W.LIST_GRAPH_NODES]]);
  t.equal(all.r, SUCCESS);
  t.equal(all.out.dv.getUint32(W.RspNodeList.count, true), 2);
  t.same([all.out.dv.getUint32(W.RspNodeList.SIZE, true), all.out.dv.getUint32(W.RspNodeList.SIZE + 4, true)], [a.id, b.id]);
  const deps = f.call(W.Op.GRAPH_NODE_LIST, [[b.id, W.LIST_NODE_DEPS]]);
  t.equal(deps.out.dv.getUint32(W.RspNodeList.count, true), 1);
  t.equal(deps.out.dv.getUint32(W.RspNodeList.SIZE, true), a.id, 'b depends on a');
  t.equal(f.call(W.Op.GRAPH_NODE_LIST, [[g, 7]]).r, INVALID_VALUE, 'an unknown list');
  t.equal(f.call(W.Op.GRAPH_DESTROY, [[g, 0]]).r, SUCCESS);
  t.equal(f.call(W.Op.GRAPH_NODE_LIST, [[b.id, W.LIST_NODE_DEPS]]).r, INVALID_HANDLE, 'a node of a destroyed graph is no node');
  t.equal(f.s.handles.size, 1, 'only the context is left in the handle table');
});

t.test('a capture into a graph ends with that graph, under the same id', async (t) => {
  const f = setup();
  const g = graph(f);
  const a = node(f, g, W.NODE_EMPTY, []);
  const stream = f.s.handles.add('stream', 0x5000, 1);
  const begin = f.call(W.Op.STREAM_CAPTURE_TO_GRAPH, [[stream, 0, g, 1], [a.id]]);
  t.equal(begin.r, SUCCESS);
  t.ok(f.calls.includes('capture-to-graph'));
  // The driver ends the capture with the same graph.
  const real = f.s.realHandle(g, 'graph');
  const end = (() => {
    const cuda = f.s.driver()! as unknown as Record<string, unknown>;
    cuda.cuStreamEndCapture = (_st: number, out: number) => { C.writeU64(f.s.out.dv, out - f.s.out.addr, real); return SUCCESS; };
    return f.call(W.Op.STREAM_END_CAPTURE, [[stream, 0]]);
  })();
  t.equal(end.r, SUCCESS);
  t.equal(id(end.out), g, 'the same graph id, not a second handle of one graph');
  t.equal([...f.s.handles.entries('graph')].length, 1);
});
