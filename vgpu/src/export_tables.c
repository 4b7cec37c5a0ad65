/*
 * export_tables.c — cuGetExportTable: the driver's private tables that
 * cudart (and the copies of it inside cuBLAS and cuDNN) ask for by UUID.
 *
 * NVIDIA documents none of this.  A table is an array of pointers; all but
 * the context-local-storage one start with their own size in bytes.  The
 * sizes below are the ones driver 580.159.04 hands out (measured on our H100,
 * /work/shared/reference/export-tables.md): a caller may read every entry the
 * size word covers, so each table is exactly that long.
 *
 * Every entry is libvgpu's own: the integrity check hashes the addresses of
 * two of these tables and of one function, so nothing here can point into
 * the real driver, which lives in another domain anyway.  Entries whose
 * purpose is known are implemented on libvgpu's own driver functions; every
 * other entry is a stub of its own that logs its table and slot once and
 * answers CUDA_ERROR_NOT_SUPPORTED, so a caller never gets silent success.
 * Where the real driver holds NULL we hold NULL too.
 *
 * Where the facts come from (read for facts only; none of their code is used):
 *   ZLUDA     vosen/ZLUDA: dark_api/src/lib.rs (table layouts, signatures,
 *             the integrity check), zluda/src/impl/driver.rs (its current
 *             implementation), zluda_dark_api/src/lib.rs (an older, longer
 *             list: CUDART slot 9, CONTEXT_CHECKS slot 2's pseudocode).
 *   GX        a CPU GPU emulator's context interposer (file header "GX GPU
 *             emulator"): TOOLS_TLS slot 2 and 21318c60 slot 4 "verified
 *             against the profiled CUDA driver".
 *   FEX       FEX-Emu's libcuda host thunk: CUDART slot 10 is NULL in the
 *             real driver.
 *   FakeGPU   a GPU-less libcuda stand-in ("fakegpu"): CUDART slot 12.
 *   SCUDA     a driver-level remoter: which slots of 21318c60 cuBLAS calls
 *             (4, 39, 51), and that cuBLAS asks f8cff951 and 21318c60.
 *   cuxtra    symbol names resolved from NVIDIA's libcuxtra by a public
 *             probe: 21318c60 is CU_ETID_ToolsContext.
 *   probe     our own measurements of driver 580.159.04 on the H100:
 *             export-tables.md, vgpu/tests/export_table_probe.c (table
 *             layouts, NULL entries, the known entries' behaviour, the
 *             integrity check end to end) and vgpu/tests/export_table_tracer.c
 *             (PyTorch 2.11: who asks which table, which entries are
 *             called, and what refusing a table does).
 *
 * Who asks (traced, PyTorch 2.11 with a cuBLAS GEMM and a cuDNN convolution):
 * the first seven tables below by libcudart.so.13, libcublas.so.13,
 * libcublasLt.so.13, libcudnn_graph.so.9 and libcudnn_engines_precompiled.so.9
 * each; 21318c60 by libcublasLt.so.13; 69a28e9f by libnvidia-ml.so.1;
 * 1734dc26 and da9151d3 by none of them in that run.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "context_storage.h"
#include "integrity.h"

enum table_id {
	T_CUDART,
	T_TOOLS_TLS,
	T_CALLBACK_HOOKS,
	T_CLS,
	T_CTX_CHECKS,
	T_INTEGRITY,
	T_F8CF,
	T_69A2,
	T_2131,
	T_1734,
	T_DA91,
	T_COUNT
};

#define SLOTS_MAX 100 /* the most stubs any table has (21318c60: 93 entries) */

/* --- stubs for entries whose purpose nobody has published --- */

static const char *table_name(enum table_id t);

static CUresult unknown_slot(enum table_id t, unsigned slot)
{
	char name[64];
	snprintf(name, sizeof(name), "export table %s slot %u", table_name(t), slot);
	return vgpu_unsupported(name);
}

/*
 * One function per (table, slot), so the log can name the slot.  They take
 * no parameters: on x86-64 System V the caller owns the argument registers
 * and stack, so a function that reads none of its arguments is safe to call
 * with any (as build/gen/stubs.c does for the foreign exports).
 */
#define STUB_FN(tag, t, s) \
	__attribute__((unused)) static CUresult stub_##tag##_##s(void) { return unknown_slot(t, s); }
#define STUB_ADDR(tag, t, s) (const void *)stub_##tag##_##s,
#define REP10(M, tag, t, d) \
	M(tag, t, d##0) M(tag, t, d##1) M(tag, t, d##2) M(tag, t, d##3) M(tag, t, d##4) \
	M(tag, t, d##5) M(tag, t, d##6) M(tag, t, d##7) M(tag, t, d##8) M(tag, t, d##9)
#define REP20(M, tag, t) REP10(M, tag, t, ) REP10(M, tag, t, 1)
#define REP40(M, tag, t) REP20(M, tag, t) REP10(M, tag, t, 2) REP10(M, tag, t, 3)
#define REP100(M, tag, t) \
	REP40(M, tag, t) REP10(M, tag, t, 4) REP10(M, tag, t, 5) REP10(M, tag, t, 6) \
	REP10(M, tag, t, 7) REP10(M, tag, t, 8) REP10(M, tag, t, 9)
/* stub_TAG_0 .. stub_TAG_(N-1) and the array stubs_TAG of their addresses, by slot. */
#define STUBS(REP, tag, t) \
	REP(STUB_FN, tag, t) \
	static const void *const stubs_##tag[] = { REP(STUB_ADDR, tag, t) };
#define REP10_ALL(M, tag, t) REP10(M, tag, t, )

STUBS(REP20, cudart, T_CUDART)
STUBS(REP10_ALL, tls, T_TOOLS_TLS)
STUBS(REP10_ALL, hooks, T_CALLBACK_HOOKS)
STUBS(REP20, checks, T_CTX_CHECKS)
STUBS(REP10_ALL, integrity, T_INTEGRITY)
STUBS(REP10_ALL, f8cf, T_F8CF)
STUBS(REP40, t69a2, T_69A2)
STUBS(REP100, t2131, T_2131)
STUBS(REP20, t1734, T_1734)
STUBS(REP10_ALL, tda91, T_DA91)

/* A context argument: NULL means the calling thread's current one. */
static CUresult ctx_resolve(CUcontext h, struct vgpu_ctx **out)
{
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	struct vgpu_ctx *c = h ? (struct vgpu_ctx *)h : vgpu_current_ctx();
	if (!c || c->magic != VGPU_MAGIC_CTX)
		return CUDA_ERROR_INVALID_CONTEXT;
	*out = c;
	return CUDA_SUCCESS;
}

/* --- 6bd5fb6c-5bf4-e74a-8987-d93912fd9df9: CUDART_INTERFACE (ZLUDA's name), 13 entries --- */

/* Slot 1: a module from a fatbin wrapper (__fatBinC_Wrapper_t), in the current context.  ZLUDA. */
static CUresult cudart_module_from_wrapper(CUmodule *module, const void *wrapper)
{
	if (!module || !wrapper)
		return CUDA_ERROR_INVALID_VALUE;
	/* libvgpu's image code follows the wrapper to the fatbin and sends that by value. */
	return cuModuleLoadFatBinary(module, wrapper);
}

/*
 * Slot 2: the primary context of a device, neither retained nor made
 * current: driver 580 answers the handle cuDevicePrimaryCtxRetain will give,
 * and the context stays inactive (probe: active_after=0).  ZLUDA retains
 * here; we follow the real driver, and cudart retains it itself.
 */
static CUresult cudart_primary_context(CUcontext *pctx, CUdevice dev)
{
	CUresult r = vgpu_ready();
	if (r == CUDA_SUCCESS && !pctx)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS)
		r = vgpu_device_arg(dev);
	if (r == CUDA_SUCCESS)
		*pctx = (CUcontext)&vgpu.primary;
	return r;
}

/*
 * Slot 6: slot 1 with three more arguments.  ZLUDA: the two pointers are
 * involved in host-variable registration and must be NULL for a plain
 * module; the count beside them is ignored.
 */
static CUresult cudart_module_from_wrapper_ex(CUmodule *module, const void *wrapper, void *a3, void *a4, unsigned a5)
{
	(void)a5;
	if (a3 || a4)
		return vgpu_unsupported("CUDART_INTERFACE slot 6 with host-variable arguments");
	return cudart_module_from_wrapper(module, wrapper);
}

/* Slot 7: takes one word and does nothing that a caller can observe (ZLUDA; export-tables.md). */
static CUresult cudart_fn7(size_t arg)
{
	(void)arg;
	return CUDA_SUCCESS;
}

/* Slot 8: a module from a fatbin itself (no wrapper); the extra arguments must be NULL and 0.  ZLUDA. */
static CUresult cudart_module_from_fatbin(const void *fatbin, CUmodule *module, void *a3, void *a4, unsigned a5)
{
	if (a3 || a4 || a5)
		return vgpu_unsupported("CUDART_INTERFACE slot 8 with extra arguments");
	if (!module || !fatbin)
		return CUDA_ERROR_INVALID_VALUE;
	return cuModuleLoadData(module, fatbin);
}

/* Slot 9: a launch with packed parameters only (ZLUDA's older list, zluda_dark_api: launch_kernel). */
static CUresult cudart_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
			      unsigned shared, CUstream stream, void **extra)
{
	return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, stream, NULL, extra);
}

/*
 * Slot 12, new in 13.x: loads the compiler components (export-tables.md;
 * FakeGPU answers success).  Not called in our PyTorch trace.  Here the real driver in the proxy
 * compiles, and loads its own components when it needs them: the guest has
 * none to load, so success is the true answer.  Logged, once.
 */
static CUresult cudart_load_compilers(void)
{
	static int seen;
	if (!__atomic_exchange_n(&seen, 1, __ATOMIC_RELAXED))
		VGPU_INFO("event=export_table_call table=CUDART_INTERFACE slot=12 note=\"compilers are the proxy's driver's\"");
	return CUDA_SUCCESS;
}

static const void *tbl_cudart[13];

/* --- 42d85a81-23f6-cb47-8298-f6e78a3aecdc: TOOLS_TLS, 3 entries --- */

/* Slot 2: the calling thread's current context (GX, verified on the real driver; cuBLASLt uses it). */
static CUresult tools_tls_current_context(CUcontext *pctx)
{
	return cuCtxGetCurrent(pctx);
}

static const void *tbl_tools_tls[3];

/* --- a094798c-2e74-2e74-93f2-0800200c0a66: TOOLS_RUNTIME_CALLBACK_HOOKS, 7 entries --- */

/*
 * Slots 2 and 6 hand cudart a buffer of the driver's and its size, and
 * return the buffer too (driver 580, traced: the return value is the
 * pointer written).  Sizes 1024 and 14, as driver 580 answers (probe) and
 * ZLUDA reported; their unit is unknown (ZLUDA's buffers had 8-byte, then
 * 4-byte elements; GX's are bytes), so the buffers have 1024 and 14
 * eight-byte words, large enough under any reading.
 */
static uint64_t hooks_buffer2[1024];
static uint64_t hooks_buffer6[14];

static void *hooks_get_buffer2(void **ptr, size_t *size)
{
	if (ptr)
		*ptr = hooks_buffer2;
	if (size)
		*size = 1024;
	return hooks_buffer2;
}

static void *hooks_get_buffer6(void **ptr, size_t *size)
{
	if (ptr)
		*ptr = hooks_buffer6;
	if (size)
		*size = 14;
	return hooks_buffer6;
}

static const void *tbl_hooks[7];

/*
 * --- c693336e-1121-df11-a8c3-68f355d89593: CONTEXT_LOCAL_STORAGE_INTERFACE_V0301 ---
 * No size word: slot 0 is already a function; slot 3 is NULL (ZLUDA; probe).
 * Signatures: put(ctx, key, value, dtor), delete(ctx, key), get(&value,
 * ctx, key); a NULL context is the current one (ZLUDA, GX; probe).
 * Semantics measured on driver 580 (probe), kept by context_storage.c: a
 * missing key is INVALID_HANDLE for get and delete, a second put of a key
 * is INVALID_HANDLE and keeps the first value, delete runs no destructor,
 * and destructors run as dtor(ctx, key, value) on cuCtxDestroy, on
 * cuDevicePrimaryCtxReset and on the last cuDevicePrimaryCtxRelease, after
 * the context is torn down and while it is still the current one.  Asked
 * by cudart and the copies of it in cuBLAS, cuBLASLt and cuDNN (probe).
 */
static CUresult cls_put(CUcontext ctx, void *key, void *value, vgpu_cls_dtor dtor)
{
	struct vgpu_ctx *c;
	CUresult r = ctx_resolve(ctx, &c);
	return r == CUDA_SUCCESS ? vgpu_cls_put((CUcontext)c, key, value, dtor) : r;
}

static CUresult cls_delete(CUcontext ctx, void *key)
{
	struct vgpu_ctx *c;
	CUresult r = ctx_resolve(ctx, &c);
	return r == CUDA_SUCCESS ? vgpu_cls_delete((CUcontext)c, key) : r;
}

static CUresult cls_get(void **value, CUcontext ctx, void *key)
{
	struct vgpu_ctx *c;
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = ctx_resolve(ctx, &c);
	return r == CUDA_SUCCESS ? vgpu_cls_get((CUcontext)c, key, value) : r;
}

static const void *tbl_cls[4];

/* --- 263e8860-7cd2-6143-92f6-bbd5006dfa7e: CONTEXT_CHECKS, 15 entries --- */

/*
 * Slot 2: is this context a wrapper of another?  ZLUDA's pseudocode of the
 * real one: a NULL context is the current one; a flag that no way of
 * creating a context sets says "wrapped", and then *unwrapped gets the
 * inner context.  No libvgpu context wraps another: *wrapped = 0.
 */
static CUresult checks_unwrap_context(CUcontext ctx, uint32_t *wrapped, CUcontext *unwrapped)
{
	struct vgpu_ctx *c;
	(void)unwrapped;
	CUresult r = ctx_resolve(ctx, &c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!wrapped)
		return CUDA_ERROR_INVALID_VALUE;
	*wrapped = 0;
	return CUDA_SUCCESS;
}

/*
 * Slot 3: answers 0 ("seems to always return 0": ZLUDA, GX).  cudart,
 * cuBLAS and cuDNN pass it arguments (traced on driver 580, which answered
 * 0 each time); it reads none.
 */
static uint32_t checks_fn3(void)
{
	return 0;
}

static const void *tbl_checks[15];

/* --- d4082055-bde6-704b-8d34-ba123c66e1f2: INTEGRITY_CHECK, 3 entries --- */

static const void *tbl_integrity[3];

/* The PCI location in "dddd:bb:dd.f", the form cuDeviceGetPCIBusId answers. */
static int parse_pci(const char *id, struct vgpu_integrity_device *d)
{
	unsigned domain, bus, device, function;
	if (sscanf(id, "%x:%x:%x.%x", &domain, &bus, &device, &function) != 4)
		return -1;
	d->pci_domain = (int32_t)domain;
	d->pci_bus = (int32_t)bus;
	d->pci_device = (int32_t)device;
	return 0;
}

/*
 * Slot 1: (version, unix seconds, out[2]).  Versions ending in 0 or 1 get
 * fixed answers (ZLUDA); the rest HMAC-MD2 over this process's facts
 * (integrity.h).  The device list is what libvgpu tells cudart about its
 * devices: every ordinal answers with the one virtual device's identity,
 * its UUID and the PCI location in its bus id (the same numbers the PCI
 * attributes answer).  Driver 580's own answers matched this computation
 * over its own tables and device for six versions (probe).  Slot 2 is a stub.
 */
static CUresult integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t out[2])
{
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	switch (version % 10) {
	case 0:
		out[0] = 0x3341181c03cb675cull;
		out[1] = 0x8ed383aa1f4cd1e8ull;
		return CUDA_SUCCESS;
	case 1:
		out[0] = 0x1841181c03cb675cull;
		out[1] = 0x8ed383aa1f4cd1e8ull;
		return CUDA_SUCCESS;
	}
	CUresult r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	int driver_version = 0;
	cuDriverGetVersion(&driver_version);
	struct vgpu_integrity_device dev;
	memcpy(dev.uuid, vgpu.dev.uuid.bytes, sizeof(dev.uuid));
	if (parse_pci(vgpu.dev.pci_bus_id, &dev) < 0) {
		VGPU_ERROR("event=integrity_check_failed reason=\"PCI bus id '%s' unreadable\"", vgpu.dev.pci_bus_id);
		return CUDA_ERROR_INVALID_DEVICE;
	}
	struct vgpu_integrity_device devs[8];
	unsigned n = vgpu.device_count > 0 ? (unsigned)vgpu.device_count : 0;
	if (n > 8)
		n = 8;
	for (unsigned i = 0; i < n; i++)
		devs[i] = dev;
	struct vgpu_integrity_input in = {
		.driver_version = (uint32_t)driver_version,
		.version = version,
		.process = (uint32_t)getpid(),
		.thread = (uint32_t)(uintptr_t)pthread_self(),
		.cudart_table = (uintptr_t)tbl_cudart,
		.integrity_table = (uintptr_t)tbl_integrity,
		.function = (uintptr_t)tbl_integrity[1],
		.unix_seconds = unix_seconds,
	};
	vgpu_integrity_answer(&in, devs, n, out);
	return CUDA_SUCCESS;
}

/*
 * --- f8cff951-2146-8b4e-b9e2-fb469e7c0dd9: 3 entries ---
 * Asked by every library at start; none of its entries was called in our
 * trace, and each library ran on when the table was refused (probe).  GX
 * reads slot 1 of a longer CUDA 13.2 layout as a logging callback of
 * cuDNN's; nothing confirms that for 13.0, so both entries are stubs.
 */

static const void *tbl_f8cf[3];

/* --- the tables asked once per process: contents unpublished --- */

/*
 * 69a28e9f-2449-8b47-b030-c5da330ea4e9: 34 entries, asked by NVML
 * (libnvidia-ml.so.1), which calls slots 19, 21, 24 and 25 (traced).  NVML
 * is the host's library: PyTorch ran on with these entries answering
 * NOT_SUPPORTED through libvgpu, and with the whole table refused on the
 * real driver (probe).  All stubs.
 */
static const void *tbl_69a2[34];

/*
 * 21318c60-9714-3248-8ca6-41ff7324c8f2: CU_ETID_ToolsContext (cuxtra), 93
 * entries, slot 91 NULL (probe).  Asked by cuBLASLt alone, which calls slot
 * 4 and, refused the table, fails every GEMM with CUBLAS_STATUS_NOT_SUPPORTED
 * (traced on driver 580 with PyTorch; SCUDA saw slots 39 and 51 called by
 * other workloads).  Slot 4 is (ctx, &id): the context's unique id, as
 * cuCtxGetId answers (GX; probe); a NULL context answers 0, not the current
 * one's (probe; SCUDA's stand-in does the same).
 */
static CUresult ctx_unique_id(CUcontext ctx, unsigned long long *id)
{
	if (!id)
		return CUDA_ERROR_INVALID_VALUE;
	if (!ctx) {
		CUresult r = vgpu_ready();
		if (r == CUDA_SUCCESS)
			*id = 0;
		return r;
	}
	return cuCtxGetId(ctx, id);
}

/*
 * Slots 51 and 39, which cuBLAS calls (CuPy's cupy.matmul fails
 * CUBLAS_STATUS_INTERNAL_ERROR without 51): a stream's private handle from its
 * public one, (ctx, stream, &private, per_thread), and the identity of a
 * private handle, (ctx, private, &identity) (a public driver-level remoter's
 * reading; checked against the real driver by export_table_probe).  Here the
 * public handle is the private one, NULL named as the default stream it
 * means, and the identity is cuStreamGetId's.
 */
static CUresult stream_private(CUcontext ctx, CUstream stream, void **out, int per_thread)
{
	(void)ctx;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	if (!stream)
		stream = per_thread ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
	unsigned long long id;
	CUresult r = cuStreamGetId(stream, &id); /* checks the handle */
	if (r == CUDA_SUCCESS)
		*out = (void *)stream;
	return r;
}

static CUresult stream_identity(CUcontext ctx, const void *priv, unsigned long long *identity)
{
	(void)ctx;
	if (!priv || !identity)
		return CUDA_ERROR_INVALID_VALUE;
	return cuStreamGetId((CUstream)priv, identity);
}

static const void *tbl_2131[93];
/* 1734dc26-800d-4745-8726-c0f1e7dd8bca (17 entries), da9151d3-3ae6-cc41-a5c0-4f26d533e328 (7): not asked in our trace; all stubs. */
static const void *tbl_1734[17];
static const void *tbl_da91[7];

/* --- the directory --- */

struct table {
	const char *name;
	uint8_t uuid[16];
	const void **entries;
	unsigned len;              /* entries, the size word included */
	int sized;                 /* entry 0 is the size in bytes */
	const void *const *stubs;  /* by slot; NULL for the table without any */
};

static struct table tables[T_COUNT] = {
	[T_CUDART] = { "CUDART_INTERFACE",
		       { 0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9 },
		       tbl_cudart, 13, 1, stubs_cudart },
	[T_TOOLS_TLS] = { "TOOLS_TLS",
			  { 0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47, 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc },
			  tbl_tools_tls, 3, 1, stubs_tls },
	[T_CALLBACK_HOOKS] = { "TOOLS_RUNTIME_CALLBACK_HOOKS",
			       { 0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66 },
			       tbl_hooks, 7, 1, stubs_hooks },
	[T_CLS] = { "CONTEXT_LOCAL_STORAGE",
		    { 0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93 },
		    tbl_cls, 4, 0, NULL },
	[T_CTX_CHECKS] = { "CONTEXT_CHECKS",
			   { 0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43, 0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e },
			   tbl_checks, 15, 1, stubs_checks },
	[T_INTEGRITY] = { "INTEGRITY_CHECK",
			  { 0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2 },
			  tbl_integrity, 3, 1, stubs_integrity },
	[T_F8CF] = { "f8cff951",
		     { 0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e, 0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9 },
		     tbl_f8cf, 3, 1, stubs_f8cf },
	[T_69A2] = { "69a28e9f",
		     { 0x69, 0xa2, 0x8e, 0x9f, 0x24, 0x49, 0x8b, 0x47, 0xb0, 0x30, 0xc5, 0xda, 0x33, 0x0e, 0xa4, 0xe9 },
		     tbl_69a2, 34, 1, stubs_t69a2 },
	[T_2131] = { "21318c60",
		     { 0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2 },
		     tbl_2131, 93, 1, stubs_t2131 },
	[T_1734] = { "1734dc26",
		     { 0x17, 0x34, 0xdc, 0x26, 0x80, 0x0d, 0x47, 0x45, 0x87, 0x26, 0xc0, 0xf1, 0xe7, 0xdd, 0x8b, 0xca },
		     tbl_1734, 17, 1, stubs_t1734 },
	[T_DA91] = { "da9151d3",
		     { 0xda, 0x91, 0x51, 0xd3, 0x3a, 0xe6, 0xcc, 0x41, 0xa5, 0xc0, 0x4f, 0x26, 0xd5, 0x33, 0xe3, 0x28 },
		     tbl_da91, 7, 1, stubs_tda91 },
};

static const char *table_name(enum table_id t)
{
	return tables[t].name;
}

/* Slots that are NULL in the real driver: NULL here too. */
#define SLOT_NULL ((const void *)1)

static void build_tables(void)
{
	/* The known entries, by table and slot; SLOT_NULL marks a real NULL. */
	const void **e;

	e = tbl_cudart;
	e[1] = (const void *)cudart_module_from_wrapper;
	e[2] = (const void *)cudart_primary_context;
	e[6] = (const void *)cudart_module_from_wrapper_ex;
	e[7] = (const void *)cudart_fn7;
	e[8] = (const void *)cudart_module_from_fatbin;
	e[9] = (const void *)cudart_launch;
	e[10] = SLOT_NULL; /* FEX: "Zero from host"; probe */
	e[12] = (const void *)cudart_load_compilers;

	tbl_tools_tls[2] = (const void *)tools_tls_current_context;

	tbl_hooks[2] = (const void *)hooks_get_buffer2;
	tbl_hooks[6] = (const void *)hooks_get_buffer6;

	tbl_cls[0] = (const void *)cls_put;
	tbl_cls[1] = (const void *)cls_delete;
	tbl_cls[2] = (const void *)cls_get;
	tbl_cls[3] = SLOT_NULL; /* ZLUDA; probe */

	tbl_checks[2] = (const void *)checks_unwrap_context;
	tbl_checks[3] = (const void *)checks_fn3;

	tbl_integrity[1] = (const void *)integrity_check;

	tbl_2131[4] = (const void *)ctx_unique_id;
	tbl_2131[39] = (const void *)stream_identity;
	tbl_2131[51] = (const void *)stream_private;
	tbl_2131[91] = SLOT_NULL; /* probe */

	for (unsigned t = 0; t < T_COUNT; t++) {
		struct table *tb = &tables[t];
		unsigned first = 0;
		if (tb->sized) {
			tb->entries[0] = (const void *)(uintptr_t)(tb->len * sizeof(void *));
			first = 1;
		}
		for (unsigned s = first; s < tb->len; s++) {
			if (tb->entries[s] == SLOT_NULL)
				tb->entries[s] = NULL;
			else if (!tb->entries[s])
				tb->entries[s] = tb->stubs[s];
		}
	}
}

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void format_uuid(const uint8_t *b, char out[40])
{
	snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
		 b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static const char *caller_object(const void *ret, const void **base)
{
	Dl_info info;
	if (ret && dladdr(ret, &info) && info.dli_fname) {
		*base = info.dli_fbase;
		return info.dli_fname;
	}
	*base = NULL;
	return "?";
}

/*
 * Who asked for which table, once per (table, calling library): at info
 * level, the answer to "which library needs this table".
 */
#define ASKED_MAX 64
struct asked {
	unsigned table;
	const void *base;
};
static struct asked asked[ASKED_MAX];
static unsigned asked_count;
static pthread_mutex_t asked_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_request(unsigned t, const void *ret)
{
	if (!vgpu_log_enabled(VGPU_LOG_INFO))
		return;
	const void *base;
	const char *who = caller_object(ret, &base);
	int first = 1;
	pthread_mutex_lock(&asked_lock);
	for (unsigned i = 0; i < asked_count; i++)
		if (asked[i].table == t && asked[i].base == base)
			first = 0;
	if (first && asked_count < ASKED_MAX)
		asked[asked_count++] = (struct asked){ t, base };
	pthread_mutex_unlock(&asked_lock);
	if (first)
		VGPU_INFO("event=export_table table=%s caller=%s", tables[t].name, who);
}

/* Unknown UUIDs, each logged once. */
#define UNKNOWN_MAX 32
static uint8_t unknown_seen[UNKNOWN_MAX][16];
static unsigned unknown_count;
static pthread_mutex_t unknown_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_unknown(const uint8_t *uuid, const void *ret)
{
	int first = 1;
	pthread_mutex_lock(&unknown_lock);
	for (unsigned i = 0; i < unknown_count; i++)
		if (!memcmp(unknown_seen[i], uuid, 16))
			first = 0;
	if (first && unknown_count < UNKNOWN_MAX)
		memcpy(unknown_seen[unknown_count++], uuid, 16);
	else if (first)
		first = 0; /* past the cap: a flood of made-up UUIDs stays quiet */
	pthread_mutex_unlock(&unknown_lock);
	if (first) {
		char text[40];
		const void *base;
		format_uuid(uuid, text);
		VGPU_WARN("event=unsupported export_table_uuid=%s caller=%s result=CUDA_ERROR_INVALID_VALUE", text,
			  caller_object(ret, &base));
	}
}

VGPU_EXPORT CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
	const void *ret = __builtin_return_address(0);
	if (!ppExportTable || !pExportTableId)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_once(&tables_once, build_tables);
	const uint8_t *id = (const uint8_t *)pExportTableId->bytes;
	for (unsigned t = 0; t < T_COUNT; t++)
		if (!memcmp(tables[t].uuid, id, 16)) {
			*ppExportTable = tables[t].entries;
			note_request(t, ret);
			return CUDA_SUCCESS;
		}
	/* Driver 580 answers an unknown UUID so, and clears the out pointer (probe). */
	*ppExportTable = NULL;
	note_unknown(id, ret);
	return CUDA_ERROR_INVALID_VALUE;
}
