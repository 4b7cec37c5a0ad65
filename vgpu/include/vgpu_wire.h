/*
 * vgpu_wire.h — the IDM channel between libvgpu (guest) and vgpu-proxy (Dom0).
 *
 * This header is the single description of the wire.  The proxy's TypeScript
 * module proxy/wire/layout.ts is generated from it (tools/gen-wire-layout.py,
 * which asks the C compiler for every offset), and a test fails when the two
 * disagree.
 *
 * One shared region per guest process, created by the guest (a sealed memfd
 * for the shm transport; granted pages for the xen transport):
 *
 *  0            4096              4096+Q            4096+Q+P           4096+Q+P+A
 *  +------------+-----------------+-----------------+------------------+
 *  | control    | request ring    | response ring   | data arena       |
 *  | page       | Q bytes         | P bytes         | A bytes          |
 *  | vgpu_ctrl  | guest -> proxy  | proxy -> guest  | bulk bytes, both |
 *  +------------+-----------------+-----------------+------------------+
 *
 *  Q, P, A are powers of two.  The proxy copies them once, checks them
 *  against the real size of the region, and never reads them again.
 *
 * Rings carry records.  A record starts on a 16-byte boundary with a 16-byte
 * header and never wraps: a producer that lacks room before the end of the
 * ring writes a VGPU_OP_PAD record that fills the rest, and starts again at
 * offset 0.
 *
 *     ring (size S = power of two)
 *     +--------+------------------+--------+----------+-----+
 *     | rec    | rec              | rec    | PAD      |     |
 *     +--------+------------------+--------+----------+-----+
 *       ^ head & (S-1)                       ^ tail & (S-1)
 *
 *  head and tail are free-running 32-bit byte counters: the consumer owns
 *  head, the producer owns tail; the ring holds tail - head bytes, and is full
 *  when tail - head == S.  The producer writes the record, /then/ publishes
 *  tail with release order; the consumer loads tail with acquire order,
 *  copies the record out, /then/ publishes head with release order.
 *
 * Arena: the guest alone allocates arena space, in order, as free-running
 * 32-bit positions; an allocation never wraps (the guest skips to the next
 * lap).  Requests name arena bytes with a vgpu_arena_ref {pos, len}; the
 * proxy checks (pos & (A-1)) + len <= A against its private copy of A.  When
 * the proxy and the GPU are done with the bytes of a request, the proxy
 * publishes arena_done = pos + len (requests complete in order).
 *
 * Wake-ups (xen: event channels instead).  The proxy sleeps on an eventfd
 * that the guest writes; guest threads sleep on the futex word wake_word,
 * which the proxy bumps and wakes (several guest threads may wait at once).
 * A waiter spins briefly, then announces itself (*_waiting), re-checks the
 * ring, and only then sleeps; a producer publishes, issues a full fence, and
 * kicks the peer only when the peer announced it may be asleep.
 *
 * Liveness: guest_state and proxy_state (VGPU_PEER_*).  Each side also
 * watches the other end of the unix socket the region was handed over, so a
 * peer that dies without writing its state is noticed at once.
 */
#ifndef VGPU_WIRE_H
#define VGPU_WIRE_H

#include <stdint.h>

#define VGPU_MAGIC          0x55504756u /* "VGPU" little-endian */
#define VGPU_VERSION_MAJOR  1
#define VGPU_VERSION_MINOR  2

#define VGPU_CTRL_SIZE      4096u
#define VGPU_RECORD_ALIGN   16u
#define VGPU_RECORD_MAX     65536u     /* largest record, header included */
#define VGPU_RING_MIN       131072u    /* smallest ring: two largest records */
#define VGPU_RING_MAX       (16u << 20)
#define VGPU_ARENA_MIN      (1u << 20)
#define VGPU_ARENA_MAX      (1u << 30)

/* guest_state / proxy_state */
#define VGPU_PEER_ABSENT    0u
#define VGPU_PEER_ALIVE     1u
#define VGPU_PEER_CLOSED    2u  /* left in an orderly way */
#define VGPU_PEER_FAULTED   3u  /* proxy: the guest broke the protocol; channel closed */

/*
 * Control page.  Every word says who writes it; the other side only reads.
 * Words written by different sides live on different cache lines.
 */
struct vgpu_ctrl {
	/* Setup, written by the guest before hand-over; the proxy copies it. */
	uint32_t magic;          /* VGPU_MAGIC */
	uint16_t version_major;  /* VGPU_VERSION_MAJOR: must match exactly */
	uint16_t version_minor;  /* VGPU_VERSION_MINOR: informational */
	uint32_t ctrl_size;      /* bytes, == VGPU_CTRL_SIZE */
	uint32_t req_ring_size;  /* bytes, power of two, VGPU_RING_MIN..MAX */
	uint32_t rsp_ring_size;  /* bytes, power of two, VGPU_RING_MIN..MAX */
	uint32_t arena_size;     /* bytes, power of two, VGPU_ARENA_MIN..MAX */
	uint64_t region_size;    /* bytes, == ctrl + rings + arena */
	uint8_t  setup_pad[32];

	/* Guest-written cache line. */
	uint32_t req_tail;       /* free-running bytes published to the request ring */
	uint32_t rsp_head;       /* free-running bytes consumed from the response ring */
	uint32_t guest_state;    /* VGPU_PEER_* */
	uint32_t guest_waiting;  /* number of guest threads that may be asleep on wake_word */
	uint8_t  guest_pad[48];

	/* Proxy-written cache line. */
	uint32_t req_head;       /* free-running bytes consumed from the request ring */
	uint32_t rsp_tail;       /* free-running bytes published to the response ring */
	uint32_t proxy_state;    /* VGPU_PEER_* */
	uint32_t proxy_waiting;  /* 1 while the proxy may sleep on its eventfd */
	uint32_t arena_done;     /* free-running arena position below which nothing is in use by the proxy or GPU */
	uint32_t done_seq;       /* seq of the last request the proxy has finished */
	uint32_t wake_word;      /* shm: +1 at each wake-up of the guest; the guest's futex word */
	uint8_t  proxy_pad[36];
};

/* Record header of the request ring. */
struct vgpu_req_hdr {
	uint32_t len;    /* bytes of the record, header included; multiple of 16, <= VGPU_RECORD_MAX */
	uint16_t op;     /* enum vgpu_op */
	uint16_t flags;  /* VGPU_RF_* */
	uint32_t seq;    /* guest's request number, +1 per request; 0 in PAD records */
	uint32_t ctx;    /* guest context id current on the calling thread, 0 for none */
};

/* Record header of the response ring: same size and layout as the request header. */
struct vgpu_rsp_hdr {
	uint32_t len;    /* bytes of the record, header included; multiple of 16 */
	uint16_t op;     /* op of the request answered */
	uint16_t flags;  /* 0 */
	uint32_t seq;    /* seq of the request answered */
	int32_t  result; /* CUresult */
};

/* Request flags. */
#define VGPU_RF_REPLY   0x0001u  /* the guest waits for a response record */
#define VGPU_RF_ASYNC   0x0002u  /* stream-ordered: do not wait for the stream */
#define VGPU_RF_PTDS    0x0004u  /* synchronous, but on the given (per-thread) stream: the _ptds entry points */
/*
 * While a stream capture is active, each request carries the calling guest
 * thread's capture interaction mode (cuThreadExchangeStreamCaptureMode),
 * plus one, in bits 8-9; the proxy's thread takes that mode before the
 * request runs.  0: no capture active, mode irrelevant.
 */
#define VGPU_RF_CAPMODE_SHIFT 8
#define VGPU_RF_CAPMODE_MASK  0x0300u

/* Stream ids on the wire; proxy-issued ids start at VGPU_FIRST_ID. */
#define VGPU_STREAM_NULL     0u
#define VGPU_STREAM_LEGACY   1u
#define VGPU_FIRST_ID        16u

enum vgpu_op {
	VGPU_OP_PAD = 0,              /* filler to the end of a ring; no payload meaning */
	/* diagnostics (always available, touch only the guest's own region) */
	VGPU_OP_NOP = 1,              /* -> result 0 */
	VGPU_OP_ECHO = 2,             /* vgpu_req_echo -> vgpu_rsp_echo */
	VGPU_OP_STALL = 3,            /* vgpu_req_stall: the proxy sleeps (kill tests) */
	/* driver and devices */
	VGPU_OP_DRIVER_INFO = 10,     /* -> vgpu_rsp_driver_info */
	VGPU_OP_DEVICE_INFO = 11,     /* vgpu_req_device_info -> vgpu_rsp_device_info + int32 attrs[] */
	VGPU_OP_ERROR_TABLE = 12,     /* -> vgpu_rsp_error_table + entries */
	/* contexts */
	VGPU_OP_CTX_CREATE = 20,      /* vgpu_req_ctx_create -> vgpu_rsp_ctx */
	VGPU_OP_CTX_DESTROY = 21,     /* vgpu_req_handle */
	VGPU_OP_PRIMARY_RETAIN = 22,  /* vgpu_req_device -> vgpu_rsp_ctx */
	VGPU_OP_PRIMARY_RELEASE = 23, /* vgpu_req_device */
	VGPU_OP_PRIMARY_SET_FLAGS = 24, /* vgpu_req_primary_flags */
	VGPU_OP_PRIMARY_RESET = 25,   /* vgpu_req_device */
	VGPU_OP_CTX_SYNC = 26,        /* hdr.ctx */
	VGPU_OP_CTX_SET_LIMIT = 27,   /* vgpu_req_limit */
	VGPU_OP_CTX_GET_LIMIT = 28,   /* vgpu_req_limit -> vgpu_rsp_u64 */
	VGPU_OP_CTX_INFO = 29,        /* -> vgpu_rsp_ctx_info */
	VGPU_OP_CTX_SET_CACHE_CONFIG = 30, /* vgpu_req_u32 */
	/* memory */
	VGPU_OP_MEM_ALLOC = 40,       /* vgpu_req_mem_alloc -> vgpu_rsp_mem_alloc */
	VGPU_OP_MEM_FREE = 41,        /* vgpu_req_mem_free */
	VGPU_OP_MEM_GET_INFO = 42,    /* -> vgpu_rsp_mem_info */
	VGPU_OP_MEMCPY_HTOD = 43,     /* vgpu_req_memcpy_htod */
	VGPU_OP_MEMCPY_DTOH = 44,     /* vgpu_req_memcpy_dtoh */
	VGPU_OP_MEMCPY_DTOD = 45,     /* vgpu_req_memcpy_dtod */
	VGPU_OP_MEMSET = 46,          /* vgpu_req_memset */
	VGPU_OP_HOSTMEM_MAP = 47,     /* vgpu_req_hostmem_map (fd on the socket) -> vgpu_rsp_hostmem_map */
	VGPU_OP_HOSTMEM_UNMAP = 48,   /* vgpu_req_handle */
	VGPU_OP_MEMCPY_2D = 49,       /* vgpu_req_memcpy_2d */
	/* modules, libraries, functions, kernels */
	VGPU_OP_STAGE_APPEND = 60,    /* vgpu_req_stage_append: bytes into the proxy's staging buffer */
	VGPU_OP_MODULE_LOAD = 61,     /* vgpu_req_module_load + vgpu_jit_option[] -> vgpu_rsp_module_load + log */
	VGPU_OP_MODULE_UNLOAD = 62,   /* vgpu_req_handle */
	VGPU_OP_MODULE_GET_FUNCTION = 63, /* vgpu_req_symbol -> vgpu_rsp_func_info + vgpu_param_info[] */
	VGPU_OP_MODULE_GET_GLOBAL = 64,   /* vgpu_req_symbol -> vgpu_rsp_global */
	VGPU_OP_LIBRARY_LOAD = 65,    /* vgpu_req_module_load + options -> vgpu_rsp_module_load */
	VGPU_OP_LIBRARY_UNLOAD = 66,  /* vgpu_req_handle */
	VGPU_OP_LIBRARY_GET_KERNEL = 67,  /* vgpu_req_symbol -> vgpu_rsp_handle */
	VGPU_OP_LIBRARY_GET_MODULE = 68,  /* vgpu_req_handle -> vgpu_rsp_handle */
	VGPU_OP_LIBRARY_GET_GLOBAL = 69,  /* vgpu_req_symbol -> vgpu_rsp_global */
	VGPU_OP_KERNEL_GET_FUNCTION = 70, /* vgpu_req_handle -> vgpu_rsp_func_info + vgpu_param_info[] */
	VGPU_OP_FUNC_SET_ATTRIBUTE = 71,  /* vgpu_req_func_attr */
	VGPU_OP_KERNEL_SET_ATTRIBUTE = 72,/* vgpu_req_func_attr */
	VGPU_OP_FUNC_SET_CACHE_CONFIG = 73, /* vgpu_req_func_attr (value = CUfunc_cache) */
	VGPU_OP_KERNEL_GET_ATTRIBUTES = 74, /* vgpu_req_handle (aux = device) -> vgpu_rsp_func_info */
	VGPU_OP_MODULE_LOADING_MODE = 75, /* -> vgpu_rsp_u64 */
	/* execution */
	VGPU_OP_LAUNCH = 80,          /* vgpu_req_launch + vgpu_launch_attr[] + param bytes */
	VGPU_OP_OCC_MAX_BLOCKS = 81,  /* vgpu_req_occupancy -> vgpu_rsp_u64 */
	VGPU_OP_OCC_DSMEM = 82,       /* vgpu_req_occupancy -> vgpu_rsp_u64 */
	VGPU_OP_OCC_MAX_CLUSTERS = 83,/* vgpu_req_launch (no params) -> vgpu_rsp_u64 */
	VGPU_OP_OCC_CLUSTER_SIZE = 84,/* vgpu_req_launch (no params) -> vgpu_rsp_u64 */
	/* streams and events */
	VGPU_OP_STREAM_CREATE = 90,   /* vgpu_req_stream_create -> vgpu_rsp_handle */
	VGPU_OP_STREAM_DESTROY = 91,  /* vgpu_req_handle */
	VGPU_OP_STREAM_SYNC = 92,     /* vgpu_req_handle */
	VGPU_OP_STREAM_QUERY = 93,    /* vgpu_req_handle */
	VGPU_OP_STREAM_WAIT_EVENT = 94, /* vgpu_req_stream_event */
	VGPU_OP_EVENT_CREATE = 95,    /* vgpu_req_u32 (flags) -> vgpu_rsp_handle */
	VGPU_OP_EVENT_DESTROY = 96,   /* vgpu_req_handle */
	VGPU_OP_EVENT_RECORD = 97,    /* vgpu_req_stream_event */
	VGPU_OP_EVENT_SYNC = 98,      /* vgpu_req_handle */
	VGPU_OP_EVENT_QUERY = 99,     /* vgpu_req_handle */
	VGPU_OP_EVENT_ELAPSED = 100,  /* vgpu_req_event_pair -> vgpu_rsp_elapsed */
	/* stream capture and graphs */
	VGPU_OP_STREAM_BEGIN_CAPTURE = 101, /* vgpu_req_capture -> vgpu_rsp_u64 (capture id) */
	VGPU_OP_STREAM_END_CAPTURE = 102,   /* vgpu_req_capture -> vgpu_rsp_handle (graph) */
	VGPU_OP_GRAPH_INSTANTIATE = 103,    /* vgpu_req_graph -> vgpu_rsp_handle (executable graph) */
	VGPU_OP_GRAPH_LAUNCH = 104,         /* vgpu_req_graph (id = executable graph) */
	VGPU_OP_GRAPH_UPLOAD = 105,         /* vgpu_req_graph (id = executable graph) */
	VGPU_OP_GRAPH_DESTROY = 106,        /* vgpu_req_handle */
	VGPU_OP_GRAPH_EXEC_DESTROY = 107,   /* vgpu_req_handle */
	/* module images sent once */
	VGPU_OP_STAGE_LOOKUP = 108,   /* vgpu_req_stage_lookup -> vgpu_rsp_u64 (1: staged from the proxy's cache) */
	VGPU_OP_GRAPH_NODE_LIST = 109,  /* vgpu_req_node_list -> vgpu_rsp_node_list + u32 ids[] */
	/* virtual memory management (cuMemCreate, cuMemMap, ...); the guest's handle is the proxy's id */
	VGPU_OP_VMM_GRANULARITY = 110, /* vgpu_req_vmm_granularity -> vgpu_rsp_u64 */
	VGPU_OP_VMM_CREATE = 111,     /* vgpu_req_vmm_create -> vgpu_rsp_handle */
	VGPU_OP_VMM_RELEASE = 112,    /* vgpu_req_handle */
	VGPU_OP_VMM_RESERVE = 113,    /* vgpu_req_vmm_reserve -> vgpu_rsp_u64 (address) */
	VGPU_OP_VMM_FREE = 114,       /* vgpu_req_vmm_range */
	VGPU_OP_VMM_MAP = 115,        /* vgpu_req_vmm_map */
	VGPU_OP_VMM_UNMAP = 116,      /* vgpu_req_vmm_range */
	VGPU_OP_VMM_SET_ACCESS = 117, /* vgpu_req_vmm_range + vgpu_vmm_access[count] */
	VGPU_OP_VMM_GET_ACCESS = 118, /* vgpu_req_vmm_get_access -> vgpu_rsp_u64 (CUmemAccess_flags) */
	VGPU_OP_VMM_PROPERTIES = 119, /* vgpu_req_handle -> vgpu_vmm_prop */
	VGPU_OP_VMM_RETAIN = 120,     /* vgpu_req_vmm_range (ptr) -> vgpu_rsp_handle */
	VGPU_OP_VMM_EXPORT = 121,     /* vgpu_req_vmm_share: may this handle be exported as that type? */
	VGPU_OP_VMM_IMPORT = 122,     /* vgpu_req_vmm_share -> vgpu_rsp_handle (the same id, one more reference) */
	/* host functions on streams (cuLaunchHostFunc, cuStreamAddCallback): run by the guest, gated by the proxy */
	VGPU_OP_HOST_FUNC_ENQUEUE = 123, /* vgpu_req_host_func: the stream's later work waits for HOST_FUNC_DONE */
	VGPU_OP_HOST_FUNC_QUERY = 124,   /* vgpu_req_host_func -> result 0: the work before it is done; NOT_READY; or the stream's error */
	VGPU_OP_HOST_FUNC_DONE = 125,    /* vgpu_req_host_func: the guest ran it; the stream goes on */
	/* graphs built node by node (XLA's command buffers), and capture into an existing graph */
	VGPU_OP_GRAPH_CREATE = 126,      /* vgpu_req_u32 (flags) -> vgpu_rsp_handle (graph) */
	VGPU_OP_GRAPH_ADD_NODE = 127,    /* vgpu_req_graph_node + u32 deps[] + the node's parameters -> vgpu_rsp_handle (node) */
	VGPU_OP_GRAPH_EXEC_SET_NODE = 128, /* vgpu_req_graph_exec_node + the node's new parameters */
	VGPU_OP_GRAPH_NODE_ENABLE = 129, /* vgpu_req_graph_exec_node (value: enabled) */
	VGPU_OP_STREAM_CAPTURE_TO_GRAPH = 130, /* vgpu_req_capture_to_graph + u32 deps[] -> vgpu_rsp_u64 (capture id) */
	VGPU_OP_COUNT = 131
};

/* A range of the data arena. */
struct vgpu_arena_ref {
	uint32_t pos;    /* free-running arena position of the first byte */
	uint32_t len;    /* bytes; (pos & (A-1)) + len <= A */
};

/* --- diagnostics --- */
struct vgpu_req_echo {
	struct vgpu_arena_ref in;   /* bytes to read */
	struct vgpu_arena_ref out;  /* where to write them back, same length */
	uint32_t xor_byte;          /* each byte is written back XORed with this (low 8 bits) */
	uint32_t pad;
};
struct vgpu_rsp_echo {
	uint64_t sum;               /* sum of the input bytes, as read by the proxy */
};
struct vgpu_req_stall {
	uint32_t millis;            /* <= 10000 */
	uint32_t pad;
};

/* --- generic --- */
struct vgpu_req_handle {
	uint32_t id;                /* a handle id the proxy issued to this guest */
	uint32_t aux;               /* op-specific (device ordinal, flags) */
};
struct vgpu_req_u32 {
	uint32_t value;
	uint32_t pad;
};
struct vgpu_req_device {
	int32_t device;             /* guest device ordinal */
	uint32_t pad;
};
struct vgpu_rsp_handle {
	uint32_t id;
	uint32_t pad;
};
struct vgpu_rsp_u64 {
	uint64_t value;
};

/* --- driver and devices --- */
struct vgpu_rsp_driver_info {
	int32_t driver_version;     /* cuDriverGetVersion of the real driver */
	int32_t device_count;       /* devices this guest may use */
	uint32_t guest_id;          /* the proxy's number for this guest, for logs */
	uint32_t pad;
};
struct vgpu_req_device_info {
	int32_t device;             /* guest device ordinal */
	uint32_t attr_count;        /* attributes wanted: 1..attr_count-1, <= 1024 */
};
struct vgpu_rsp_device_info {
	char     name[256];         /* NUL-terminated */
	uint8_t  uuid[16];
	char     pci_bus_id[32];    /* NUL-terminated, cuDeviceGetPCIBusId form */
	uint64_t total_mem;         /* bytes: the guest's quota where it is smaller than the device */
	uint32_t attr_count;        /* int32 values that follow, index = attribute */
	uint32_t pad;
	/* int32_t attrs[attr_count]: INT32_MIN where the driver refused the attribute */
};
struct vgpu_rsp_error_table {
	uint32_t count;             /* entries that follow */
	uint32_t pad;
	/* count x { int32 code; uint16 name_len; uint16 string_len; name bytes; string bytes; } padded to 4 */
};

/* --- contexts --- */
struct vgpu_req_ctx_create {
	int32_t device;
	uint32_t flags;             /* CUctx_flags */
};
struct vgpu_rsp_ctx {
	uint32_t id;                /* context id */
	uint32_t flags;             /* flags in effect */
	int32_t  active;            /* primary context: 1 when active */
	uint32_t pad;
};
struct vgpu_req_primary_flags {
	int32_t device;
	uint32_t flags;
};
struct vgpu_req_limit {
	uint32_t limit;             /* CUlimit */
	uint32_t pad;
	uint64_t value;
};
struct vgpu_rsp_ctx_info {
	uint64_t ctx_unique_id;     /* cuCtxGetId */
	uint32_t api_version;       /* cuCtxGetApiVersion */
	int32_t  least_priority;    /* cuCtxGetStreamPriorityRange */
	int32_t  greatest_priority;
	uint32_t cache_config;      /* CUfunc_cache */
	uint32_t flags;             /* cuCtxGetFlags: the flags in effect, as the driver reports them */
	uint32_t pad;
};

/* --- memory --- */
struct vgpu_req_mem_alloc {
	uint64_t bytes;
	uint64_t width;             /* pitch allocation: width in bytes (0: linear) */
	uint32_t height;            /* pitch allocation: rows */
	uint32_t elem_size;         /* pitch allocation: 4, 8 or 16 */
	uint32_t stream;            /* VGPU_RF_ASYNC: stream-ordered allocation on this stream */
	uint32_t pad;
};
struct vgpu_rsp_mem_alloc {
	uint64_t dptr;
	uint64_t pitch;
};
struct vgpu_req_mem_free {
	uint64_t dptr;
	uint32_t stream;            /* VGPU_RF_ASYNC: stream-ordered free */
	uint32_t pad;
};
struct vgpu_rsp_mem_info {
	uint64_t free;
	uint64_t total;
};
/* Host side of a copy: arena bytes, or a page-locked segment shared with the proxy. */
struct vgpu_host_ref {
	uint32_t segment;           /* 0: arena (arena.pos is used); else a hostmem id */
	uint32_t pad;
	uint64_t offset;            /* segment: byte offset */
	struct vgpu_arena_ref arena;
};
struct vgpu_req_memcpy_htod {
	uint64_t dst;
	uint64_t bytes;
	struct vgpu_host_ref src;
	uint32_t stream;
	uint32_t pad;
};
struct vgpu_req_memcpy_dtoh {
	uint64_t src;
	uint64_t bytes;
	struct vgpu_host_ref dst;
	uint32_t stream;
	uint32_t pad;
};
struct vgpu_req_memcpy_dtod {
	uint64_t dst;
	uint64_t src;
	uint64_t bytes;
	uint32_t stream;
	uint32_t pad;
};
struct vgpu_req_memset {
	uint64_t dst;
	uint64_t pitch;             /* bytes between rows; 0 for 1-D */
	uint64_t width;             /* elements per row (1-D: element count) */
	uint64_t height;            /* rows; 1 for 1-D */
	uint32_t value;
	uint32_t elem_size;         /* 1, 2 or 4 */
	uint32_t stream;
	uint32_t pad;
};
/* 2-D copy; each side is device memory or a host reference, resolved by the guest. */
struct vgpu_req_memcpy_2d {
	uint64_t src_device;        /* device address when src_is_host == 0 */
	uint64_t dst_device;
	struct vgpu_host_ref src_host;  /* packed rows of width_bytes when src_is_host */
	struct vgpu_host_ref dst_host;
	uint64_t src_x_bytes, src_y, src_pitch;
	uint64_t dst_x_bytes, dst_y, dst_pitch;
	uint64_t width_bytes, height;
	uint32_t src_is_host;
	uint32_t dst_is_host;
	uint32_t stream;
	uint32_t pad;
};
struct vgpu_req_hostmem_map {
	uint64_t bytes;             /* size of the segment (the memfd handed over on the socket) */
	uint32_t flags;             /* CU_MEMHOSTALLOC_* */
	uint32_t token;             /* matches the token sent with the fd */
};
struct vgpu_rsp_hostmem_map {
	uint32_t id;                /* segment id for vgpu_host_ref */
	uint32_t pad;
	uint64_t device_ptr;        /* device address of the segment when mapped (DEVICEMAP), else 0 */
};

/* --- modules --- */
struct vgpu_req_stage_append {
	struct vgpu_arena_ref data;
	uint32_t reset;             /* 1: discard what was staged before */
	uint32_t pad;
};
/*
 * Before sending an image, the guest names it by its SHA-256: when the proxy's
 * content-addressed cache (shared by all guests, keyed by hashes the proxy
 * computes itself) holds it, the proxy stages it and the bytes need not travel.
 */
struct vgpu_req_stage_lookup {
	uint8_t  sha256[32];
	uint64_t bytes;
};
struct vgpu_jit_option {
	uint32_t option;            /* CUjit_option / CUlibraryOption */
	uint32_t pad;
	uint64_t value;             /* by value; log buffers are managed by the proxy */
};
struct vgpu_req_module_load {
	uint64_t image_bytes;       /* bytes staged with VGPU_OP_STAGE_APPEND */
	uint32_t jit_count;         /* vgpu_jit_option that follow */
	uint32_t lib_count;         /* then this many library options */
	uint32_t log_bytes;         /* capacity wanted for info and error logs each, <= 65536 */
	uint32_t pad;
};
struct vgpu_rsp_module_load {
	uint32_t id;
	uint32_t info_log_len;      /* bytes of info log that follow */
	uint32_t error_log_len;     /* then bytes of error log */
	uint32_t pad;
};
struct vgpu_req_symbol {
	uint32_t owner;             /* module or library id */
	uint32_t name_len;          /* bytes of the name that follow, without NUL, <= 4096 */
};
#define VGPU_FUNC_ATTR_COUNT 16
struct vgpu_rsp_func_info {
	uint32_t id;                /* function id */
	uint32_t param_count;       /* vgpu_param_info that follow */
	int32_t  attrs[VGPU_FUNC_ATTR_COUNT]; /* CUfunction_attribute values, INT32_MIN when refused */
	uint32_t param_info_result; /* CUresult of cuFuncGetParamInfo for index 0 (NOT_SUPPORTED: no layout) */
	uint32_t pad;
};
struct vgpu_param_info {
	uint32_t offset;
	uint32_t size;
};
struct vgpu_rsp_global {
	uint64_t dptr;
	uint64_t bytes;
};
struct vgpu_req_func_attr {
	uint32_t id;                /* function or kernel id */
	uint32_t attr;
	int32_t  value;
	int32_t  device;            /* kernels */
};

/* --- execution --- */
#define VGPU_LAUNCH_KERNEL_HANDLE 0x1u  /* func names a kernel (CUkernel), not a function */
#define VGPU_LAUNCH_EX            0x2u  /* cuLaunchKernelEx: attributes follow (cooperative launches too) */
struct vgpu_req_launch {
	uint32_t func;
	uint32_t launch_flags;      /* VGPU_LAUNCH_* */
	uint32_t grid[3];
	uint32_t block[3];
	uint32_t shared_mem;
	uint32_t stream;
	uint32_t attr_count;        /* vgpu_launch_attr that follow, <= 32 */
	uint32_t param_bytes;       /* then the packed parameter buffer, <= 32764 */
};
/* A CUlaunchAttribute by value; handles inside are guest ids, translated by the proxy. */
struct vgpu_launch_attr {
	uint32_t id;                /* CUlaunchAttributeID */
	uint32_t pad;
	uint8_t  value[64];         /* CUlaunchAttributeValue */
};
struct vgpu_req_occupancy {
	uint32_t func;
	uint32_t flags;
	int32_t  block_size;
	uint32_t pad;
	uint64_t dynamic_smem;
	int32_t  num_blocks;
	uint32_t pad2;
};

/* --- streams and events --- */
struct vgpu_req_stream_create {
	uint32_t flags;
	int32_t  priority;
};
struct vgpu_req_stream_event {
	uint32_t stream;
	uint32_t event;
	uint32_t flags;
	uint32_t pad;
};
struct vgpu_req_event_pair {
	uint32_t start;
	uint32_t end;
};
struct vgpu_rsp_elapsed {
	float    millis;
	uint32_t pad;
};

/* --- stream capture and graphs --- */
struct vgpu_req_capture {
	uint32_t stream;
	uint32_t mode;              /* CUstreamCaptureMode */
};
struct vgpu_req_graph {
	uint32_t id;                /* graph, or executable graph */
	uint32_t stream;            /* launch and upload */
	uint64_t flags;             /* instantiate: CUgraphInstantiate_flags */
};

/*
 * Graphs built node by node.  A node's parameters follow its header (and, for
 * a new node, the ids of the nodes it depends on):
 *   KERNEL        vgpu_req_launch (stream and attr_count 0) + packed parameters
 *   MEMSET        vgpu_req_memset (stream 0)
 *   MEMCPY        vgpu_node_memcpy: device to device, one dimension
 *   CHILD         vgpu_node_ref: the graph cloned into the node
 *   EVENT_RECORD, EVENT_WAIT  vgpu_node_ref: the event
 *   EMPTY         nothing
 * Node ids are the proxy's; a node lives as long as its graph.
 */
#define VGPU_NODE_EMPTY        0u
#define VGPU_NODE_KERNEL       1u
#define VGPU_NODE_MEMSET       2u
#define VGPU_NODE_MEMCPY       3u
#define VGPU_NODE_CHILD        4u
#define VGPU_NODE_EVENT_RECORD 5u
#define VGPU_NODE_EVENT_WAIT   6u
#define VGPU_GRAPH_DEPS_MAX    1024u  /* dependencies one request may name */
#define VGPU_NODE_LIST_MAX     4096u  /* node ids one answer may hold */
struct vgpu_req_graph_node {
	uint32_t graph;
	uint32_t type;              /* VGPU_NODE_* */
	uint32_t dep_count;         /* u32 node ids that follow, <= VGPU_GRAPH_DEPS_MAX */
	uint32_t pad;
};
struct vgpu_req_graph_exec_node {
	uint32_t exec;              /* executable graph */
	uint32_t node;              /* a node of the graph it was instantiated from */
	uint32_t type;              /* VGPU_NODE_* (set parameters) */
	uint32_t value;             /* enable: 0 or 1 */
};
struct vgpu_node_memcpy {
	uint64_t dst;
	uint64_t src;
	uint64_t bytes;
};
struct vgpu_node_ref {
	uint32_t id;                /* a graph or an event */
	uint32_t pad;
};
struct vgpu_req_capture_to_graph {
	uint32_t stream;
	uint32_t mode;              /* CUstreamCaptureMode */
	uint32_t graph;
	uint32_t dep_count;         /* u32 node ids that follow */
};
#define VGPU_LIST_GRAPH_NODES  0u  /* the nodes of graph `id` */
#define VGPU_LIST_NODE_DEPS    1u  /* the nodes node `id` depends on */
struct vgpu_req_node_list {
	uint32_t id;
	uint32_t what;              /* VGPU_LIST_* */
};
struct vgpu_rsp_node_list {
	uint32_t count;             /* nodes in all; ids[] holds min(count, VGPU_NODE_LIST_MAX) */
	uint32_t pad;
};

/* --- virtual memory management --- */
/*
 * CUmemAllocationProp by value, field by field (its pointer field,
 * win32HandleMetaData, has no meaning on Linux and does not travel).
 * location_id is the guest's device ordinal; the proxy translates it.
 */
struct vgpu_vmm_prop {
	uint32_t type;              /* CUmemAllocationType */
	uint32_t handle_types;      /* CUmemAllocationHandleType bits */
	uint32_t location_type;     /* CUmemLocationType: only CU_MEM_LOCATION_TYPE_DEVICE travels */
	int32_t  location_id;
	uint8_t  compression_type;  /* allocFlags */
	uint8_t  gpu_direct_rdma_capable;
	uint16_t usage;
	uint32_t pad;
};
struct vgpu_req_vmm_granularity {
	struct vgpu_vmm_prop prop;
	uint32_t option;            /* CUmemAllocationGranularity_flags */
	uint32_t pad;
};
struct vgpu_req_vmm_create {
	uint64_t bytes;
	uint64_t flags;             /* must be 0 */
	struct vgpu_vmm_prop prop;
};
struct vgpu_req_vmm_reserve {
	uint64_t bytes;
	uint64_t alignment;
	uint64_t addr;              /* hint; 0 for none */
	uint64_t flags;             /* must be 0 */
};
/* A virtual range: cuMemAddressFree, cuMemUnmap, cuMemSetAccess (count descriptors follow), cuMemRetainAllocationHandle (ptr only). */
struct vgpu_req_vmm_range {
	uint64_t ptr;
	uint64_t bytes;
	uint32_t count;
	uint32_t pad;
};
struct vgpu_req_vmm_map {
	uint64_t ptr;
	uint64_t bytes;
	uint64_t offset;            /* into the physical allocation */
	uint64_t flags;             /* must be 0 */
	uint32_t handle;            /* an id from VGPU_OP_VMM_CREATE */
	uint32_t pad;
};
/* CUmemAccessDesc by value; location_id is the guest's device ordinal. */
struct vgpu_vmm_access {
	uint32_t location_type;
	int32_t  location_id;
	uint32_t flags;             /* CUmemAccess_flags */
	uint32_t pad;
};
#define VGPU_VMM_ACCESS_MAX 64u    /* descriptors in one cuMemSetAccess */
struct vgpu_req_vmm_get_access {
	uint64_t ptr;
	uint32_t location_type;
	int32_t  location_id;
};
struct vgpu_req_vmm_share {
	uint32_t handle;
	uint32_t handle_type;       /* CUmemAllocationHandleType */
	uint64_t flags;
};

/* --- host functions --- */
/*
 * A host function on a stream: the proxy records an event behind the work
 * before it and makes the stream wait (a stream memory wait on a word only
 * the proxy writes) until the guest, having run the function once the event
 * completed, says HOST_FUNC_DONE.  Tokens are the guest's, unique among its
 * pending host functions.
 */
struct vgpu_req_host_func {
	uint32_t stream;
	uint32_t token;
};
#define VGPU_HOST_FUNC_PENDING_MAX 65536u

/* --- the unix-socket hand-over (shm transport) --- */
#define VGPU_HELLO_MAGIC 0x4c454856u /* "VHEL" */
struct vgpu_hello {                 /* guest -> proxy, with SCM_RIGHTS {region memfd, guest eventfd, proxy eventfd} */
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	uint64_t region_size;
	char     client[64];            /* program name, for logs; NUL-terminated */
};
struct vgpu_welcome {               /* proxy -> guest */
	uint32_t magic;
	int32_t  status;                /* 0, or a CUresult */
	uint32_t guest_id;
	uint32_t pad;
	char     message[240];          /* NUL-terminated reason when status != 0 */
};
struct vgpu_fd_note {               /* guest -> proxy, with SCM_RIGHTS {memfd} before VGPU_OP_HOSTMEM_MAP */
	uint32_t magic;                 /* VGPU_HELLO_MAGIC */
	uint32_t token;
};

#endif /* VGPU_WIRE_H */
