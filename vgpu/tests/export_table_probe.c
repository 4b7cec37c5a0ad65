/*
 * export_table_probe.c — asks a libcuda.so.1 (the real driver, or libvgpu
 * through a proxy) what its export tables hold and how their known entries
 * behave, and prints one key=value line per fact, so the two can be
 * compared line by line.  Needs a GPU; run by hand or by a GPU job:
 *
 *   export_table_probe /usr/local/nvidia/lib64/libcuda.so.1
 *   VGPU_PROXY_SOCKET=... export_table_probe build/lib/libvgpu.so
 *
 * The integrity check's answer is recomputed here with libvgpu's own
 * algorithm (src/integrity.c) over the inputs the library under test
 * exposes: against the real driver, "integrity_match=1" is the end-to-end
 * known answer for that algorithm.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cuda.h>

#include "integrity.h"

static void *lib;

#define FN(name) ((__typeof__(&name))sym(#name))
static void *sym(const char *name)
{
	void *p = dlsym(lib, name);
	if (!p) {
		printf("missing_symbol=%s\n", name);
		exit(2);
	}
	return p;
}

static const struct {
	const char *name;
	uint8_t uuid[16];
	int sized;
} known[] = {
	{ "CUDART_INTERFACE", { 0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9 }, 1 },
	{ "TOOLS_TLS", { 0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47, 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc }, 1 },
	{ "TOOLS_RUNTIME_CALLBACK_HOOKS", { 0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66 }, 1 },
	{ "CONTEXT_LOCAL_STORAGE", { 0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93 }, 0 },
	{ "CONTEXT_CHECKS", { 0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43, 0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e }, 1 },
	{ "INTEGRITY_CHECK", { 0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2 }, 1 },
	{ "f8cff951", { 0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e, 0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9 }, 1 },
	{ "69a28e9f", { 0x69, 0xa2, 0x8e, 0x9f, 0x24, 0x49, 0x8b, 0x47, 0xb0, 0x30, 0xc5, 0xda, 0x33, 0x0e, 0xa4, 0xe9 }, 1 },
	{ "21318c60", { 0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2 }, 1 },
	{ "1734dc26", { 0x17, 0x34, 0xdc, 0x26, 0x80, 0x0d, 0x47, 0x45, 0x87, 0x26, 0xc0, 0xf1, 0xe7, 0xdd, 0x8b, 0xca }, 1 },
	{ "da9151d3", { 0xda, 0x91, 0x51, 0xd3, 0x3a, 0xe6, 0xcc, 0x41, 0xa5, 0xc0, 0x4f, 0x26, 0xd5, 0x33, 0xe3, 0x28 }, 1 },
};
enum { K_CUDART, K_TLS, K_HOOKS, K_CLS, K_CHECKS, K_INTEGRITY, K_F8CF, K_69A2, K_2131 };

static const void **table(unsigned k)
{
	const void *t = NULL;
	CUuuid id;
	memcpy(id.bytes, known[k].uuid, 16);
	if (FN(cuGetExportTable)(&t, &id) != CUDA_SUCCESS)
		return NULL;
	return (const void **)t;
}

/* A call that might crash the library under test runs in a child. */
static void in_child(const char *what, void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		fflush(stdout);
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status))
		printf("%s=crashed signal=%d\n", what, WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

static void null_table_arg(void)
{
	CUuuid id;
	memcpy(id.bytes, known[K_CUDART].uuid, 16);
	printf("null_table_pointer=%d\n", (int)FN(cuGetExportTable)(NULL, &id));
}

static void null_uuid_arg(void)
{
	const void *t = NULL;
	printf("null_uuid=%d\n", (int)FN(cuGetExportTable)(&t, NULL));
}

/* --- context-local storage: what the destructor saw --- */
struct dtor_seen {
	int calls;
	CUcontext ctx;
	void *key, *value;
	CUcontext current;
	CUresult api_version_rc; /* does the dying context still answer? */
};
static struct dtor_seen seen;

static void dtor(CUcontext ctx, void *key, void *value)
{
	seen.calls++;
	seen.ctx = ctx;
	seen.key = key;
	seen.value = value;
	FN(cuCtxGetCurrent)(&seen.current);
	unsigned v;
	seen.api_version_rc = FN(cuCtxGetApiVersion)(ctx, &v);
}

static void print_seen(const char *when, CUcontext ctx, void *key, void *value)
{
	printf("cls_dtor_%s calls=%d ctx_match=%d key_match=%d value_match=%d current_is_ctx=%d ctx_alive_rc=%d\n", when, seen.calls,
	       seen.ctx == ctx, seen.key == key, seen.value == value, seen.current == ctx, (int)seen.api_version_rc);
	memset(&seen, 0, sizeof(seen));
}

typedef CUresult (*cls_put_fn)(CUcontext, void *, void *, void (*)(CUcontext, void *, void *));
typedef CUresult (*cls_delete_fn)(CUcontext, void *);
typedef CUresult (*cls_get_fn)(void **, CUcontext, void *);

static char K1, K2, K3, K4, K5, V1, V2, V3;

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s LIBCUDA\n", argv[0]);
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("dlopen_failed=%s\n", dlerror());
		return 2;
	}

	/* Before cuInit. */
	in_child("null_table_pointer", null_table_arg);
	in_child("null_uuid", null_uuid_arg);
	{
		const void *t = NULL;
		CUuuid id;
		memcpy(id.bytes, known[K_CUDART].uuid, 16);
		printf("before_init_cudart=%d\n", (int)FN(cuGetExportTable)(&t, &id));
	}
	CUresult r = FN(cuInit)(0);
	printf("cuInit=%d\n", (int)r);
	if (r != CUDA_SUCCESS)
		return 1;

	/* Each table: size word and which entries are NULL ('0') or not ('1'). */
	for (unsigned k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		const void **t = table(k);
		if (!t) {
			printf("table %s missing\n", known[k].name);
			continue;
		}
		unsigned n = known[k].sized ? (unsigned)((uintptr_t)t[0] / sizeof(void *)) : 4;
		char map[256] = { 0 };
		for (unsigned i = known[k].sized ? 1 : 0; i < n && i < sizeof(map) - 1; i++)
			map[i - (known[k].sized ? 1 : 0)] = t[i] ? '1' : '0';
		printf("table %s size=%lu entries=%s\n", known[k].name, known[k].sized ? (unsigned long)(uintptr_t)t[0] : 0ul, map);
	}

	/* Unknown UUIDs: the error, and whether *ppExportTable is touched. */
	{
		const void *t = (const void *)0x5a5a5a5a;
		CUuuid id;
		memset(id.bytes, 0x00, 16);
		r = FN(cuGetExportTable)(&t, &id);
		printf("unknown_uuid=%d table_pointer=%s\n", (int)r, t == (const void *)0x5a5a5a5a ? "untouched" : t ? "set" : "null");
		memset(id.bytes, 0xa5, 16);
		t = (const void *)0x5a5a5a5a;
		r = FN(cuGetExportTable)(&t, &id);
		printf("unknown_uuid2=%d table_pointer=%s\n", (int)r, t == (const void *)0x5a5a5a5a ? "untouched" : t ? "set" : "null");
	}

	/* CUDART slot 2 before anything retained the primary context: does it retain? */
	const void **cudart = table(K_CUDART);
	CUcontext p2 = NULL, primary = NULL;
	unsigned flags = 0;
	int active = -1;
	r = ((CUresult(*)(CUcontext *, CUdevice))cudart[2])(&p2, 0);
	FN(cuDevicePrimaryCtxGetState)(0, &flags, &active);
	printf("cudart_slot2=%d active_after=%d\n", (int)r, active);
	r = FN(cuDevicePrimaryCtxRetain)(&primary, 0);
	printf("retain=%d same_handle_as_slot2=%d\n", (int)r, primary == p2);
	FN(cuCtxSetCurrent)(primary);

	/* The integrity check: the library's answer against ours over the inputs it exposes. */
	{
		const void **ic = table(K_INTEGRITY);
		int driver = 0, count = 0;
		FN(cuDriverGetVersion)(&driver);
		FN(cuDeviceGetCount)(&count);
		struct vgpu_integrity_device devs[8];
		memset(devs, 0, sizeof(devs));
		for (int d = 0; d < count && d < 8; d++) {
			CUuuid u;
			FN(cuDeviceGetUuid_v2)(&u, d);
			memcpy(devs[d].uuid, u.bytes, 16);
			FN(cuDeviceGetAttribute)(&devs[d].pci_domain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, d);
			FN(cuDeviceGetAttribute)(&devs[d].pci_bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, d);
			FN(cuDeviceGetAttribute)(&devs[d].pci_device, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, d);
			printf("integrity_device %d domain=%d bus=%d device=%d\n", d, devs[d].pci_domain, devs[d].pci_bus,
			       devs[d].pci_device);
		}
		printf("integrity_inputs driver_version=%d devices=%d\n", driver, count);
		static const uint32_t versions[] = { 13000, 13001, 13002, 13005, 12089, 7 };
		uint64_t now = (uint64_t)time(NULL);
		char uuid[33];
		for (int i = 0; i < 16; i++)
			sprintf(uuid + 2 * i, "%02x", devs[0].uuid[i]);
		printf("integrity_vector pid=%#x thread=%#x cudart=%p table=%p function=%p time=%#llx uuid=%s\n", (unsigned)getpid(),
		       (unsigned)(uintptr_t)pthread_self(), (void *)cudart, (void *)ic, ic[1], (unsigned long long)now, uuid);
		for (unsigned i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
			uint64_t got[2] = { 0, 0 }, want[2];
			r = ((CUresult(*)(uint32_t, uint64_t, uint64_t *))ic[1])(versions[i], now, got);
			struct vgpu_integrity_input in = {
				.driver_version = (uint32_t)driver,
				.version = versions[i],
				.process = (uint32_t)getpid(),
				.thread = (uint32_t)(uintptr_t)pthread_self(),
				.cudart_table = (uintptr_t)cudart,
				.integrity_table = (uintptr_t)ic,
				.function = (uintptr_t)ic[1],
				.unix_seconds = now,
			};
			vgpu_integrity_answer(&in, devs, (unsigned)(count < 8 ? count : 8), want);
			/* Versions ending in 0 and 1 have fixed answers (ZLUDA). */
			if (versions[i] % 10 == 0 || versions[i] % 10 == 1) {
				want[0] = versions[i] % 10 ? 0x1841181c03cb675cull : 0x3341181c03cb675cull;
				want[1] = 0x8ed383aa1f4cd1e8ull;
			}
			printf("integrity version=%u rc=%d answer=%016llx%016llx ours=%016llx%016llx integrity_match=%d\n", versions[i],
			       (int)r, (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)want[0],
			       (unsigned long long)want[1], got[0] == want[0] && got[1] == want[1]);
		}
	}
	/* Context-local storage on the primary context. */
	{
		const void **t = table(K_CLS);
		cls_put_fn put = (cls_put_fn)t[0];
		cls_delete_fn del = (cls_delete_fn)t[1];
		cls_get_fn get = (cls_get_fn)t[2];
		void *v = NULL;
		printf("cls_get_missing=%d\n", (int)get(&v, primary, &K1));
		printf("cls_delete_missing=%d\n", (int)del(primary, &K1));
		printf("cls_put=%d\n", (int)put(primary, &K1, &V1, dtor));
		r = get(&v, primary, &K1);
		printf("cls_get=%d value_match=%d\n", (int)r, v == &V1);
		r = put(primary, &K1, &V2, dtor);
		v = NULL;
		CUresult r2 = get(&v, primary, &K1);
		printf("cls_put_again=%d get=%d value=%s\n", (int)r, (int)r2, v == &V2 ? "second" : v == &V1 ? "first" : "other");
		r = del(primary, &K1);
		printf("cls_delete=%d dtor_calls=%d\n", (int)r, seen.calls);
		memset(&seen, 0, sizeof(seen));
		v = NULL;
		printf("cls_get_after_delete=%d\n", (int)get(&v, primary, &K1));
		r = put(NULL, &K2, &V3, NULL);
		v = NULL;
		r2 = get(&v, primary, &K2);
		printf("cls_put_null_ctx=%d get_by_handle=%d value_match=%d\n", (int)r, (int)r2, v == &V3);
		del(primary, &K2);

		/* Reset runs destructors? */
		put(primary, &K3, &V1, dtor);
		r = FN(cuDevicePrimaryCtxReset_v2)(0);
		printf("primary_reset=%d\n", (int)r);
		print_seen("on_reset", primary, &K3, &V1);
		v = NULL;
		printf("cls_get_after_reset=%d\n", (int)get(&v, primary, &K3));

		/* The last release? */
		CUcontext again = NULL;
		FN(cuDevicePrimaryCtxGetState)(0, &flags, &active);
		printf("active_after_reset=%d\n", active);
		FN(cuDevicePrimaryCtxRetain)(&again, 0);
		FN(cuCtxSetCurrent)(again);
		r = put(again, &K4, &V2, dtor);
		printf("cls_put_after_reset=%d same_handle=%d\n", (int)r, again == primary);
		int releases = 0;
		for (;;) {
			FN(cuDevicePrimaryCtxGetState)(0, &flags, &active);
			if (!active || releases > 8)
				break;
			FN(cuDevicePrimaryCtxRelease_v2)(0);
			releases++;
		}
		printf("releases_to_inactive=%d\n", releases);
		print_seen("on_last_release", again, &K4, &V2);

		/* cuCtxDestroy of a created context. */
		CUcontext created = NULL;
		CUctxCreateParams params;
		memset(&params, 0, sizeof(params));
		r = FN(cuCtxCreate_v4)(&created, &params, 0, 0);
		printf("ctx_create=%d\n", (int)r);
		if (r == CUDA_SUCCESS) {
			printf("cls_put_created=%d\n", (int)put(created, &K5, &V3, dtor));
			r = FN(cuCtxDestroy_v2)(created);
			printf("ctx_destroy=%d\n", (int)r);
			print_seen("on_destroy", created, &K5, &V3);
		}
	}

	/* Entries whose signature comes from one source only: last, so a crash costs nothing above. */
	FN(cuDevicePrimaryCtxRetain)(&primary, 0);
	FN(cuCtxSetCurrent)(primary);
	/* TOOLS_TLS slot 2: the current context? */
	{
		CUcontext c = NULL;
		r = ((CUresult(*)(CUcontext *))table(K_TLS)[2])(&c);
		printf("tools_tls_slot2=%d is_current=%d\n", (int)r, c == primary);
	}

	/* 21318c60 slot 4: the context's unique id? */
	{
		unsigned long long id = 0, want = 0, cur = 0;
		const void **t = table(K_2131);
		FN(cuCtxGetId)(primary, &want);
		r = ((CUresult(*)(CUcontext, unsigned long long *))t[4])(primary, &id);
		CUresult r0 = ((CUresult(*)(CUcontext, unsigned long long *))t[4])(NULL, &cur);
		printf("t2131_slot4=%d id=%llu cuCtxGetId=%llu null_ctx=%d null_ctx_id=%llu\n", (int)r, id, want, (int)r0, cur);
	}

	/*
	 * 21318c60 slots 51 and 39 (cuBLAS): a stream's private handle from its
	 * public one, (ctx, stream, &private, per_thread), and an identity of a
	 * private handle, (ctx, private, &identity)?  Compared with cuStreamGetId.
	 */
	{
		typedef CUresult (*from_public_fn)(CUcontext, CUstream, void **, int);
		typedef CUresult (*identity_fn)(CUcontext, const void *, unsigned long long *);
		const void **t = table(K_2131);
		from_public_fn s51 = (from_public_fn)t[51];
		identity_fn s39 = (identity_fn)t[39];
		CUstream created = NULL;
		FN(cuStreamCreate)(&created, CU_STREAM_NON_BLOCKING);
		struct { const char *name; CUstream h; int per_thread; } cases[] = {
			{ "null", NULL, 0 }, { "null_per_thread", NULL, 1 }, { "legacy", CU_STREAM_LEGACY, 0 },
			{ "per_thread", CU_STREAM_PER_THREAD, 1 }, { "created", created, 0 },
		};
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			void *priv = (void *)0x5;
			unsigned long long ident = 7, sid = 9;
			CUresult a = s51(primary, cases[i].h, &priv, cases[i].per_thread);
			CUresult b = a == CUDA_SUCCESS ? s39(primary, priv, &ident) : (CUresult)-1;
			CUresult c = FN(cuStreamGetId)(cases[i].h, &sid);
			printf("t2131_slot51 case=%s rc=%d private_is_public=%d private_nonnull=%d slot39=%d identity=%llu cuStreamGetId=%d id=%llu same=%d\n",
			       cases[i].name, (int)a, priv == (void *)cases[i].h, priv != NULL && priv != (void *)0x5, (int)b, ident, (int)c, sid,
			       b == CUDA_SUCCESS && c == CUDA_SUCCESS && ident == sid);
		}
		void *priv = (void *)0x5;
		printf("t2131_slot51_null_ctx=%d\n", (int)s51(NULL, created, &priv, 0));
		if (created)
			FN(cuStreamDestroy_v2)(created);
	}

	/* CONTEXT_CHECKS slots 2 and 3. */
	{
		const void **t = table(K_CHECKS);
		uint32_t wrapped = 7;
		CUcontext inner = (CUcontext)0x1;
		r = ((CUresult(*)(CUcontext, uint32_t *, CUcontext *))t[2])(primary, &wrapped, &inner);
		printf("checks_slot2=%d wrapped=%u inner_untouched=%d\n", (int)r, wrapped, inner == (CUcontext)0x1);
		wrapped = 7;
		r = ((CUresult(*)(CUcontext, uint32_t *, CUcontext *))t[2])(NULL, &wrapped, &inner);
		printf("checks_slot2_null_ctx=%d wrapped=%u\n", (int)r, wrapped);
		printf("checks_slot3=%u\n", ((uint32_t(*)(void))t[3])());
	}

	/* TOOLS_RUNTIME_CALLBACK_HOOKS slots 2 and 6. */
	{
		const void **t = table(K_HOOKS);
		void *p = NULL, *q = NULL;
		size_t n = 0, m = 0;
		((void (*)(void **, size_t *))t[2])(&p, &n);
		((void (*)(void **, size_t *))t[6])(&q, &m);
		printf("hooks_slot2 buffer=%d size=%zu hooks_slot6 buffer=%d size=%zu\n", p != NULL, n, q != NULL, m);
	}

	printf("probe_done=1\n");
	return 0;
}
