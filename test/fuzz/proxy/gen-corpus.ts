// Writes the seed corpus of proxy-ring: deterministic action streams (the
// input language of harness.ts) that walk the main ops the way a guest
// does, so the fuzzer starts deep.  Run after a build:
//   node dist/test/fuzz/proxy/gen-corpus.js test/fuzz/corpus/proxy-ring
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as W from '../../../proxy/wire/layout.js';
import { A, OPS, S } from './harness.js';

/** Builds one stream, keeping the same lists of ids and addresses the harness learns. */
class Stream {
  readonly b: number[] = [];
  readonly handles: string[] = [];
  readonly dptrs: string[] = [];

  u16(v: number): number[] {
    return [v & 0xff, (v >> 8) & 0xff];
  }

  /** Index of a named id in what the harness learnt (answers arrive in order). */
  h(name: string): number {
    const i = this.handles.lastIndexOf(name);
    if (i < 0) throw new Error(`no handle ${name}`);
    return i;
  }

  d(name: string): number {
    const i = this.dptrs.lastIndexOf(name);
    if (i < 0) throw new Error(`no address ${name}`);
    return i;
  }

  /** A request: op, flags byte (0: answer wanted), ctx selector (0: the latest context), slots. */
  req(op: number, slots: number[][], opts: { flags?: number; ctxSel?: number; handle?: string; dptr?: string } = {}): this {
    const sel = OPS.indexOf(op);
    if (sel < 0) throw new Error(`op ${op} not served`);
    this.b.push(A.REQ, sel, opts.flags ?? 0, opts.ctxSel ?? 0, slots.length, ...slots.flat());
    return this.serve(opts);
  }

  serve(opts: { handle?: string; dptr?: string } = {}): this {
    this.b.push(A.SERVE, A.READ, 0);
    if (opts.handle) this.handles.push(opts.handle);
    if (opts.dptr) this.dptrs.push(opts.dptr);
    return this;
  }

  raw(...bytes: number[]): this {
    this.b.push(...bytes);
    return this;
  }

  image(library: boolean, name: string): this {
    const bytes = Buffer.from('.version 8.0\n.target sm_90\n');
    this.b.push(A.IMAGE, library ? 1 : 0, bytes.length - 1, ...bytes);
    return this.serve({ handle: name });
  }

  symbol(which: 0 | 1 | 2 | 3, owner: string, name: string, got: { handle?: string; dptr?: string }): this {
    this.b.push(A.SYMBOL, which, this.h(owner), name.length - 1, ...Buffer.from(name));
    return this.serve(got);
  }

  copy(htod: boolean, bytes: number, dptr: string, flags = 0, stream?: string): this {
    const kind = (htod ? 0 : 1) | flags | (stream ? 0x10 : 0);
    this.b.push(A.COPY, kind, ...this.u16(bytes), this.d(dptr), 0);
    if (stream) this.b.push(this.h(stream));
    return this.serve();
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.b);
  }
}

// Slot helpers: each is one 8-byte field (or two 32-bit fields) of a payload.
const small = (lo: number, hi = 0): number[] => [S.SMALL, lo, hi];
const pair = (lo: number, hi = 0): number[] => [S.PAIR, lo & 0xff, lo >> 8, hi & 0xff, hi >> 8];
const size = (mant: number, shift: number): number[] => [S.SIZE, mant - 1, shift];
const handle = (i: number, aux = 0): number[] => [S.HANDLE, i, aux];
const handles = (i: number, j: number): number[] => [S.HANDLES, i, j];
const dptr = (i: number, off = 0): number[] => [S.DPTR, i, off & 0xff, off >> 8];
const bound = (i: number): number[] => [S.BOUND, i];

function base(): Stream {
  return new Stream().req(W.Op.PRIMARY_RETAIN, [small(0)], { ctxSel: 1, handle: 'ctx' });
}

const flows: Record<string, () => Stream> = {
  'memory-basic': () => base()
    .req(W.Op.MEM_ALLOC, [size(1, 12), small(0), small(0), small(0)], { dptr: 'a' })
    .req(W.Op.MEM_ALLOC, [size(1, 16), small(0), small(0), small(0)], { dptr: 'b' })
    .copy(true, 256, 'a').copy(false, 256, 'a')
    .req(W.Op.MEMSET, [dptr(0), small(0), small(64), small(1), small(0x5a, 1), small(0)])
    .req(W.Op.MEMCPY_DTOD, [dptr(1), dptr(0), small(128), small(0)])
    .req(W.Op.MEM_GET_INFO, [])
    .req(W.Op.CTX_SYNC, [])
    .req(W.Op.MEM_FREE, [dptr(0), small(0)])
    .req(W.Op.MEM_FREE, [dptr(1), small(0)]),
  'memory-pitch-2d': () => base()
    .req(W.Op.MEM_ALLOC, [small(0), small(64), small(16, 4), small(0)], { dptr: 'p' })
    .req(W.Op.MEMCPY_2D, [dptr(0), dptr(0), small(0), small(0), small(0), small(0), small(0), small(0), small(0), small(0), pair(512), small(0), pair(512), small(32), small(4), small(0), small(0), small(0)])
    .req(W.Op.MEMSET, [dptr(0), pair(512), small(32), small(4), small(7, 4), small(0)]),
  'memory-async-stream': () => base()
    .req(W.Op.STREAM_CREATE, [small(1, 0)], { handle: 'st' })
    .req(W.Op.MEM_ALLOC, [size(1, 13), small(0), small(0), handle(1)], { flags: 2, dptr: 'a' })
    .copy(true, 4096, 'a', 2, 'st').copy(false, 4096, 'a', 2, 'st').copy(true, 64, 'a', 4, 'st')
    .req(W.Op.STREAM_SYNC, [handle(1)])
    .req(W.Op.MEM_FREE, [dptr(0), handle(1)], { flags: 2 })
    .req(W.Op.STREAM_DESTROY, [handle(1)]),
  'streams-events': () => {
    const s = base()
      .req(W.Op.STREAM_CREATE, [small(0, 0)], { handle: 'st' })
      .req(W.Op.EVENT_CREATE, [small(0)], { handle: 'e1' })
      .req(W.Op.EVENT_CREATE, [small(0)], { handle: 'e2' });
    return s.req(W.Op.EVENT_RECORD, [handles(s.h('st'), s.h('e1')), small(0)])
      .req(W.Op.STREAM_WAIT_EVENT, [handles(s.h('st'), s.h('e1')), small(0)])
      .req(W.Op.EVENT_RECORD, [handles(s.h('st'), s.h('e2')), small(0)])
      .req(W.Op.EVENT_SYNC, [handle(s.h('e2'))])
      .req(W.Op.EVENT_QUERY, [handle(s.h('e1'))])
      .req(W.Op.EVENT_ELAPSED, [handles(s.h('e1'), s.h('e2'))])
      .req(W.Op.STREAM_QUERY, [handle(s.h('st'))])
      .req(W.Op.EVENT_DESTROY, [handle(s.h('e1'))])
      .req(W.Op.EVENT_DESTROY, [handle(s.h('e1'))])
      .req(W.Op.STREAM_DESTROY, [handle(s.h('st'))]);
  },
  'module-launch': () => {
    const s = base().image(false, 'mod');
    s.symbol(0, 'mod', 'kern', { handle: 'fn' }).symbol(1, 'mod', 'glob', { dptr: 'g' });
    return s.req(W.Op.LAUNCH, [handle(s.h('fn')), small(1, 1), small(1, 0), small(1, 1), small(0, 0), small(0, 16)])
      .req(W.Op.LAUNCH, [handle(s.h('fn'), 2), small(1, 1), small(1, 0), small(1, 1), small(0, 0), small(1, 0), small(0), small(0), small(0), small(0), small(0), small(0), small(0), small(0), small(0)])
      .req(W.Op.FUNC_SET_ATTRIBUTE, [handle(s.h('fn'), 8), small(1024)])
      .req(W.Op.FUNC_SET_CACHE_CONFIG, [handle(s.h('fn')), small(1)])
      .req(W.Op.OCC_MAX_BLOCKS, [handle(s.h('fn')), small(128), small(0), small(0)])
      .req(W.Op.OCC_DSMEM, [handle(s.h('fn')), small(128), small(0), small(2)])
      .copy(true, 64, 'g').copy(false, 64, 'g')
      .req(W.Op.MODULE_UNLOAD, [handle(s.h('mod'))])
      .req(W.Op.LAUNCH, [handle(s.h('fn')), small(1, 1), small(1, 0), small(1, 1), small(0, 0), small(0, 0)])
      .copy(true, 64, 'g');
  },
  'library-kernel': () => {
    const s = base().image(true, 'lib');
    s.symbol(2, 'lib', 'kern', { handle: 'k' }).symbol(3, 'lib', 'glob', { dptr: 'g' });
    s.req(W.Op.KERNEL_GET_FUNCTION, [handle(s.h('k'))], { handle: 'fn' })
      .req(W.Op.KERNEL_GET_ATTRIBUTES, [handle(s.h('k'))])
      .req(W.Op.KERNEL_SET_ATTRIBUTE, [handle(s.h('k'), 8), small(0)])
      .req(W.Op.LIBRARY_GET_MODULE, [handle(s.h('lib'))], { handle: 'lm' })
      .req(W.Op.LAUNCH, [handle(s.h('k'), 1), small(1, 1), small(1, 0), small(1, 1), small(0, 0), small(0, 0)])
      .req(W.Op.LIBRARY_UNLOAD, [handle(s.h('lib'))])
      .req(W.Op.KERNEL_GET_FUNCTION, [handle(s.h('k'))])
      .copy(false, 64, 'g');
    return s;
  },
  'vmm': () => base()
    .req(W.Op.VMM_GRANULARITY, [small(1), small(1), small(0), small(0)])
    .req(W.Op.VMM_CREATE, [size(1, 21), small(0), small(1), small(1), small(0)], { handle: 'h' })
    .req(W.Op.VMM_RESERVE, [size(1, 22), small(0), small(0), small(0)], { dptr: 'r' })
    .req(W.Op.VMM_MAP, [dptr(0), size(1, 21), small(0), small(0), handle(1)])
    .req(W.Op.VMM_SET_ACCESS, [dptr(0), size(1, 21), small(1), small(1), small(3)])
    .req(W.Op.VMM_GET_ACCESS, [dptr(0), small(1)])
    .req(W.Op.MEMSET, [dptr(0), small(0), small(64), small(1), small(0x5a, 1), small(0)])
    .req(W.Op.VMM_RETAIN, [dptr(0), small(0), small(0)], { handle: 'h2' })
    .req(W.Op.VMM_PROPERTIES, [handle(1)])
    .req(W.Op.VMM_EXPORT, [handle(1, 1), small(0)])
    .req(W.Op.VMM_IMPORT, [handle(1, 1), small(0)])
    .req(W.Op.VMM_RELEASE, [handle(1)])
    .req(W.Op.VMM_RELEASE, [handle(1)])
    .req(W.Op.VMM_UNMAP, [dptr(0), size(1, 21), small(0)])
    .req(W.Op.VMM_RELEASE, [handle(1)])
    .req(W.Op.VMM_FREE, [dptr(0), size(1, 22), small(0)]),
  'capture-graph': () => {
    const s = base().req(W.Op.STREAM_CREATE, [small(0)], { handle: 'st' });
    s.req(W.Op.STREAM_BEGIN_CAPTURE, [small(0, 0)].map(() => handle(s.h('st'), 0)))
      .req(W.Op.MEM_ALLOC, [size(1, 12), small(0), small(0), small(0)], { dptr: 'a' })
      .copy(true, 64, 'a', 2, 'st')
      .req(W.Op.STREAM_END_CAPTURE, [handle(s.h('st'))], { handle: 'graph' });
    return s.req(W.Op.GRAPH_NODE_LIST, [handle(s.h('graph'), W.LIST_GRAPH_NODES)])
      .req(W.Op.GRAPH_INSTANTIATE, [handle(s.h('graph')), small(0)], { handle: 'exec' })
      .req(W.Op.GRAPH_LAUNCH, [handles(s.h('exec'), s.h('st')), small(0)])
      .req(W.Op.GRAPH_UPLOAD, [handles(s.h('exec'), s.h('st')), small(0)])
      .req(W.Op.GRAPH_EXEC_DESTROY, [handle(s.h('exec'))])
      .req(W.Op.GRAPH_DESTROY, [handle(s.h('graph'))]);
  },
  'graph-build': () => {
    const s = base().req(W.Op.STREAM_CREATE, [small(0)], { handle: 'st' })
      .req(W.Op.MEM_ALLOC, [size(1, 12), small(0), small(0), small(0)], { dptr: 'a' })
      .req(W.Op.GRAPH_CREATE, [small(0)], { handle: 'g' })
      .req(W.Op.GRAPH_CREATE, [small(0)], { handle: 'child' });
    s.req(W.Op.GRAPH_ADD_NODE, [handle(s.h('child'), W.NODE_EMPTY), small(0)], { handle: 'c0' });
    s.req(W.Op.GRAPH_ADD_NODE, [handle(s.h('g'), W.NODE_EMPTY), small(0)], { handle: 'n0' });
    s.req(W.Op.GRAPH_ADD_NODE, [handle(s.h('g'), W.NODE_EMPTY), small(1), handle(s.h('n0'))], { handle: 'n1' });
    // memset after n0 and n1: 64 bytes of 0x5a
    s.req(W.Op.GRAPH_ADD_NODE, [handle(s.h('g'), W.NODE_MEMSET), small(2), handles(s.h('n0'), s.h('n1')),
      dptr(0), small(0), small(64), small(1), small(0x5a, 1), small(0)], { handle: 'n2' });
    // copy the first 64 bytes over the next 64
    s.req(W.Op.GRAPH_ADD_NODE, [handle(s.h('g'), W.NODE_MEMCPY), small(2), handles(s.h('n2'), s.h('n0')),
      dptr(0, 64), dptr(0), small(64)], { handle: 'n3' });
    s.req(W.Op.GRAPH_ADD_NODE, [handle(s.h('g'), W.NODE_CHILD), small(0), handle(s.h('child'))], { handle: 'n4' });
    s.req(W.Op.GRAPH_NODE_LIST, [handle(s.h('g'), W.LIST_GRAPH_NODES)])
      .req(W.Op.GRAPH_NODE_LIST, [handle(s.h('n2'), W.LIST_NODE_DEPS)])
      .req(W.Op.GRAPH_INSTANTIATE, [handle(s.h('g')), small(0)], { handle: 'exec' });
    return s.req(W.Op.GRAPH_EXEC_SET_NODE, [handles(s.h('exec'), s.h('n2')), small(W.NODE_MEMSET, 0),
      dptr(0), small(0), small(32), small(1), small(0x11, 1), small(0)])
      .req(W.Op.GRAPH_NODE_ENABLE, [handles(s.h('exec'), s.h('n3')), small(0, 0)])
      .req(W.Op.GRAPH_LAUNCH, [handles(s.h('exec'), s.h('st')), small(0)])
      .req(W.Op.STREAM_CAPTURE_TO_GRAPH, [handle(s.h('st'), 0), handle(s.h('g'), 1), handle(s.h('n4'))])
      .copy(true, 64, 'a', 2, 'st')
      .req(W.Op.STREAM_END_CAPTURE, [handle(s.h('st'))], { handle: 'g2' })
      .req(W.Op.GRAPH_EXEC_DESTROY, [handle(s.h('exec'))])
      .req(W.Op.GRAPH_DESTROY, [handle(s.h('g'))])
      .req(W.Op.GRAPH_DESTROY, [handle(s.h('child'))]);
  },
  'contexts': () => base()
    .req(W.Op.CTX_CREATE, [small(0, 4)], { handle: 'c2' })
    .req(W.Op.CTX_INFO, [])
    .req(W.Op.CTX_SET_LIMIT, [small(0), size(1, 12)])
    .req(W.Op.CTX_GET_LIMIT, [small(0)])
    .req(W.Op.CTX_SET_CACHE_CONFIG, [small(1)])
    .req(W.Op.MEM_ALLOC, [size(1, 12), small(0), small(0), small(0)], { dptr: 'a' })
    .req(W.Op.PRIMARY_SET_FLAGS, [small(0, 4)])
    .req(W.Op.CTX_DESTROY, [handle(1)])
    .copy(true, 64, 'a')
    .req(W.Op.PRIMARY_RESET, [small(0)], { handle: 'ctx' })
    .req(W.Op.PRIMARY_RELEASE, [small(0)])
    .req(W.Op.PRIMARY_RELEASE, [small(0)]),
  'context-limits': () => base()
    .req(W.Op.CTX_SET_LIMIT, [small(2), size(1, 25)]) // a 32 MiB malloc heap: counted
    .req(W.Op.MEM_ALLOC, [size(1, 24), small(0), small(0), small(0)], { dptr: 'a' })
    .req(W.Op.CTX_SET_LIMIT, [small(2), bound(20)]) // a heap of the whole quota: refused
    .req(W.Op.CTX_SET_LIMIT, [small(0), size(1, 10)]) // 1 KiB thread stacks: counted per resident thread
    .req(W.Op.CTX_SET_LIMIT, [small(0), bound(9)]) // 2^48 bytes of stack per thread: refused
    .req(W.Op.CTX_SET_LIMIT, [small(2), size(1, 20)]) // the heap lowered
    .req(W.Op.CTX_GET_LIMIT, [small(2)]),
  'hostmem': () => base()
    .req(W.Op.HOSTMEM_MAP, [size(1, 16), small(2, 0x7777 >> 8)].map((x, i) => (i === 1 ? [S.PAIR, 2, 0, 0x77, 0x77] : x)), { handle: 'seg' })
    .raw()
    .req(W.Op.MEMSET, [[S.DPTR, 0, 0, 0], small(0), small(64), small(1), small(1, 1), small(0)])
    .req(W.Op.HOSTMEM_UNMAP, [handle(1)]),
  'host-func': () => base()
    .req(W.Op.STREAM_CREATE, [small(0)], { handle: 'st' })
    .req(W.Op.HOST_FUNC_ENQUEUE, [handle(1, 9)])
    .req(W.Op.HOST_FUNC_QUERY, [small(0, 9)])
    .req(W.Op.HOST_FUNC_DONE, [small(0, 9)])
    .req(W.Op.HOST_FUNC_ENQUEUE, [handle(1, 10)]),
  'diagnostics': () => new Stream()
    .req(W.Op.NOP, [], { ctxSel: 1 })
    .raw(A.ARENA, 0, 0, 16, ...Array.from({ length: 16 }, (_, i) => i))
    .req(W.Op.ECHO, [small(0, 16), pair(1024, 16), small(0x55)], { ctxSel: 1 })
    .req(W.Op.STALL, [small(1)], { ctxSel: 1 })
    .req(W.Op.DRIVER_INFO, [], { ctxSel: 1 })
    .req(W.Op.DEVICE_INFO, [small(0, 200)], { ctxSel: 1 })
    .req(W.Op.ERROR_TABLE, [], { ctxSel: 1 })
    .req(W.Op.STAGE_LOOKUP, [small(0), small(0), small(0), small(0), bound(17)], { ctxSel: 1 }),
  'ring-lies': () => base()
    .req(W.Op.MEM_ALLOC, [size(1, 12), small(0), small(0), small(0)], { dptr: 'a' })
    .raw(A.REQ, OPS.indexOf(W.Op.NOP), 0, 0, 0x80, A.REWRITE_LEN, 0x20, 0, 0, 0, A.PUBLISH_LIE, 0, A.SERVE),
  'toctou-copy': () => base()
    .req(W.Op.MEM_ALLOC, [size(1, 12), small(0), small(0), small(0)], { dptr: 'a' })
    .raw(A.COPY, 0x80, 0, 1, 0, 0) // unpublished? (published: COPY publishes); then rewrite its length field to 2^48
    .raw(A.REWRITE, 16 + 8, 0, S.BOUND, 9, A.SERVE, A.READ, 0),
};

const dir = process.argv[2] ?? 'test/fuzz/corpus/proxy-ring';
mkdirSync(dir, { recursive: true });
for (const [name, build] of Object.entries(flows)) {
  const bytes = build().bytes();
  writeFileSync(join(dir, `seed-${name}`), bytes);
  process.stdout.write(`${name}: ${bytes.length} bytes\n`);
}
