/*
 * api.h — what the driver-API implementations of libvgpu share: the process
 * state, the guest-side objects behind CUDA handles, and the helpers that
 * turn handles into wire ids.
 *
 * Every exported function is compiled with -D__CUDA_API_VERSION_INTERNAL, so
 * cuda.h names each ABI under its own name (cuMemAlloc is the legacy 32-bit
 * one, cuMemAlloc_v2 the current one).
 */
#ifndef VGPU_API_H
#define VGPU_API_H

#include <pthread.h>
#include <stdint.h>
#include <cuda.h>

#include "channel/channel.h"
#include "log.h"
#include "vgpu_wire.h"

#define VGPU_EXPORT __attribute__((visibility("default")))

/* The one virtual device this guest sees, fetched once at cuInit. */
struct vgpu_device {
	char     name[256];
	CUuuid   uuid;
	char     pci_bus_id[32];
	size_t   total_mem;
	uint32_t attr_count;
	int32_t *attrs;          /* INT32_MIN: the driver refused that attribute */
};

#define VGPU_ATTR_REFUSED INT32_MIN

/* Magic numbers of guest objects, so a stray handle is refused, not followed. */
enum {
	VGPU_MAGIC_CTX = 0x78746356,    /* "Vctx" */
	VGPU_MAGIC_STREAM = 0x6d727356,
	VGPU_MAGIC_EVENT = 0x74766556,
	VGPU_MAGIC_MODULE = 0x646f6d56,
	VGPU_MAGIC_FUNC = 0x636e7556,
	VGPU_MAGIC_LIBRARY = 0x62696c56,
	VGPU_MAGIC_KERNEL = 0x6e726b56,
	VGPU_MAGIC_GRAPH = 0x70726756,
	VGPU_MAGIC_GRAPH_EXEC = 0x78656756,
	VGPU_MAGIC_DEAD = 0x64616544,
};

#define VGPU_LIMIT_COUNT 8

struct vgpu_ctx {
	uint32_t magic;
	uint32_t id;              /* proxy-issued; 0 while a primary context is inactive */
	CUdevice dev;
	unsigned flags;           /* primary context: the flags set (cuDevicePrimaryCtxGetState); the driver's are driver_flags */
	int      is_primary;
	/* Facts fetched once (VGPU_OP_CTX_INFO). */
	int      info_fetched;
	unsigned long long unique_id;
	unsigned api_version;
	int      least_priority, greatest_priority;
	CUfunc_cache cache_config;
	unsigned int driver_flags; /* cuCtxGetFlags (ctx_info) */
	/* Limits fetched or set, by CUlimit. */
	size_t   limits[VGPU_LIMIT_COUNT];
	uint32_t limits_known;    /* bit per CUlimit */
	pthread_mutex_t lock;
};

struct vgpu_stream {
	uint32_t magic;
	uint32_t id;
	struct vgpu_ctx *ctx;
	unsigned flags;
	int priority;
};

struct vgpu_event {
	uint32_t magic;
	uint32_t id;
	struct vgpu_ctx *ctx;
	unsigned flags;
};

/* A graph (VGPU_MAGIC_GRAPH) or an executable graph (VGPU_MAGIC_GRAPH_EXEC). */
struct vgpu_graph {
	uint32_t magic;
	uint32_t id;
	struct vgpu_ctx *ctx;
};

struct vgpu_param_layout {
	uint32_t count;
	uint32_t result;          /* CUresult of the proxy's cuFuncGetParamInfo; non-zero: layout unknown */
	uint32_t total;           /* bytes of the packed buffer */
	struct vgpu_param_info *params;
};

struct vgpu_func {
	uint32_t magic;
	uint32_t id;
	struct vgpu_ctx *ctx;
	struct vgpu_module *module;   /* NULL for functions of kernels */
	struct vgpu_kernel *kernel;   /* set for functions got from a kernel */
	char    *name;
	int32_t  attrs[VGPU_FUNC_ATTR_COUNT];
	struct vgpu_param_layout layout;
	struct vgpu_func *next;       /* in the module's or kernel's list */
};

struct vgpu_module {
	uint32_t magic;
	uint32_t id;
	struct vgpu_ctx *ctx;         /* NULL for a library's module */
	struct vgpu_func *funcs;
	pthread_mutex_t lock;
};

struct vgpu_kernel {
	uint32_t magic;
	uint32_t id;
	struct vgpu_library *library;
	char    *name;
	int      attrs_fetched;
	int32_t  attrs[VGPU_FUNC_ATTR_COUNT];
	struct vgpu_param_layout layout;  /* copied from the first function fetched */
	struct vgpu_func *funcs;          /* one per context */
	struct vgpu_kernel *next;
};

struct vgpu_library {
	uint32_t magic;
	uint32_t id;
	struct vgpu_kernel *kernels;
	pthread_mutex_t lock;
};

struct vgpu_state {
	pthread_mutex_t lock;
	int      connected;           /* channel open and driver facts fetched */
	CUresult connect_result;      /* the answer of the first attempt, kept */
	int      initialized;         /* cuInit succeeded */
	struct vgpu_channel *ch;
	int      driver_version;
	int      device_count;
	uint32_t guest_id;
	struct vgpu_device dev;
	struct vgpu_ctx primary;      /* the device's primary context (one device) */
	int      primary_retains;
};

extern struct vgpu_state vgpu;

/* Connects to the proxy once and fetches driver and device facts; the same answer afterwards. */
CUresult vgpu_connect(void);
/* CUDA_SUCCESS once cuInit succeeded, else what a driver answers before cuInit. */
static inline CUresult vgpu_ready(void)
{
	return __atomic_load_n(&vgpu.initialized, __ATOMIC_ACQUIRE) ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

/* The guest object behind an application's handle when it carries the expected magic, else NULL. */
static inline void *vgpu_object(const void *h, uint32_t magic)
{
	return h && *(const uint32_t *)h == magic ? (void *)h : NULL;
}

/* The calling thread's current context (top of its stack), or NULL. */
struct vgpu_ctx *vgpu_current_ctx(void);
int vgpu_ctx_push(struct vgpu_ctx *c);                 /* -1 when the stack is full */
struct vgpu_ctx *vgpu_ctx_pop(void);
void vgpu_ctx_set_top(struct vgpu_ctx *c);             /* NULL pops */
void vgpu_ctx_stack_forget(struct vgpu_ctx *ctx);
/* The current context, or an error: NOT_INITIALIZED / INVALID_CONTEXT. */
CUresult vgpu_need_ctx(struct vgpu_ctx **out);
static inline uint32_t vgpu_ctx_id(const struct vgpu_ctx *c) { return c ? c->id : 0; }
/* A context handle from the application, checked; NULL means the current one. */
CUresult vgpu_ctx_arg(CUcontext h, struct vgpu_ctx **out);

/*
 * The wire id of a stream handle.  per_thread: the entry point is a _ptsz /
 * _ptds one, so NULL means the calling thread's per-thread default stream.
 */
CUresult vgpu_stream_id(CUstream h, int per_thread, struct vgpu_ctx *ctx, uint32_t *id);
CUresult vgpu_event_arg(CUevent h, struct vgpu_event **out);
CUresult vgpu_func_arg(CUfunction h, struct vgpu_func **fn, struct vgpu_kernel **kernel);

/* Device ordinal check. */
static inline CUresult vgpu_device_arg(CUdevice d)
{
	return (d >= 0 && d < vgpu.device_count) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

/* A synchronous call on the process channel. */
CUresult vgpu_rpc(uint16_t op, uint32_t ctx, const void *req, size_t req_len, void *rsp, size_t rsp_cap);
/* An asynchronous request (no answer). */
CUresult vgpu_post(uint16_t op, uint32_t ctx, const void *req, size_t req_len);

/* Device memory the guest allocated or found (globals), for pointer queries and copy directions. */
enum { VGPU_DEVMEM_ALLOC = 0, VGPU_DEVMEM_GLOBAL = 1, VGPU_DEVMEM_VMM = 2 /* a mapping of the virtual-memory API; ctx NULL */ };
void vgpu_devmem_add(CUdeviceptr base, size_t size, struct vgpu_ctx *ctx, int kind);
void vgpu_devmem_remove(CUdeviceptr base);
/* Forgets every range that intersects [base, base + size) (cuMemUnmap). */
void vgpu_devmem_remove_range(CUdeviceptr base, size_t size);
int  vgpu_devmem_find(CUdeviceptr p, CUdeviceptr *base, size_t *size, struct vgpu_ctx **ctx, unsigned long long *buffer_id);
void vgpu_devmem_drop_ctx(struct vgpu_ctx *ctx);

/* Page-locked host segments shared with the proxy. */
struct vgpu_hostseg {
	void    *host;
	size_t   size;
	uint32_t id;
	unsigned flags;
	CUdeviceptr device;       /* 0 unless mapped */
	struct vgpu_ctx *ctx;
	int      fd;
};
/* 1 and a copy of the segment holding [p, p+n), else 0. */
int vgpu_hostseg_find(const void *p, size_t n, struct vgpu_hostseg *out);
int vgpu_hostseg_add(const struct vgpu_hostseg *seg);
/* Removes the segment that starts at host; 1 and its copy when there was one. */
int vgpu_hostseg_take(const void *host, struct vgpu_hostseg *out);

#endif
