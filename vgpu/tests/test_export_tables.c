/*
 * test_export_tables.c — cuGetExportTable and what stands behind it, without
 * a GPU or a proxy:
 *   - context-local storage (src/context_storage.c, compiled in): put, get,
 *     delete, replacement, destructors when a context goes away;
 *   - the integrity check's hash (src/integrity.c, compiled in): MD2 against
 *     RFC 1319's test suite, the states ZLUDA recorded from real runs
 *     (dark_api/src/lib.rs, its tests) at each step of the check, and
 *     driver 580's own answers recorded on our H100;
 *   - libvgpu's cuGetExportTable (linked as libcuda.so.1, never initialised):
 *     every table the CUDA 13 libraries ask for, with the size word driver
 *     580 has (export-tables.md), entries filled, unknown UUIDs refused and
 *     logged once, unknown entries answering NOT_SUPPORTED and logged once.
 *
 * Prints "ok"/"FAIL" per check and a summary; exits 0 when all pass.  The
 * tap test (test/vgpu/export-tables.test.ts) also counts the log lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cuda.h>

#include "context_storage.h"
#include "integrity.h"

#include "check.h"

/* ------------------------------------------------------- context-local storage */

#define LOG_MAX 16
static struct {
	CUcontext ctx;
	void *key, *value;
} dtor_log[LOG_MAX];
static int dtor_calls;

static void record(CUcontext ctx, void *key, void *value)
{
	if (dtor_calls < LOG_MAX)
		dtor_log[dtor_calls] = (typeof(dtor_log[0])){ ctx, key, value };
	dtor_calls++;
}

static char ctx_a, ctx_b, key1, key2, key3, val1, val2, val3;
#define A ((CUcontext)&ctx_a)
#define B ((CUcontext)&ctx_b)

/* A destructor that stores again for its dying context, as a library re-registering itself might. */
static void readd(CUcontext ctx, void *key, void *value)
{
	record(ctx, key, value);
	vgpu_cls_put(ctx, &key3, &val3, record);
}

/* A destructor that reads the storage: must not deadlock. */
static void reader(CUcontext ctx, void *key, void *value)
{
	void *v = NULL;
	record(ctx, key, value);
	vgpu_cls_get(B, &key1, &v);
}

static void check_storage(void)
{
	void *v = NULL;
	CHECK(vgpu_cls_get(A, &key1, &v) == CUDA_ERROR_INVALID_HANDLE, "get of a missing key: INVALID_HANDLE");
	CHECK(vgpu_cls_delete(A, &key1) == CUDA_ERROR_INVALID_HANDLE, "delete of a missing key: INVALID_HANDLE");
	CHECK(vgpu_cls_get(A, &key1, NULL) == CUDA_ERROR_INVALID_VALUE, "get without an out pointer: INVALID_VALUE");

	CHECK(vgpu_cls_put(A, &key1, &val1, record) == CUDA_SUCCESS, "put");
	CHECK(vgpu_cls_get(A, &key1, &v) == CUDA_SUCCESS && v == &val1, "get returns the value put");
	v = NULL;
	CHECK(vgpu_cls_get(B, &key1, &v) == CUDA_ERROR_INVALID_HANDLE && v == NULL, "the same key in another context is another entry");
	CHECK(vgpu_cls_put(A, &key1, &val2, record) == CUDA_ERROR_INVALID_HANDLE && vgpu_cls_get(A, &key1, &v) == CUDA_SUCCESS &&
		      v == &val1,
	      "a second put of a key: INVALID_HANDLE, the first value stays (driver 580)");
	CHECK(vgpu_cls_delete(A, &key1) == CUDA_SUCCESS && dtor_calls == 0, "delete forgets without running the destructor");
	CHECK(vgpu_cls_get(A, &key1, &v) == CUDA_ERROR_INVALID_HANDLE, "get after delete: INVALID_HANDLE");

	/* Context gone: destructors of that context only, oldest first, with (ctx, key, value). */
	vgpu_cls_put(A, &key1, &val1, record);
	vgpu_cls_put(B, &key1, &val3, record);
	vgpu_cls_put(A, &key2, &val2, record);
	vgpu_cls_put(A, &key3, &val3, NULL);
	dtor_calls = 0;
	vgpu_cls_context_gone(A);
	CHECK(dtor_calls == 2 && dtor_log[0].ctx == A && dtor_log[0].key == &key1 && dtor_log[0].value == &val1 &&
		      dtor_log[1].key == &key2 && dtor_log[1].value == &val2,
	      "context gone: each destructor of that context runs once, oldest first, with (ctx, key, value) (%d calls)", dtor_calls);
	CHECK(vgpu_cls_get(A, &key1, &v) == CUDA_ERROR_INVALID_HANDLE && vgpu_cls_get(A, &key3, &v) == CUDA_ERROR_INVALID_HANDLE,
	      "context gone: its entries are forgotten, with or without a destructor");
	CHECK(vgpu_cls_get(B, &key1, &v) == CUDA_SUCCESS && v == &val3, "context gone: other contexts keep theirs");
	dtor_calls = 0;
	vgpu_cls_context_gone(A);
	CHECK(dtor_calls == 0, "a second teardown of the same context runs nothing");

	/* Destructors may use the storage. */
	vgpu_cls_put(A, &key1, &val1, readd);
	dtor_calls = 0;
	vgpu_cls_context_gone(A);
	CHECK(dtor_calls == 2 && dtor_log[1].key == &key3 && vgpu_cls_get(A, &key3, &v) == CUDA_ERROR_INVALID_HANDLE,
	      "a value stored by a destructor for the dying context is destroyed too");
	vgpu_cls_put(A, &key2, &val2, reader);
	dtor_calls = 0;
	vgpu_cls_context_gone(A);
	CHECK(dtor_calls == 1, "a destructor that reads the storage runs (no deadlock)");
	vgpu_cls_context_gone(B);
}

/* ----------------------------------------------------------------- integrity */

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void check_md2(void)
{
	/* RFC 1319, appendix A.5. */
	static const char *const suite[][2] = {
		{ "", "8350e5a3e24c153df2275c9f80692773" },
		{ "a", "32ec01ec4a6dac72c0ab96fb34c0b5d1" },
		{ "abc", "da853b0d3f88d99b30283a69e6ded6bb" },
		{ "message digest", "ab4f496bfb2a530b219ff33031fe06b0" },
		{ "abcdefghijklmnopqrstuvwxyz", "4e8ddff3650292ab5a4108c3aa47940b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "da33def2a42df13975352846c30338cd" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  "d5976f79d83d3a0dc9806c3c66f3efd8" },
	};
	for (unsigned i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
		struct vgpu_md2 s;
		uint8_t d[16];
		char got[33];
		vgpu_md2_init(&s);
		vgpu_md2_update(&s, suite[i][0], strlen(suite[i][0]), 0);
		vgpu_md2_final(&s, d);
		hex(d, 16, got);
		CHECK(!strcmp(got, suite[i][1]), "MD2(\"%.20s%s\") = %s", suite[i][0], strlen(suite[i][0]) > 20 ? "..." : "", got);
	}
}

/*
 * The states of ZLUDA's tests (dark_api/src/lib.rs, integrity_check_pass2..5),
 * recorded from the real check: 66 bytes each, laid out as struct vgpu_md2.
 */
static const uint8_t key[16] = { 0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52, 0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f };

static const uint8_t after_inner_key[66] = {
	0x8b, 0x21, 0x9a, 0x49, 0xe8, 0x6d, 0x1a, 0xee, 0xf2, 0x37, 0xf9, 0xb5, 0x4a, 0x8c, 0x3c, 0x75, 0xc7, 0x1e, 0xee, 0x21, 0xcf, 0x29,
	0x8a, 0xe5, 0x13, 0x83, 0xf4, 0xec, 0x33, 0x04, 0xe2, 0xfd, 0xb0, 0x2f, 0x09, 0x01, 0x4f, 0xf7, 0x68, 0x6d, 0x69, 0x46, 0x43, 0x7e,
	0xb6, 0x2b, 0x21, 0xed, 0x57, 0xa1, 0x10, 0x86, 0x0e, 0x60, 0x44, 0x1e, 0x70, 0x5f, 0x67, 0xd1, 0xeb, 0x67, 0xa1, 0x3d, 0x00, 0x3d,
};
static const uint8_t after_inputs[66] = {
	0x0a, 0xfd, 0xab, 0xc9, 0xff, 0x9b, 0xa0, 0xbe, 0x4d, 0x30, 0x32, 0x82, 0x74, 0x4f, 0xa7, 0x48, 0x9d, 0x23, 0x82, 0xa3, 0x87, 0xfa,
	0x6c, 0xdb, 0x92, 0x49, 0xd9, 0xb5, 0x4b, 0x2b, 0x5e, 0x51, 0x6e, 0xf7, 0xf9, 0x4d, 0x28, 0x8a, 0x64, 0x06, 0x19, 0xb3, 0xe6, 0xbe,
	0xa4, 0xec, 0x7e, 0x54, 0x64, 0x28, 0xd9, 0xe1, 0xd4, 0x34, 0xc0, 0xa9, 0x49, 0x88, 0xc9, 0x61, 0x58, 0xdd, 0x66, 0x74, 0x00, 0x74,
};
static const uint8_t before_device[66] = {
	0x84, 0xfd, 0x93, 0x10, 0xc6, 0xdb, 0xb3, 0xbc, 0x49, 0xc2, 0x25, 0xe7, 0xda, 0x6e, 0x22, 0x6f, 0x9b, 0xbd, 0x81, 0x59, 0xc3, 0x01,
	0x9a, 0x7a, 0x26, 0x34, 0x39, 0x0f, 0x2a, 0x56, 0x13, 0xb1, 0xf6, 0xbc, 0x7f, 0xa1, 0x8f, 0x04, 0xa5, 0x4d, 0x0d, 0x78, 0xab, 0x20,
	0xf8, 0x23, 0x20, 0xa5, 0x3f, 0x67, 0x36, 0xe2, 0xde, 0x8a, 0xe5, 0xdf, 0xe1, 0xf2, 0x03, 0x94, 0xad, 0xdc, 0x9a, 0xda, 0x00, 0xda,
};
static const uint8_t after_device[66] = {
	0x1f, 0xd8, 0x25, 0xd2, 0xdf, 0xfa, 0x64, 0xc7, 0xb6, 0x1a, 0xaf, 0x22, 0xb8, 0x79, 0xfb, 0x96, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7c, 0x9d, 0x46, 0xd2, 0x1f, 0xd8, 0x25, 0xd2, 0xdd, 0xfa, 0x64, 0xc7, 0xb6, 0x1a, 0xaf, 0x22,
	0xe6, 0x17, 0xbd, 0x3a, 0xd7, 0xdd, 0x5f, 0x82, 0x8c, 0x87, 0xce, 0x86, 0x66, 0xaf, 0xa0, 0x50, 0x7a, 0x7d, 0xbb, 0xbc, 0x0c, 0x50,
};
static const uint8_t before_final[66] = {
	0x3e, 0x4b, 0xf2, 0x95, 0x71, 0xf5, 0x6b, 0x51, 0x07, 0xbf, 0x4b, 0xf1, 0x04, 0x0e, 0x8e, 0x0b, 0x5f, 0x4d, 0x30, 0x0c, 0x0f, 0x0c,
	0xae, 0xfb, 0x48, 0xaf, 0x23, 0xb5, 0xea, 0x4c, 0xc2, 0xdb, 0xd7, 0xdf, 0x88, 0x74, 0x39, 0x58, 0x16, 0x3a, 0x1f, 0x7c, 0x9b, 0x20,
	0x7e, 0x7e, 0x94, 0xc8, 0x8b, 0xc6, 0xb2, 0x38, 0x0d, 0x07, 0x7d, 0xbd, 0x90, 0xd5, 0x39, 0x63, 0xeb, 0x1d, 0x4f, 0x40, 0x00, 0x40,
};
static const uint8_t after_final[66] = {
	0x00, 0x23, 0x53, 0x06, 0x5e, 0x96, 0xf6, 0x9c, 0x61, 0xaa, 0x96, 0x2d, 0x2e, 0xcd, 0xa8, 0x58, 0xe9, 0xca, 0xc0, 0x2e, 0x35, 0xed,
	0x5f, 0xca, 0xe1, 0x0e, 0xcd, 0x1f, 0xd0, 0x8e, 0x8b, 0x9c, 0x29, 0x4d, 0x1c, 0x94, 0x6b, 0xf7, 0x10, 0xb0, 0x07, 0x08, 0x91, 0xd6,
	0x14, 0x06, 0xc0, 0xec, 0xe1, 0x9c, 0x8e, 0x33, 0xd4, 0xe9, 0x43, 0x5c, 0x86, 0x0c, 0x72, 0x4d, 0x27, 0x98, 0x91, 0x7f, 0x00, 0x7f,
};

static void check_integrity_steps(void)
{
	struct vgpu_md2 s;
	CHECK(sizeof(s) == 66, "the MD2 state is the 66 bytes of the recorded states");

	vgpu_md2_init(&s);
	vgpu_md2_update(&s, key, sizeof(key), 0x36);
	CHECK(!memcmp(&s, after_inner_key, 66), "HMAC inner key block (key ^ 0x36) gives the recorded state");

	/* The inputs of ZLUDA's recorded run (driver 12.8, cudart asking with 12082). */
	struct vgpu_integrity_input in = {
		.driver_version = 0x2f30,
		.version = 12082,
		.process = 0x002fa423,
		.thread = 0xf79c1000,
		.cudart_table = 0x00007ffff6958240ull,
		.integrity_table = 0x00007ffff6958220ull,
		.function = 0x00007ffff2aaf4a0ull,
		.unix_seconds = 0x682b9cee,
	};
	uint8_t msg[48];
	vgpu_integrity_input_bytes(&in, msg);
	vgpu_md2_update(&s, msg, sizeof(msg), 0);
	CHECK(!memcmp(&s, after_inputs, 66), "the 48 bytes of versions, ids, addresses and time give the recorded state");

	static const uint32_t uuid_words[4] = { 0x8a2bfe9a, 0x382d25ac, 0xc5ae37ea, 0x5f32716d };
	struct vgpu_integrity_device dev = { .pci_domain = 0, .pci_bus = 2, .pci_device = 0 };
	for (unsigned i = 0; i < 16; i++)
		dev.uuid[i] = (uint8_t)(uuid_words[i / 4] >> (8 * (i % 4)));
	uint8_t rec[28];
	vgpu_integrity_device_bytes(&dev, rec);
	memcpy(&s, before_device, 66);
	vgpu_md2_update(&s, rec, sizeof(rec), 0);
	CHECK(!memcmp(&s, after_device, 66), "a device's UUID and PCI domain, bus and device give the recorded state");

	uint8_t digest[16];
	memcpy(&s, before_final, 66);
	vgpu_md2_final(&s, digest);
	CHECK(!memcmp(&s, after_final, 66) && !memcmp(digest, after_final, 16), "padding and checksum give the recorded digest");
}

/*
 * Driver 580.159.04's own answers on our H100 (vgpu/tests/export_table_probe.c,
 * run against the real libcuda.so.1): its integrity check over its own
 * tables, process, thread and device, for four versions.
 */
static void check_integrity_driver_580(void)
{
	struct vgpu_integrity_input in = {
		.driver_version = 13000,
		.process = 0x1c8,
		.thread = 0xd6cfb740,
		.cudart_table = 0x7f74d684c680ull,
		.integrity_table = 0x7f74d684c660ull,
		.function = 0x7f74d11ab350ull,
		.unix_seconds = 0x6b0722ca,
	};
	static const uint8_t uuid[16] = { 0xd0, 0xa5, 0xb8, 0x44, 0xdf, 0x5f, 0x2f, 0x00,
					  0x38, 0xf9, 0xab, 0x64, 0xca, 0xc9, 0x3a, 0xa4 };
	struct vgpu_integrity_device dev = { .pci_domain = 0, .pci_bus = 0, .pci_device = 6 };
	memcpy(dev.uuid, uuid, 16);
	static const struct {
		uint32_t version;
		uint64_t answer[2];
	} answers[] = {
		{ 13002, { 0x69aa3a3024eae968ull, 0x523e5e5da3296d13ull } },
		{ 13005, { 0x165771fc69729a1full, 0x91a31b0df04c1f4bull } },
		{ 12089, { 0x7d45a0ec0df2c55eull, 0xa612576d308436a5ull } },
		{ 7, { 0x5696a64efbd9127cull, 0xf5328486039971b6ull } },
	};
	for (unsigned i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		uint64_t out[2];
		in.version = answers[i].version;
		vgpu_integrity_answer(&in, &dev, 1, out);
		CHECK(out[0] == answers[i].answer[0] && out[1] == answers[i].answer[1],
		      "integrity answer for version %u is driver 580's: %016llx%016llx", answers[i].version,
		      (unsigned long long)out[0], (unsigned long long)out[1]);
	}
}

/* ------------------------------------------------------------ the tables */

static const struct {
	const char *name;
	uint8_t uuid[16];
	unsigned size; /* the size word of driver 580; 0: the table has none */
	unsigned entries;
	const char *nulls; /* slots that are NULL in driver 580 (export_table_probe on the H100) */
} expected[] = {
	{ "CUDART_INTERFACE", { 0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9 }, 104, 13, ",10," },
	{ "TOOLS_TLS", { 0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47, 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc }, 24, 3, "" },
	{ "TOOLS_RUNTIME_CALLBACK_HOOKS", { 0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66 }, 56, 7, "" },
	{ "CONTEXT_LOCAL_STORAGE", { 0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93 }, 0, 4, ",3," },
	{ "CONTEXT_CHECKS", { 0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43, 0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e }, 120, 15, "" },
	{ "INTEGRITY_CHECK", { 0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2 }, 24, 3, "" },
	{ "f8cff951", { 0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e, 0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9 }, 24, 3, "" },
	{ "69a28e9f", { 0x69, 0xa2, 0x8e, 0x9f, 0x24, 0x49, 0x8b, 0x47, 0xb0, 0x30, 0xc5, 0xda, 0x33, 0x0e, 0xa4, 0xe9 }, 272, 34, "" },
	{ "21318c60", { 0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2 }, 744, 93, ",91," },
	{ "1734dc26", { 0x17, 0x34, 0xdc, 0x26, 0x80, 0x0d, 0x47, 0x45, 0x87, 0x26, 0xc0, 0xf1, 0xe7, 0xdd, 0x8b, 0xca }, 136, 17, "" },
	{ "da9151d3", { 0xda, 0x91, 0x51, 0xd3, 0x3a, 0xe6, 0xcc, 0x41, 0xa5, 0xc0, 0x4f, 0x26, 0xd5, 0x33, 0xe3, 0x28 }, 56, 7, "" },
};

static const void **get_table(unsigned i)
{
	const void *t = NULL;
	CUuuid id;
	memcpy(id.bytes, expected[i].uuid, 16);
	return cuGetExportTable(&t, &id) == CUDA_SUCCESS ? (const void **)t : NULL;
}

static int is_null_slot(unsigned i, unsigned slot)
{
	char tag[8];
	snprintf(tag, sizeof(tag), ",%u,", slot);
	return strstr(expected[i].nulls, tag) != NULL;
}

static void check_tables(void)
{
	for (unsigned i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const void **t = get_table(i);
		CHECK(t != NULL, "%s: a table", expected[i].name);
		if (!t)
			continue;
		if (expected[i].size)
			CHECK((uintptr_t)t[0] == expected[i].size, "%s: size word %lu (want %u)", expected[i].name,
			      (unsigned long)(uintptr_t)t[0], expected[i].size);
		unsigned bad = 0;
		for (unsigned s = expected[i].size ? 1 : 0; s < expected[i].entries; s++)
			if ((t[s] == NULL) != is_null_slot(i, s))
				bad++;
		CHECK(bad == 0, "%s: every entry is a function, but the real driver's NULLs (%u wrong)", expected[i].name, bad);
		CHECK(get_table(i) == t, "%s: the same table each time", expected[i].name);
	}

	const void *t = (const void *)0x5a5a5a5a;
	CUuuid unknown;
	memset(unknown.bytes, 0xee, 16);
	CHECK(cuGetExportTable(&t, &unknown) == CUDA_ERROR_INVALID_VALUE && t == NULL,
	      "an unknown UUID: INVALID_VALUE, the out pointer cleared (driver 580)");
	CHECK(cuGetExportTable(&t, &unknown) == CUDA_ERROR_INVALID_VALUE, "the same unknown UUID again (logged once)");
	CHECK(cuGetExportTable(NULL, &unknown) == CUDA_ERROR_INVALID_VALUE, "NULL table pointer: INVALID_VALUE");
	CHECK(cuGetExportTable(&t, NULL) == CUDA_ERROR_INVALID_VALUE, "NULL UUID: INVALID_VALUE");

	/* An entry nobody documents: NOT_SUPPORTED, logged once (the tap test counts the lines). */
	const void **once = get_table(7);
	CUresult (*unknown_entry)(void) = (CUresult(*)(void))once[5];
	CHECK(unknown_entry() == CUDA_ERROR_NOT_SUPPORTED && unknown_entry() == CUDA_ERROR_NOT_SUPPORTED,
	      "69a28e9f slot 5 (undocumented): NOT_SUPPORTED");

	/* Before cuInit: storage and the hashed check refuse; the fixed answers need nothing. */
	const void **cls = get_table(3);
	void *v = NULL;
	CHECK(((CUresult(*)(CUcontext, void *, void *, void *))cls[0])(NULL, &key1, &val1, NULL) == CUDA_ERROR_NOT_INITIALIZED &&
		      ((CUresult(*)(void **, CUcontext, void *))cls[2])(&v, NULL, &key1) == CUDA_ERROR_NOT_INITIALIZED,
	      "context-local storage before cuInit: NOT_INITIALIZED");
	const void **cudart = get_table(0);
	CUcontext primary = NULL;
	CHECK(((CUresult(*)(CUcontext *, CUdevice))cudart[2])(&primary, 0) == CUDA_ERROR_NOT_INITIALIZED,
	      "CUDART_INTERFACE primary context before cuInit: NOT_INITIALIZED");
	unsigned long long id = 7;
	CHECK(((CUresult(*)(CUcontext, unsigned long long *))get_table(8)[4])(NULL, &id) == CUDA_ERROR_NOT_INITIALIZED,
	      "21318c60 context id before cuInit: NOT_INITIALIZED");
	void *priv = (void *)0x5;
	CHECK(((CUresult(*)(CUcontext, CUstream, void **, int))get_table(8)[51])(NULL, NULL, &priv, 0) == CUDA_ERROR_NOT_INITIALIZED &&
		      priv == (void *)0x5,
	      "21318c60 stream's private handle before cuInit: NOT_INITIALIZED, nothing written");
	CHECK(((CUresult(*)(CUcontext, CUstream, void **, int))get_table(8)[51])(NULL, NULL, NULL, 0) == CUDA_ERROR_INVALID_VALUE,
	      "21318c60 stream's private handle into NULL: INVALID_VALUE");
	CHECK(((CUresult(*)(CUcontext, const void *, unsigned long long *))get_table(8)[39])(NULL, NULL, &id) == CUDA_ERROR_INVALID_VALUE,
	      "21318c60 identity of a NULL private handle: INVALID_VALUE");
	const void **ic = get_table(5);
	CUresult (*check)(uint32_t, uint64_t, uint64_t *) = (CUresult(*)(uint32_t, uint64_t, uint64_t *))ic[1];
	uint64_t out[2] = { 0, 0 };
	CHECK(check(13000, 1700000000, out) == CUDA_SUCCESS && out[0] == 0x3341181c03cb675cull && out[1] == 0x8ed383aa1f4cd1e8ull,
	      "integrity check, version ending in 0: the fixed answer");
	CHECK(check(12091, 1700000000, out) == CUDA_SUCCESS && out[0] == 0x1841181c03cb675cull && out[1] == 0x8ed383aa1f4cd1e8ull,
	      "integrity check, version ending in 1: the fixed answer");
	CHECK(check(13002, 1700000000, out) == CUDA_ERROR_NOT_INITIALIZED, "integrity check before cuInit: NOT_INITIALIZED");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	check_storage();
	check_md2();
	check_integrity_steps();
	check_integrity_driver_580();
	check_tables();
	return check_summary();
}
