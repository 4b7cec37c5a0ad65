/*
 * export_table_tracer.c — a libcuda.so.1 that sits in front of the real
 * driver and traces its export tables, to learn (with the real driver, no
 * libvgpu) which library asks for which table, which entries it calls, with
 * what arguments and what the driver answers.  Needs a GPU; built by
 * `make tests` into build/vgpu-tests/tracer/ and used as
 *
 *   LD_LIBRARY_PATH=build/vgpu-tests/tracer python3 probe.py
 *
 * Everything but cuGetProcAddress, cuGetProcAddress_v2 and cuGetExportTable
 * resolves to the real driver, which this library names as a dependency by
 * its absolute path (REAL_LIBCUDA at build time).
 *
 *   VGPU_TRACE_TABLES  comma list of UUID prefixes (8 hex digits) whose
 *                      tables are handed out as copies whose entries log
 *                      each call (the first 4 of each entry) and then call
 *                      the real entry.  Never CUDART_INTERFACE or
 *                      INTEGRITY_CHECK: the integrity check hashes their
 *                      addresses.  The context-local storage table
 *                      (c693336e) has no size word: its three entries
 *                      (slot 3 is NULL) are traced from slot 0.
 *   VGPU_TRACE_CALLS   1: every entry point handed out by cuGetProcAddress
 *                      is wrapped, and each call that fails is logged with
 *                      its name and result, as is the first call of each
 *                      entry (what the application uses, in order); 2: every
 *                      call.  Wrapped entries pass 6 register and 8 stack
 *                      arguments through: enough for every driver entry
 *                      (none takes floating-point arguments).
 *   VGPU_TRACE_INPLACE the same, for tables traced where they lie (their
 *                      entries swapped): CUDART_INTERFACE (6bd5fb6c), whose
 *                      address the integrity check hashes.
 *   VGPU_TRACE_REFUSE  comma list of UUID prefixes refused with
 *                      CUDA_ERROR_INVALID_VALUE, to see whether the asking
 *                      library copes without the table.
 *
 * Traced calls pass six integer arguments through; an entry with more, or
 * with floating-point arguments, would be garbled — acceptable for a probe.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cuda.h>

#ifndef REAL_LIBCUDA
#define REAL_LIBCUDA "/usr/local/nvidia/lib64/libcuda.so.1"
#endif

#define EXPORT __attribute__((visibility("default")))
#define TABLES_MAX 8
#define SLOTS_MAX 100
#define CALLS_LOGGED 4

static void *real_lib;
static int trace_calls_level = -1; /* VGPU_TRACE_CALLS; read when the first entry point is handed out */
static CUresult (*real_get_export_table)(const void **, const CUuuid *);
static CUresult (*real_get_proc_address)(const char *, void **, int, cuuint64_t);
static CUresult (*real_get_proc_address_v2)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);

static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static void load_real(void)
{
	real_lib = dlopen(REAL_LIBCUDA, RTLD_NOW | RTLD_NOLOAD);
	if (!real_lib)
		real_lib = dlopen(REAL_LIBCUDA, RTLD_NOW);
	if (!real_lib) {
		fprintf(stderr, "tracer: cannot open %s: %s\n", REAL_LIBCUDA, dlerror());
		abort();
	}
	real_get_export_table = dlsym(real_lib, "cuGetExportTable");
	real_get_proc_address = dlsym(real_lib, "cuGetProcAddress");
	real_get_proc_address_v2 = dlsym(real_lib, "cuGetProcAddress_v2");
}

static const char *caller(const void *ret, char *buf, size_t len)
{
	Dl_info info;
	if (ret && dladdr(ret, &info) && info.dli_fname) {
		const char *base = strrchr(info.dli_fname, '/');
		snprintf(buf, len, "%s+0x%lx", base ? base + 1 : info.dli_fname,
			 (unsigned long)((uintptr_t)ret - (uintptr_t)info.dli_fbase));
	} else
		snprintf(buf, len, "%p", ret);
	return buf;
}

static int listed(const char *env, const uint8_t *uuid)
{
	const char *list = getenv(env);
	char hex[9];
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", uuid[0], uuid[1], uuid[2], uuid[3]);
	return list && strstr(list, hex) != NULL;
}

/* --- traced tables --- */
struct traced {
	uint8_t uuid[16];
	const void **real;
	const void **copy;
	unsigned len;
};
static struct traced traced[TABLES_MAX];
static unsigned traced_count;
static pthread_mutex_t traced_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned calls[TABLES_MAX][SLOTS_MAX];

/* Up to 32 bytes at a pointer-like argument, read without risking a fault. */
static void dump_at(uint64_t p, char *out, size_t len)
{
	out[0] = 0;
	if (p < 0x10000 || p > 0x7fffffffffffull)
		return;
	uint8_t b[32];
	struct iovec local = { b, sizeof(b) }, remote = { (void *)(uintptr_t)p, sizeof(b) };
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof(b))
		return;
	size_t n = 0;
	n += (size_t)snprintf(out + n, len - n, " mem[%#lx]=", (unsigned long)p);
	for (unsigned i = 0; i < sizeof(b) && n + 3 < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%02x", b[i]);
}

typedef uint64_t (*entry6)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

static uint64_t trace_call(unsigned t, unsigned s, const void *ret, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
			   uint64_t a4, uint64_t a5)
{
	/* The real entry first: nothing before it may touch the caller's vector registers. */
	entry6 fn = (entry6)traced[t].real[s];
	uint64_t r = fn(a0, a1, a2, a3, a4, a5);
	unsigned n = __atomic_add_fetch(&calls[t][s], 1, __ATOMIC_RELAXED);
	if (n <= CALLS_LOGGED || trace_calls_level >= 2) {
		char who[256], m[6][100];
		uint64_t a[6] = { a0, a1, a2, a3, a4, a5 };
		for (unsigned i = 0; i < 6; i++)
			dump_at(a[i], m[i], sizeof(m[i]));
		fprintf(stderr,
			"tracer: call table=%02x%02x%02x%02x slot=%u n=%u caller=%s ret=%#lx args=%#lx,%#lx,%#lx,%#lx,%#lx,%#lx%s%s%s%s%s%s\n",
			traced[t].uuid[0], traced[t].uuid[1], traced[t].uuid[2], traced[t].uuid[3], s, n,
			caller(ret, who, sizeof(who)), (unsigned long)r, (unsigned long)a0, (unsigned long)a1, (unsigned long)a2,
			(unsigned long)a3, (unsigned long)a4, (unsigned long)a5, m[0], m[1], m[2], m[3], m[4], m[5]);
	}
	return r;
}

#define TR_FN(t, s) \
	static uint64_t tr_##t##_##s(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) \
	{ \
		return trace_call(t, s, __builtin_return_address(0), a0, a1, a2, a3, a4, a5); \
	}
#define TR_ADDR(t, s) (const void *)tr_##t##_##s,
#define REP10(M, t, d) M(t, d##0) M(t, d##1) M(t, d##2) M(t, d##3) M(t, d##4) M(t, d##5) M(t, d##6) M(t, d##7) M(t, d##8) M(t, d##9)
#define REP100(M, t) \
	REP10(M, t, ) REP10(M, t, 1) REP10(M, t, 2) REP10(M, t, 3) REP10(M, t, 4) \
	REP10(M, t, 5) REP10(M, t, 6) REP10(M, t, 7) REP10(M, t, 8) REP10(M, t, 9)
#define TABLE_TR(t) REP100(TR_FN, t) static const void *const tr_table_##t[SLOTS_MAX] = { REP100(TR_ADDR, t) };
TABLE_TR(0)
TABLE_TR(1)
TABLE_TR(2)
TABLE_TR(3)
TABLE_TR(4)
TABLE_TR(5)
TABLE_TR(6)
TABLE_TR(7)
static const void *const *const trampolines[TABLES_MAX] = { tr_table_0, tr_table_1, tr_table_2, tr_table_3,
							    tr_table_4, tr_table_5, tr_table_6, tr_table_7 };

static const void **traced_copy(const uint8_t *uuid, const void **real)
{
	pthread_mutex_lock(&traced_lock);
	for (unsigned i = 0; i < traced_count; i++)
		if (!memcmp(traced[i].uuid, uuid, 16)) {
			pthread_mutex_unlock(&traced_lock);
			return traced[i].copy;
		}
	/* The context-local storage table starts with a function, not a size. */
	int no_size = uuid[0] == 0xc6 && uuid[1] == 0x93 && uuid[2] == 0x33 && uuid[3] == 0x6e;
	unsigned len = no_size ? 4 : (unsigned)((uintptr_t)real[0] / sizeof(void *));
	if (traced_count == TABLES_MAX || len == 0 || len > SLOTS_MAX) {
		pthread_mutex_unlock(&traced_lock);
		return real;
	}
	struct traced *tr = &traced[traced_count];
	memcpy(tr->uuid, uuid, 16);
	tr->real = real;
	tr->len = len;
	tr->copy = calloc(len, sizeof(void *));
	tr->copy[0] = no_size ? trampolines[traced_count][0] : real[0];
	for (unsigned s = 1; s < len; s++)
		tr->copy[s] = real[s] ? trampolines[traced_count][s] : NULL;
	traced_count++;
	pthread_mutex_unlock(&traced_lock);
	return tr->copy;
}

/*
 * A table traced in place (VGPU_TRACE_INPLACE): its entries are swapped for
 * the tracing trampolines where the table lies, so its address does not
 * change.  For CUDART_INTERFACE, whose address the integrity check hashes
 * (the check hashes the table's address, not its entries).
 */
static const void **traced_inplace(const uint8_t *uuid, const void **table)
{
	pthread_mutex_lock(&traced_lock);
	for (unsigned i = 0; i < traced_count; i++)
		if (!memcmp(traced[i].uuid, uuid, 16)) {
			pthread_mutex_unlock(&traced_lock);
			return table;
		}
	unsigned len = (unsigned)((uintptr_t)table[0] / sizeof(void *));
	if (traced_count == TABLES_MAX || len == 0 || len > SLOTS_MAX) {
		pthread_mutex_unlock(&traced_lock);
		return table;
	}
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)table & ~(uintptr_t)(page - 1);
	uintptr_t end = ((uintptr_t)(table + len) + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
	if (mprotect((void *)start, end - start, PROT_READ | PROT_WRITE) != 0) {
		fprintf(stderr, "tracer: cannot make table %02x%02x%02x%02x writable\n", uuid[0], uuid[1], uuid[2], uuid[3]);
		pthread_mutex_unlock(&traced_lock);
		return table;
	}
	struct traced *tr = &traced[traced_count];
	memcpy(tr->uuid, uuid, 16);
	tr->real = calloc(len, sizeof(void *));
	memcpy(tr->real, table, len * sizeof(void *));
	tr->len = len;
	tr->copy = table;
	for (unsigned s = 1; s < len; s++)
		if (table[s])
			table[s] = trampolines[traced_count][s];
	traced_count++;
	pthread_mutex_unlock(&traced_lock);
	return table;
}

EXPORT CUresult cuGetExportTable(const void **pp, const CUuuid *id)
{
	char who[256];
	pthread_once(&real_once, load_real);
	const void *ret = __builtin_return_address(0);
	if (!pp || !id)
		return real_get_export_table(pp, id);
	const uint8_t *u = (const uint8_t *)id->bytes;
	if (listed("VGPU_TRACE_REFUSE", u)) {
		fprintf(stderr, "tracer: refuse table=%02x%02x%02x%02x caller=%s\n", u[0], u[1], u[2], u[3], caller(ret, who, sizeof(who)));
		return CUDA_ERROR_INVALID_VALUE;
	}
	CUresult r = real_get_export_table(pp, id);
	fprintf(stderr, "tracer: ask table=%02x%02x%02x%02x caller=%s rc=%d size=%lu\n", u[0], u[1], u[2], u[3],
		caller(ret, who, sizeof(who)), (int)r, r == CUDA_SUCCESS && *pp ? (unsigned long)(uintptr_t)((const void **)*pp)[0] : 0ul);
	if (r == CUDA_SUCCESS && *pp && listed("VGPU_TRACE_TABLES", u))
		*pp = traced_copy(u, (const void **)*pp);
	else if (r == CUDA_SUCCESS && *pp && listed("VGPU_TRACE_INPLACE", u))
		*pp = traced_inplace(u, (const void **)*pp);
	return r;
}

/* --- every entry point: name and result (VGPU_TRACE_CALLS) --- */
#define WRAPPED_MAX 1000
struct wrapped {
	const char *name;
	void *real;
	unsigned calls;
};
static struct wrapped wrapped[WRAPPED_MAX];
static unsigned wrapped_count;
static pthread_mutex_t wrapped_lock = PTHREAD_MUTEX_INITIALIZER;

typedef uint64_t (*entry14)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
			    uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

static uint64_t wrapped_call(unsigned i, const void *ret, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
			     uint64_t a5, uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3, uint64_t s4, uint64_t s5,
			     uint64_t s6, uint64_t s7)
{
	uint64_t r = ((entry14)wrapped[i].real)(a0, a1, a2, a3, a4, a5, s0, s1, s2, s3, s4, s5, s6, s7);
	unsigned n = __atomic_add_fetch(&wrapped[i].calls, 1, __ATOMIC_RELAXED);
	if ((uint32_t)r != 0 || n == 1 || trace_calls_level >= 2) {
		char who[256], out[100];
		dump_at(a0, out, sizeof(out)); /* what the call left at its first argument, when that is a pointer */
		fprintf(stderr, "tracer: fn=%s n=%u rc=%u caller=%s args=%#lx,%#lx,%#lx,%#lx%s\n", wrapped[i].name, n, (unsigned)(uint32_t)r,
			caller(ret, who, sizeof(who)), (unsigned long)a0, (unsigned long)a1, (unsigned long)a2, (unsigned long)a3, out);
	}
	return r;
}

#define WR_FN(t, s) \
	static uint64_t wr_##t##_##s(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t s0, \
				  uint64_t s1, uint64_t s2, uint64_t s3, uint64_t s4, uint64_t s5, uint64_t s6, uint64_t s7) \
	{ \
		return wrapped_call(t * 100 + s, __builtin_return_address(0), a0, a1, a2, a3, a4, a5, s0, s1, s2, s3, s4, s5, s6, s7); \
	}
#define WR_ADDR(t, s) (void *)wr_##t##_##s,
#define WR_HUNDRED(h) REP100(WR_FN, h)
WR_HUNDRED(0)
WR_HUNDRED(1)
WR_HUNDRED(2)
WR_HUNDRED(3)
WR_HUNDRED(4)
WR_HUNDRED(5)
WR_HUNDRED(6)
WR_HUNDRED(7)
WR_HUNDRED(8)
WR_HUNDRED(9)
static void *const wrappers[WRAPPED_MAX] = { REP100(WR_ADDR, 0) REP100(WR_ADDR, 1) REP100(WR_ADDR, 2) REP100(WR_ADDR, 3)
					     REP100(WR_ADDR, 4) REP100(WR_ADDR, 5) REP100(WR_ADDR, 6) REP100(WR_ADDR, 7)
					     REP100(WR_ADDR, 8) REP100(WR_ADDR, 9) };

/* The wrapper for an entry point, one per (name, address); the entry itself when the pool is spent. */
static void *wrap_entry(const char *symbol, void *real)
{
	if (trace_calls_level < 0) {
		const char *v = getenv("VGPU_TRACE_CALLS");
		trace_calls_level = v ? atoi(v) : 0;
	}
	if (trace_calls_level <= 0)
		return real;
	pthread_mutex_lock(&wrapped_lock);
	void *w = real;
	for (unsigned i = 0; i < wrapped_count; i++)
		if (wrapped[i].real == real && !strcmp(wrapped[i].name, symbol)) {
			w = wrappers[i];
			goto out;
		}
	if (wrapped_count < WRAPPED_MAX) {
		wrapped[wrapped_count] = (struct wrapped){ .name = strdup(symbol), .real = real };
		w = wrappers[wrapped_count++];
	}
out:
	pthread_mutex_unlock(&wrapped_lock);
	return w;
}

/* --- cuLibraryLoadData: its arguments and the driver's answer, natively --- */
static CUresult (*real_library_load_data)(CUlibrary *, const void *, CUjit_option *, void **, unsigned, CUlibraryOption *,
					  void **, unsigned);

static CUresult traced_library_load_data(CUlibrary *library, const void *code, CUjit_option *jit_options, void **jit_values,
					 unsigned njit, CUlibraryOption *lib_options, void **lib_values, unsigned nlib)
{
	CUresult r = real_library_load_data(library, code, jit_options, jit_values, njit, lib_options, lib_values, nlib);
	char line[1024], head[160];
	size_t n = (size_t)snprintf(line, sizeof(line), "tracer: cuLibraryLoadData rc=%d njit=%u nlib=%u", (int)r, njit, nlib);
	for (unsigned i = 0; i < njit && n < sizeof(line) - 64; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " jit%u=%#lx", (unsigned)jit_options[i], (unsigned long)(uintptr_t)jit_values[i]);
	for (unsigned i = 0; i < nlib && n < sizeof(line) - 64; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " lib%u=%#lx", (unsigned)lib_options[i], (unsigned long)(uintptr_t)lib_values[i]);
	dump_at((uint64_t)(uintptr_t)code, head, sizeof(head));
	fprintf(stderr, "%s%s\n", line, head);
	return r;
}

/* The entries this library answers in place of the driver's. */
static void override(const char *symbol, void **pfn, int version)
{
	if (!strcmp(symbol, "cuGetExportTable"))
		*pfn = (void *)cuGetExportTable;
	else if (!strcmp(symbol, "cuGetProcAddress"))
		*pfn = version >= 12000 ? (void *)cuGetProcAddress_v2 : (void *)cuGetProcAddress;
	else if (!strcmp(symbol, "cuLibraryLoadData")) {
		real_library_load_data = *pfn;
		*pfn = (void *)traced_library_load_data;
	} else
		*pfn = wrap_entry(symbol, *pfn);
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags);

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
				    CUdriverProcAddressQueryResult *status)
{
	pthread_once(&real_once, load_real);
	CUresult r = real_get_proc_address_v2(symbol, pfn, version, flags, status);
	if (r == CUDA_SUCCESS && symbol && pfn && *pfn)
		override(symbol, pfn, version);
	return r;
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags)
{
	pthread_once(&real_once, load_real);
	CUresult r = real_get_proc_address(symbol, pfn, version, flags);
	if (r == CUDA_SUCCESS && symbol && pfn && *pfn)
		override(symbol, pfn, version);
	return r;
}

/* At exit, how often each traced entry was called. */
__attribute__((destructor)) static void counts(void)
{
	for (unsigned t = 0; t < traced_count; t++)
		for (unsigned s = 0; s < traced[t].len; s++)
			if (calls[t][s])
				fprintf(stderr, "tracer: count table=%02x%02x%02x%02x slot=%u calls=%u\n", traced[t].uuid[0],
					traced[t].uuid[1], traced[t].uuid[2], traced[t].uuid[3], s, calls[t][s]);
}
