// The nodes of a guest's graphs, and how big its graphs may grow.
//
// A node is a handle of kind 'graphNode' whose parent is its graph's id: it
// dies with the graph.  Nodes the guest made get ids when made; nodes the
// driver made (a capture into the graph) get ids when the guest first sees
// them in a node list.
//
// Size: a child-graph node clones its child, so a guest could nest graphs of
// a thousand nodes three deep and have the driver hold a billion.  Every graph
// and executable graph has a weight, the nodes it holds counting cloned ones
// (nodes added by capture count as the guest lists them), and the weights of
// a guest's live graphs together stay under its node limit.
import type { HandleTable } from './handle-table.js';

/** Graph nodes a guest may have the driver hold, unless configured: enough for XLA's command buffers of a large model. */
export const DEFAULT_MAX_GRAPH_NODES = 262_144;

export class GraphNodes {
  readonly #byReal = new Map<number, number>(); // real node -> id
  readonly #realOf = new Map<number, number>(); // id -> real node
  readonly #weight = new Map<number, number>(); // graph or executable graph id -> nodes it holds
  #total = 0;
  /** Streams capturing into an existing graph (real stream -> that graph's id and its top-level nodes before). */
  readonly captureInto = new Map<number, { graph: number; nodesBefore: number }>();

  constructor(
    private readonly handles: HandleTable,
    /** Nodes all of the guest's graphs and executable graphs may hold together. */
    readonly limit: number,
  ) {}

  get total(): number {
    return this.#total;
  }

  /** The nodes graph (or executable graph) id holds, as counted here. */
  weight(id: number): number {
    return this.#weight.get(id) ?? 0;
  }

  /** Whether `more` nodes fit under the limit. */
  fits(more: number): boolean {
    return this.#total + more <= this.limit;
  }

  /** Counts `nodes` more for graph or executable graph id. */
  grow(id: number, nodes: number): void {
    this.#weight.set(id, this.weight(id) + nodes);
    this.#total += nodes;
  }

  /** The id of real node `node` of graph `graph`, issuing one the first time; -1 when the handle table is full. */
  idOf(node: number, graph: number): number {
    const known = this.#byReal.get(node);
    if (known !== undefined && this.handles.get(known, 'graphNode')?.parent === graph) return known;
    const id = this.handles.add('graphNode', node, 0, graph);
    if (id >= 0) {
      this.#byReal.set(node, id);
      this.#realOf.set(id, node);
    }
    return id;
  }

  /** The real node behind id when it is a node of graph `graph` (any graph when 0), else -1. */
  real(id: number, graph = 0): number {
    const h = this.handles.get(id, 'graphNode');
    if (!h || (graph !== 0 && h.parent !== graph)) return -1;
    return h.ptr;
  }

  /** The graph node id belongs to, or -1. */
  graphOf(id: number): number {
    const h = this.handles.get(id, 'graphNode');
    return h ? h.parent : -1;
  }

  /** Forgets graph (or executable graph) id: its nodes and its weight. */
  drop(id: number): void {
    for (const node of this.handles.dropChildren(id)) {
      const real = this.#realOf.get(node);
      this.#realOf.delete(node);
      if (real !== undefined && this.#byReal.get(real) === node) this.#byReal.delete(real);
    }
    this.#total -= this.weight(id);
    this.#weight.delete(id);
  }

  /** Gives back the nodes executable graph (or graph) id held, when it went without drop() (with its context). */
  release(id: number): void {
    const w = this.#weight.get(id);
    if (w === undefined) return;
    this.#total -= w;
    this.#weight.delete(id);
  }

  /** Forgets everything (the session was renewed). */
  clear(): void {
    this.#byReal.clear();
    this.#realOf.clear();
    this.#weight.clear();
    this.captureInto.clear();
    this.#total = 0;
  }
}
