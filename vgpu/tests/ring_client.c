/*
 * ring_client.c — a guest built on libvgpu's own channel code, driving a real
 * vgpu-proxy over real shared memory with the diagnostic ops (no GPU needed).
 *
 *   ring_client MODE [ARG]     (the proxy's socket comes from VGPU_PROXY_SOCKET)
 *
 * Modes print one line "PASS mode: ..." or "FAIL mode: ..." and exit 0 / 1.
 *   order N       N rounds: an unanswered ECHO, then an answered one that reads its output
 *   wrap N        N answered ECHOs with records of varied sizes, so records wrap the ring
 *   bulk MIB      MIB mebibytes echoed in arena-sized chunks (more than the arena), every byte checked
 *   threads T N   T threads x N answered ECHOs, each with its own pattern
 *   stall MS      one call the proxy answers after MS ms; prints how long it took and its CUresult
 *   bystander S   answered ECHOs for S seconds; fails on the first error
 *   hostile CASE  one hostile request (see hostile_cases); checks the answer or the fault
 *   rate N        N unanswered NOPs carrying a launch-sized payload, then one answered: requests/s
 *   gpu-owner     (GPU) creates a context, a stream, 1 MiB of device memory and a physical allocation
 *                 (cuMemCreate) mapped into its own reservation, prints their ids, waits for a line
 *                 on stdin, then checks its memory is untouched
 *   gpu-intruder CTX STREAM DPTR VMM VA  (GPU) names another guest's objects: each must be refused
 *   gpu-quota BYTES  (GPU) the device reports the quota as its memory, and allocations stop there
 *   gpu-vmm-quota BYTES  (GPU) the same for the virtual-memory API: cuMemCreate counts against the quota,
 *                 with cuMemAlloc; memory released while mapped counts until unmapped
 *   gpu-hold KIND BYTES  (GPU) holds BYTES of device memory (KIND alloc: cuMemAlloc; vmm: cuMemCreate,
 *                 reserved and mapped), prints "HELD", then waits to be killed
 *   gpu-watch-free BYTES MS  (GPU) prints "READY" with the free memory it sees; on a line on stdin,
 *                 polls cuMemGetInfo until BYTES more are free, and prints how long that took
 *   xen-lie CASE  (xen transport) offers the region with one lie (see xen_lies): the proxy must refuse it
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channel/channel.h"

static struct vgpu_channel *ch;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const char *mode, const char *fmt, long a, long b)
{
	printf("FAIL %s: ", mode);
	printf(fmt, a, b);
	printf("\n");
	return 1;
}

/* One ECHO of len bytes of src, answered, result into dst; the sum the proxy saw into *sum. */
static CUresult echo(const uint8_t *src, uint8_t *dst, uint32_t len, uint8_t x, size_t pad, uint64_t *sum)
{
	struct vgpu_req_echo req = { .xor_byte = x };
	static const uint8_t zeros[4096];
	uint8_t *in, *out;
	uint32_t seq;
	struct vgpu_rsp_echo rsp = { 0 };
	vgpu_call_begin(ch);
	CUresult r = vgpu_tx_begin(ch);
	if (r == CUDA_SUCCESS) {
		r = vgpu_tx_arena(ch, len, &req.in, &in);
		if (r == CUDA_SUCCESS) {
			memcpy(in, src, len);
			r = vgpu_tx_arena(ch, len, &req.out, &out);
		}
		if (r == CUDA_SUCCESS) {
			vgpu_tx_hold(ch, &req.out);
			struct vgpu_part parts[2] = { { &req, sizeof(req) }, { zeros, pad } };
			r = vgpu_tx_push(ch, VGPU_OP_ECHO, VGPU_RF_REPLY, 0, parts, 2, &seq);
		}
		vgpu_tx_end(ch);
		if (r == CUDA_SUCCESS) {
			r = vgpu_call_wait(ch, seq, &rsp, sizeof(rsp), NULL);
			if (r == CUDA_SUCCESS)
				memcpy(dst, out, len);
		}
		vgpu_tx_unhold(ch);
	}
	vgpu_call_end(ch);
	if (sum)
		*sum = rsp.sum;
	return r;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static uint64_t sum_of(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

static int check_echo(const char *mode, const uint8_t *src, const uint8_t *dst, size_t n, uint8_t x)
{
	for (size_t i = 0; i < n; i++)
		if (dst[i] != (uint8_t)(src[i] ^ x))
			return fail(mode, "byte %ld differs (of %ld)", (long)i, (long)n);
	return 0;
}

static int mode_order(long rounds)
{
	uint8_t a[256], b[256];
	for (long i = 0; i < rounds; i++) {
		fill(a, sizeof(a), (uint32_t)i);
		/* Unanswered: in = a, out = X.  Then answered: in = X, out = b.  b must be a ^ 0x5a ^ 0x0f. */
		struct vgpu_req_echo req = { .xor_byte = 0x5a };
		uint8_t *in, *mid;
		vgpu_call_begin(ch);
		CUresult r = vgpu_tx_begin(ch);
		if (r != CUDA_SUCCESS)
			return fail("order", "tx_begin returned %ld at round %ld", r, i);
		r = vgpu_tx_arena(ch, sizeof(a), &req.in, &in);
		if (r == CUDA_SUCCESS) {
			memcpy(in, a, sizeof(a));
			r = vgpu_tx_arena(ch, sizeof(a), &req.out, &mid);
		}
		struct vgpu_part part = { &req, sizeof(req) };
		if (r == CUDA_SUCCESS)
			r = vgpu_tx_push(ch, VGPU_OP_ECHO, 0, 0, &part, 1, NULL);
		struct vgpu_req_echo req2 = { .xor_byte = 0x0f, .in = req.out };
		uint8_t *out;
		if (r == CUDA_SUCCESS)
			r = vgpu_tx_arena(ch, sizeof(a), &req2.out, &out);
		vgpu_tx_hold(ch, &req2.out);
		uint32_t seq = 0;
		struct vgpu_part part2 = { &req2, sizeof(req2) };
		if (r == CUDA_SUCCESS)
			r = vgpu_tx_push(ch, VGPU_OP_ECHO, VGPU_RF_REPLY, 0, &part2, 1, &seq);
		vgpu_tx_end(ch);
		if (r == CUDA_SUCCESS)
			r = vgpu_call_wait(ch, seq, NULL, 0, NULL);
		vgpu_call_end(ch);
		if (r == CUDA_SUCCESS)
			memcpy(b, out, sizeof(b));
		vgpu_tx_unhold(ch);
		if (r != CUDA_SUCCESS)
			return fail("order", "CUresult %ld at round %ld", r, i);
		if (check_echo("order", a, b, sizeof(a), 0x5a ^ 0x0f))
			return 1;
	}
	printf("PASS order: %ld rounds, each answered request saw the unanswered one before it\n", rounds);
	return 0;
}

static int mode_wrap(long n)
{
	uint8_t a[512], b[512];
	uint32_t head0 = __atomic_load_n(&ch->ctrl->req_head, __ATOMIC_ACQUIRE);
	for (long i = 0; i < n; i++) {
		size_t pad = (size_t)((i * 2654435761u) % 4000);
		uint32_t len = 1 + (uint32_t)(i % 511);
		uint64_t sum;
		fill(a, len, (uint32_t)i * 7u);
		CUresult r = echo(a, b, len, (uint8_t)i, pad, &sum);
		if (r != CUDA_SUCCESS)
			return fail("wrap", "CUresult %ld at request %ld", r, i);
		if (sum != sum_of(a, len))
			return fail("wrap", "proxy saw sum %ld at request %ld", (long)sum, i);
		if (check_echo("wrap", a, b, len, (uint8_t)i))
			return 1;
	}
	uint32_t bytes = __atomic_load_n(&ch->ctrl->req_head, __ATOMIC_ACQUIRE) - head0;
	printf("PASS wrap: %ld requests, %u ring bytes (%.1f laps of a %u-byte ring)\n", n, bytes, (double)bytes / ch->req.size, ch->req.size);
	return bytes > 2 * ch->req.size ? 0 : fail("wrap", "only %ld bytes went round a %ld-byte ring", bytes, ch->req.size);
}

static int mode_bulk(long mib)
{
	size_t n = (size_t)mib << 20;
	uint8_t *a = malloc(n), *b = malloc(n);
	if (!a || !b)
		return fail("bulk", "cannot allocate %ld MiB (%ld)", mib, 0);
	fill(a, n, 42);
	uint32_t chunk = vgpu_arena_chunk(ch) / 2; /* two arena ranges per echo */
	double t0 = now_ms();
	for (size_t done = 0; done < n;) {
		uint32_t len = n - done < chunk ? (uint32_t)(n - done) : chunk;
		uint64_t sum;
		CUresult r = echo(a + done, b + done, len, 0xa5, 0, &sum);
		if (r != CUDA_SUCCESS)
			return fail("bulk", "CUresult %ld at offset %ld", r, (long)done);
		if (sum != sum_of(a + done, len))
			return fail("bulk", "proxy saw a different sum at offset %ld", (long)done, 0);
		done += len;
	}
	double ms = now_ms() - t0;
	if (check_echo("bulk", a, b, n, 0xa5))
		return 1;
	printf("PASS bulk: %ld MiB through a %u MiB arena in %.0f ms, every byte checked\n", mib, ch->arena_size >> 20, ms);
	free(a);
	free(b);
	return n > ch->arena_size ? 0 : fail("bulk", "payload %ld is not larger than the arena %ld", (long)n, ch->arena_size);
}

struct thread_arg {
	int index;
	long n;
	int failed;
};

static void *thread_main(void *p)
{
	struct thread_arg *t = p;
	uint8_t a[300], b[300];
	for (long i = 0; i < t->n && !t->failed; i++) {
		uint32_t len = 1 + (uint32_t)((i + t->index) % 299);
		fill(a, len, (uint32_t)(t->index * 100000 + i));
		if (echo(a, b, len, (uint8_t)t->index, (size_t)(t->index * 16), NULL) != CUDA_SUCCESS)
			t->failed = 1;
		for (uint32_t k = 0; k < len && !t->failed; k++)
			if (b[k] != (uint8_t)(a[k] ^ t->index))
				t->failed = 2;
	}
	return NULL;
}

static int mode_threads(long threads, long n)
{
	pthread_t tid[64];
	struct thread_arg args[64];
	if (threads > 64)
		threads = 64;
	for (long i = 0; i < threads; i++) {
		args[i] = (struct thread_arg){ .index = (int)i + 1, .n = n };
		pthread_create(&tid[i], NULL, thread_main, &args[i]);
	}
	for (long i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		if (args[i].failed)
			return fail("threads", "thread %ld failed (%ld)", i, args[i].failed);
	}
	printf("PASS threads: %ld threads x %ld answered requests on one channel, each answer its own\n", threads, n);
	return 0;
}

static int mode_stall(long ms)
{
	struct vgpu_req_stall req = { .millis = (uint32_t)ms };
	struct vgpu_part part = { &req, sizeof(req) };
	printf("calling\n");
	fflush(stdout);
	double t0 = now_ms();
	CUresult r = vgpu_call(ch, VGPU_OP_STALL, 0, &part, 1, NULL, 0, NULL);
	printf("RESULT stall: result=%d elapsed_ms=%.0f\n", (int)r, now_ms() - t0);
	/* Later calls must fail fast too, not hang. */
	double t1 = now_ms();
	CUresult r2 = vgpu_call(ch, VGPU_OP_NOP, 0, NULL, 0, NULL, 0, NULL);
	printf("RESULT after: result=%d elapsed_ms=%.0f\n", (int)r2, now_ms() - t1);
	return 0;
}

static int mode_rate(long n)
{
	uint8_t payload[96] = { 0 };
	struct vgpu_part part = { payload, sizeof(payload) };
	double t0 = now_ms();
	for (long i = 0; i < n; i++)
		if (vgpu_send(ch, VGPU_OP_NOP, 0, &part, 1) != CUDA_SUCCESS)
			return fail("rate", "send failed at %ld (%ld)", i, 0);
	double sent = now_ms();
	if (vgpu_call(ch, VGPU_OP_NOP, 0, NULL, 0, NULL, 0, NULL) != CUDA_SUCCESS)
		return fail("rate", "final call failed (%ld %ld)", 0, 0);
	double done = now_ms();
	printf("PASS rate: %ld requests, %.0f/s served, guest enqueue %.3f us each\n", n, n / ((done - t0) / 1000.0), (sent - t0) * 1000.0 / n);
	return 0;
}

static int mode_bystander(long seconds)
{
	uint8_t a[1000], b[1000];
	long calls = 0;
	double end = now_ms() + seconds * 1000.0;
	while (now_ms() < end) {
		uint32_t len = 1 + (uint32_t)(calls % 999);
		fill(a, len, (uint32_t)calls);
		CUresult r = echo(a, b, len, 0x33, 0, NULL);
		if (r != CUDA_SUCCESS)
			return fail("bystander", "CUresult %ld after %ld calls", r, calls);
		if (check_echo("bystander", a, b, len, 0x33))
			return 1;
		calls++;
		usleep(200);
	}
	printf("PASS bystander: %ld answered calls in %ld s, none failed\n", calls, seconds);
	return 0;
}

/* --- hostile requests, written straight into the ring --- */

/* Publishes raw bytes as one record (the header is the caller's, lies included). */
static void push_raw(const void *rec, uint32_t len, uint32_t reserve)
{
	pthread_mutex_lock(&ch->send_lock);
	uint8_t *slot = vgpu_ring_reserve(&ch->req, reserve);
	if (slot) {
		memcpy(slot, rec, len);
		vgpu_ring_publish(&ch->req, reserve);
	}
	pthread_mutex_unlock(&ch->send_lock);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ch->tp->ops->kick(ch->tp);
}

/* A call whose request is built by hand; returns the CUresult of its answer. */
static CUresult raw_call(uint16_t op, const void *payload, uint32_t payload_len)
{
	struct vgpu_part part = { payload, payload_len };
	return vgpu_call(ch, op, 0, &part, payload_len ? 1 : 0, NULL, 0, NULL);
}

/* After a fault the proxy marks the channel closed: the next call must fail within a second. */
static int expect_fault(const char *name)
{
	double t0 = now_ms();
	CUresult r = vgpu_call(ch, VGPU_OP_NOP, 0, NULL, 0, NULL, 0, NULL);
	double ms = now_ms() - t0;
	if (r != VGPU_ERROR_PROXY_GONE)
		return fail(name, "the channel still answered (result %ld) after a broken record (%ld)", r, 0);
	if (ms > 1000)
		return fail(name, "the fault took %ld ms to reach the guest (%ld)", (long)ms, 0);
	printf("PASS hostile %s: channel closed by the proxy, guest told in %.0f ms\n", name, ms);
	return 0;
}

static int expect_error(const char *name, CUresult got, CUresult want)
{
	if (got != want)
		return fail(name, "answered %ld, want %ld", got, want);
	/* And the channel still works. */
	if (vgpu_call(ch, VGPU_OP_NOP, 0, NULL, 0, NULL, 0, NULL) != CUDA_SUCCESS)
		return fail(name, "channel unusable after the refusal (%ld, %ld)", 0, 0);
	printf("PASS hostile %s: answered %d, channel still serves\n", name, (int)got);
	return 0;
}

static int mode_hostile(const char *which)
{
	if (!strcmp(which, "arena-out-of-range")) {
		struct vgpu_req_echo req = { .in = { .pos = ch->arena_size - 16, .len = 64 }, .out = { .pos = 0, .len = 64 } };
		return expect_error(which, raw_call(VGPU_OP_ECHO, &req, sizeof(req)), CUDA_ERROR_INVALID_VALUE);
	}
	if (!strcmp(which, "arena-too-long")) {
		struct vgpu_req_echo req = { .in = { .pos = 0, .len = 0xfffffff0u }, .out = { .pos = 0, .len = 0xfffffff0u } };
		return expect_error(which, raw_call(VGPU_OP_ECHO, &req, sizeof(req)), CUDA_ERROR_INVALID_VALUE);
	}
	if (!strcmp(which, "unknown-op"))
		return expect_error(which, raw_call(999, "garbage!", 8), CUDA_ERROR_INVALID_VALUE);
	if (!strcmp(which, "short-payload"))
		return expect_error(which, raw_call(VGPU_OP_ECHO, "abcd", 4), CUDA_ERROR_INVALID_VALUE);
	if (!strcmp(which, "stall-too-long")) {
		struct vgpu_req_stall req = { .millis = 1000000000u };
		return expect_error(which, raw_call(VGPU_OP_STALL, &req, sizeof(req)), CUDA_ERROR_INVALID_VALUE);
	}
	if (!strcmp(which, "foreign-handle")) {
		/* Ids the proxy never issued to this guest (another guest's, or made up). */
		struct vgpu_req_handle req = { .id = 17 };
		CUresult r = raw_call(VGPU_OP_STREAM_SYNC, &req, sizeof(req));
		/* With a GPU: INVALID_HANDLE (or INVALID_CONTEXT: no context named); without: NO_DEVICE. */
		if (r != CUDA_ERROR_INVALID_HANDLE && r != CUDA_ERROR_INVALID_CONTEXT && r != CUDA_ERROR_NO_DEVICE)
			return fail(which, "answered %ld (%ld)", r, 0);
		return expect_error(which, r, r);
	}
	if (!strcmp(which, "bad-length")) {
		struct vgpu_req_hdr h = { .len = 24, .op = VGPU_OP_NOP, .flags = VGPU_RF_REPLY, .seq = 1 };
		push_raw(&h, sizeof(h), 32);
		return expect_fault(which);
	}
	if (!strcmp(which, "length-past-tail")) {
		struct vgpu_req_hdr h = { .len = 4096, .op = VGPU_OP_NOP, .flags = VGPU_RF_REPLY, .seq = 1 };
		push_raw(&h, sizeof(h), 32);
		return expect_fault(which);
	}
	if (!strcmp(which, "tail-beyond-ring")) {
		__atomic_store_n(&ch->ctrl->req_tail, ch->req.own + ch->req.size * 4, __ATOMIC_RELEASE);
		ch->tp->ops->kick(ch->tp);
		/* No request of ours may follow and repair the tail before the proxy looks. */
		for (int i = 0; i < 1000 && __atomic_load_n(&ch->ctrl->proxy_state, __ATOMIC_ACQUIRE) != VGPU_PEER_FAULTED; i++)
			usleep(1000);
		return expect_fault(which);
	}
	if (!strcmp(which, "garbage")) {
		uint8_t junk[4096];
		fill(junk, sizeof(junk), 7);
		push_raw(junk, sizeof(junk), sizeof(junk));
		return expect_fault(which);
	}
	if (!strcmp(which, "unread-answers")) {
		/* Answers wanted and never read, until the response ring overflows. */
		for (int i = 0; i < 100000; i++) {
			struct vgpu_req_hdr h = { .len = 16, .op = VGPU_OP_NOP, .flags = VGPU_RF_REPLY, .seq = (uint32_t)i + 1 };
			pthread_mutex_lock(&ch->send_lock);
			uint8_t *slot = vgpu_ring_reserve(&ch->req, 16);
			if (slot) {
				memcpy(slot, &h, sizeof(h));
				vgpu_ring_publish(&ch->req, 16);
			}
			pthread_mutex_unlock(&ch->send_lock);
			ch->tp->ops->kick(ch->tp);
			if (__atomic_load_n(&ch->ctrl->proxy_state, __ATOMIC_ACQUIRE) == VGPU_PEER_FAULTED)
				break;
			if (!slot)
				usleep(100);
		}
		usleep(50000);
		if (__atomic_load_n(&ch->ctrl->proxy_state, __ATOMIC_ACQUIRE) != VGPU_PEER_FAULTED)
			return fail(which, "the proxy kept answering into a full ring (%ld %ld)", 0, 0);
		printf("PASS hostile %s: the proxy closed the channel when its answers went unread\n", which);
		return 0;
	}
	return fail("hostile", "unknown case (%ld %ld)", 0, 0);
}


/* --- GPU isolation (needs a proxy with a GPU) --- */

static CUresult call1(uint16_t op, uint32_t ctx, const void *req, size_t len, void *rsp, size_t cap)
{
	struct vgpu_part part = { req, len };
	return vgpu_call(ch, op, ctx, &part, len ? 1 : 0, rsp, cap, NULL);
}

static uint32_t own_context(void)
{
	struct vgpu_rsp_driver_info info;
	struct vgpu_req_device dev = { .device = 0 };
	struct vgpu_rsp_ctx ctx = { 0 };
	if (call1(VGPU_OP_DRIVER_INFO, 0, NULL, 0, &info, sizeof(info)) != CUDA_SUCCESS ||
	    call1(VGPU_OP_PRIMARY_RETAIN, 0, &dev, sizeof(dev), &ctx, sizeof(ctx)) != CUDA_SUCCESS)
		return 0;
	return ctx.id;
}

static CUresult read_device(uint32_t ctx, uint64_t src, uint8_t *dst, uint32_t len)
{
	struct vgpu_req_memcpy_dtoh req = { .src = src, .bytes = len };
	uint8_t *bytes;
	uint32_t seq;
	vgpu_call_begin(ch);
	CUresult r = vgpu_tx_begin(ch);
	if (r == CUDA_SUCCESS) {
		r = vgpu_tx_arena(ch, len, &req.dst.arena, &bytes);
		if (r == CUDA_SUCCESS) {
			vgpu_tx_hold(ch, &req.dst.arena);
			struct vgpu_part part = { &req, sizeof(req) };
			r = vgpu_tx_push(ch, VGPU_OP_MEMCPY_DTOH, VGPU_RF_REPLY, ctx, &part, 1, &seq);
		}
		vgpu_tx_end(ch);
		if (r == CUDA_SUCCESS && (r = vgpu_call_wait(ch, seq, NULL, 0, NULL)) == CUDA_SUCCESS)
			memcpy(dst, bytes, len);
		vgpu_tx_unhold(ch);
	}
	vgpu_call_end(ch);
	return r;
}

/* The virtual-memory API, as libvgpu sends it: device 0, pinned, no handle type. */
static struct vgpu_vmm_prop device_prop(void)
{
	struct vgpu_vmm_prop p = { .type = CU_MEM_ALLOCATION_TYPE_PINNED, .location_type = CU_MEM_LOCATION_TYPE_DEVICE, .location_id = 0 };
	return p;
}

static uint64_t vmm_granularity(uint32_t ctx)
{
	struct vgpu_req_vmm_granularity g = { .prop = device_prop(), .option = CU_MEM_ALLOC_GRANULARITY_MINIMUM };
	struct vgpu_rsp_u64 v = { 0 };
	return call1(VGPU_OP_VMM_GRANULARITY, ctx, &g, sizeof(g), &v, sizeof(v)) == CUDA_SUCCESS ? v.value : 0;
}

static CUresult vmm_create(uint32_t ctx, uint64_t bytes, uint32_t *id)
{
	struct vgpu_req_vmm_create c = { .bytes = bytes, .prop = device_prop() };
	struct vgpu_rsp_handle h = { 0 };
	CUresult r = call1(VGPU_OP_VMM_CREATE, ctx, &c, sizeof(c), &h, sizeof(h));
	*id = h.id;
	return r;
}

static CUresult vmm_release(uint32_t ctx, uint32_t id)
{
	struct vgpu_req_handle h = { .id = id };
	return call1(VGPU_OP_VMM_RELEASE, ctx, &h, sizeof(h), NULL, 0);
}

static CUresult vmm_reserve(uint32_t ctx, uint64_t bytes, uint64_t *va)
{
	struct vgpu_req_vmm_reserve q = { .bytes = bytes };
	struct vgpu_rsp_u64 v = { 0 };
	CUresult r = call1(VGPU_OP_VMM_RESERVE, ctx, &q, sizeof(q), &v, sizeof(v));
	*va = v.value;
	return r;
}

static CUresult vmm_range(uint16_t op, uint32_t ctx, uint64_t va, uint64_t bytes)
{
	struct vgpu_req_vmm_range q = { .ptr = va, .bytes = bytes };
	return call1(op, ctx, &q, sizeof(q), NULL, 0);
}

static CUresult vmm_map(uint32_t ctx, uint64_t va, uint64_t bytes, uint32_t id)
{
	struct vgpu_req_vmm_map m = { .ptr = va, .bytes = bytes, .handle = id };
	return call1(VGPU_OP_VMM_MAP, ctx, &m, sizeof(m), NULL, 0);
}

static CUresult vmm_set_access(uint32_t ctx, uint64_t va, uint64_t bytes)
{
	struct {
		struct vgpu_req_vmm_range range;
		struct vgpu_vmm_access access;
	} q = { { .ptr = va, .bytes = bytes, .count = 1 },
		{ .location_type = CU_MEM_LOCATION_TYPE_DEVICE, .location_id = 0, .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE } };
	return call1(VGPU_OP_VMM_SET_ACCESS, ctx, &q, sizeof(q), NULL, 0);
}

/* cuMemCreate, cuMemAddressReserve, cuMemMap and cuMemSetAccess of bytes: what XLA and PyTorch do. */
static CUresult vmm_create_mapped(uint32_t ctx, uint64_t bytes, uint32_t *id, uint64_t *va)
{
	CUresult r;
	if ((r = vmm_create(ctx, bytes, id)) != CUDA_SUCCESS || (r = vmm_reserve(ctx, bytes, va)) != CUDA_SUCCESS ||
	    (r = vmm_map(ctx, *va, bytes, *id)) != CUDA_SUCCESS)
		return r;
	return vmm_set_access(ctx, *va, bytes);
}

static CUresult memset32(uint32_t ctx, uint64_t dst, size_t bytes, uint32_t value)
{
	struct vgpu_req_memset set = { .dst = dst, .width = bytes / 4, .height = 1, .value = value, .elem_size = 4 };
	return call1(VGPU_OP_MEMSET, ctx, &set, sizeof(set), NULL, 0);
}

static int holds_words(uint32_t ctx, uint64_t src, size_t bytes, uint32_t value)
{
	static uint8_t back[1 << 20];
	if (bytes > sizeof(back) || read_device(ctx, src, back, (uint32_t)bytes) != CUDA_SUCCESS)
		return 0;
	for (size_t i = 0; i < bytes; i += 4) {
		uint32_t v;
		memcpy(&v, back + i, 4);
		if (v != value)
			return 0;
	}
	return 1;
}

static int mode_gpu_owner(void)
{
	uint32_t ctx = own_context();
	if (!ctx)
		return fail("gpu-owner", "no context (%ld %ld)", 0, 0);
	struct vgpu_req_mem_alloc alloc = { .bytes = 1 << 20 };
	struct vgpu_rsp_mem_alloc mem;
	struct vgpu_req_stream_create sc = { 0 };
	struct vgpu_rsp_handle stream;
	struct vgpu_req_memset set = { .width = (1 << 20) / 4, .height = 1, .value = 0x5eedf00d, .elem_size = 4 };
	if (call1(VGPU_OP_MEM_ALLOC, ctx, &alloc, sizeof(alloc), &mem, sizeof(mem)) != CUDA_SUCCESS ||
	    call1(VGPU_OP_STREAM_CREATE, ctx, &sc, sizeof(sc), &stream, sizeof(stream)) != CUDA_SUCCESS)
		return fail("gpu-owner", "cannot create objects (%ld %ld)", 0, 0);
	set.dst = mem.dptr;
	if (call1(VGPU_OP_MEMSET, ctx, &set, sizeof(set), NULL, 0) != CUDA_SUCCESS)
		return fail("gpu-owner", "memset failed (%ld %ld)", 0, 0);
	/* A second context, so the owner holds a context id the intruder never got. */
	struct vgpu_req_ctx_create cc = { .device = 0 };
	struct vgpu_rsp_ctx ctx2;
	if (call1(VGPU_OP_CTX_CREATE, 0, &cc, sizeof(cc), &ctx2, sizeof(ctx2)) != CUDA_SUCCESS)
		return fail("gpu-owner", "cannot create a second context (%ld %ld)", 0, 0);
	uint64_t gran = vmm_granularity(ctx), vmm_va = 0;
	uint32_t vmm_id = 0;
	if (gran == 0 || gran > (1 << 20) * 2 || vmm_create_mapped(ctx, gran, &vmm_id, &vmm_va) != CUDA_SUCCESS ||
	    memset32(ctx, vmm_va, gran, 0x0ddba11) != CUDA_SUCCESS)
		return fail("gpu-owner", "cannot create, map or fill a physical allocation of %ld bytes (%ld)", (long)gran, 0);
	printf("OWNER ctx=%u stream=%u dptr=%llu vmm=%u va=%llu\n", ctx2.id, stream.id, (unsigned long long)mem.dptr, vmm_id,
	       (unsigned long long)vmm_va);
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return fail("gpu-owner", "no go-ahead on stdin (%ld %ld)", 0, 0);
	static uint8_t back[1 << 20];
	CUresult r = read_device(ctx, mem.dptr, back, sizeof(back));
	if (r != CUDA_SUCCESS)
		return fail("gpu-owner", "reading back failed: %ld (%ld)", r, 0);
	for (size_t i = 0; i < sizeof(back); i += 4) {
		uint32_t v;
		memcpy(&v, back + i, 4);
		if (v != 0x5eedf00d)
			return fail("gpu-owner", "word at %ld changed to %ld", (long)i, v);
	}
	if (!holds_words(ctx, vmm_va, 1 << 20, 0x0ddba11))
		return fail("gpu-owner", "the mapped physical allocation changed or cannot be read (%ld %ld)", 0, 0);
	if (vmm_range(VGPU_OP_VMM_UNMAP, ctx, vmm_va, gran) != CUDA_SUCCESS || vmm_release(ctx, vmm_id) != CUDA_SUCCESS ||
	    vmm_range(VGPU_OP_VMM_FREE, ctx, vmm_va, gran) != CUDA_SUCCESS)
		return fail("gpu-owner", "cannot unmap, release or free its own virtual memory (%ld %ld)", 0, 0);
	struct vgpu_req_handle h = { .id = stream.id };
	if (call1(VGPU_OP_STREAM_SYNC, ctx, &h, sizeof(h), NULL, 0) != CUDA_SUCCESS || call1(VGPU_OP_CTX_SYNC, ctx2.id, NULL, 0, NULL, 0) != CUDA_SUCCESS)
		return fail("gpu-owner", "own stream or context unusable (%ld %ld)", 0, 0);
	printf("PASS gpu-owner: memory, mapped physical allocation and stream intact after the intruder\n");
	return 0;
}

static int refused(const char *what, CUresult got, CUresult want)
{
	if (got != want) {
		printf("FAIL gpu-intruder: %s answered %d, want %d\n", what, (int)got, (int)want);
		return 1;
	}
	printf("ok   %s -> %d\n", what, (int)got);
	return 0;
}

static int mode_gpu_intruder(long owner_ctx, long owner_stream, const char *dptr_text, long owner_vmm, const char *va_text)
{
	uint64_t dptr = strtoull(dptr_text, NULL, 10);
	uint64_t va = strtoull(va_text, NULL, 10);
	uint32_t ctx = own_context();
	if (!ctx)
		return fail("gpu-intruder", "no context (%ld %ld)", 0, 0);
	int bad = 0;
	struct vgpu_req_handle st = { .id = (uint32_t)owner_stream };
	bad |= refused("sync on the owner's stream id", call1(VGPU_OP_STREAM_SYNC, ctx, &st, sizeof(st), NULL, 0), CUDA_ERROR_INVALID_HANDLE);
	bad |= refused("a request in the owner's context id", call1(VGPU_OP_CTX_SYNC, (uint32_t)owner_ctx, NULL, 0, NULL, 0), CUDA_ERROR_INVALID_CONTEXT);
	struct vgpu_req_handle cd = { .id = (uint32_t)owner_ctx };
	bad |= refused("destroy the owner's context id", call1(VGPU_OP_CTX_DESTROY, ctx, &cd, sizeof(cd), NULL, 0), CUDA_ERROR_INVALID_HANDLE);
	uint8_t buf[256];
	bad |= refused("read the owner's device memory", read_device(ctx, dptr, buf, sizeof(buf)), CUDA_ERROR_INVALID_VALUE);
	struct vgpu_req_memset set = { .dst = dptr, .width = 64, .height = 1, .value = 0, .elem_size = 4 };
	bad |= refused("memset the owner's device memory", call1(VGPU_OP_MEMSET, ctx, &set, sizeof(set), NULL, 0), CUDA_ERROR_INVALID_VALUE);
	struct vgpu_req_memcpy_dtod cp = { .dst = dptr, .src = dptr + 4096, .bytes = 64 };
	bad |= refused("copy within the owner's device memory", call1(VGPU_OP_MEMCPY_DTOD, ctx, &cp, sizeof(cp), NULL, 0), CUDA_ERROR_INVALID_VALUE);
	struct vgpu_req_mem_free fr = { .dptr = dptr };
	bad |= refused("free the owner's device memory", call1(VGPU_OP_MEM_FREE, ctx, &fr, sizeof(fr), NULL, 0), CUDA_ERROR_INVALID_VALUE);

	/* The virtual-memory API: the owner's physical allocation id and its mapped range. */
	uint64_t gran = vmm_granularity(ctx), mine = 0;
	uint32_t own_id = 0;
	if (gran == 0 || vmm_reserve(ctx, gran, &mine) != CUDA_SUCCESS || vmm_create(ctx, gran, &own_id) != CUDA_SUCCESS)
		return fail("gpu-intruder", "cannot reserve or create its own virtual memory (%ld %ld)", 0, 0);
	if ((long)own_id == owner_vmm) /* ids are per guest: this one would name its own */
		return fail("gpu-intruder", "its own allocation has the owner's id %ld: the test proves nothing (%ld)", owner_vmm, 0);
	bad |= refused("map the owner's physical allocation into its own reservation", vmm_map(ctx, mine, gran, (uint32_t)owner_vmm), CUDA_ERROR_INVALID_VALUE);
	bad |= refused("map its own allocation onto the owner's range", vmm_map(ctx, va, gran, own_id), CUDA_ERROR_NOT_SUPPORTED);
	bad |= refused("unmap the owner's range", vmm_range(VGPU_OP_VMM_UNMAP, ctx, va, gran), CUDA_ERROR_INVALID_VALUE);
	bad |= refused("free the owner's reservation", vmm_range(VGPU_OP_VMM_FREE, ctx, va, gran), CUDA_ERROR_INVALID_VALUE);
	bad |= refused("set access on the owner's range", vmm_set_access(ctx, va, gran), CUDA_ERROR_INVALID_VALUE);
	bad |= refused("release the owner's physical allocation", vmm_release(ctx, (uint32_t)owner_vmm), CUDA_ERROR_INVALID_VALUE);
	struct vgpu_req_handle ph = { .id = (uint32_t)owner_vmm };
	struct vgpu_vmm_prop prop;
	bad |= refused("properties of the owner's physical allocation", call1(VGPU_OP_VMM_PROPERTIES, ctx, &ph, sizeof(ph), &prop, sizeof(prop)), CUDA_ERROR_INVALID_VALUE);
	struct vgpu_req_vmm_range rq = { .ptr = va };
	struct vgpu_rsp_handle rh;
	bad |= refused("retain the allocation mapped at the owner's address", call1(VGPU_OP_VMM_RETAIN, ctx, &rq, sizeof(rq), &rh, sizeof(rh)), CUDA_ERROR_INVALID_VALUE);
	bad |= refused("read the owner's mapped range", read_device(ctx, va, buf, sizeof(buf)), CUDA_ERROR_INVALID_VALUE);
	bad |= refused("memset the owner's mapped range", memset32(ctx, va, 256, 0), CUDA_ERROR_INVALID_VALUE);
	struct vgpu_req_vmm_share sh = { .handle = (uint32_t)owner_vmm, .handle_type = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR };
	bad |= refused("import the owner's physical allocation by its id", call1(VGPU_OP_VMM_IMPORT, ctx, &sh, sizeof(sh), &rh, sizeof(rh)), CUDA_ERROR_INVALID_VALUE);
	if (bad)
		return 1;
	printf("PASS gpu-intruder: every object of the other guest refused\n");
	return 0;
}

static int mode_gpu_quota(long quota)
{
	uint32_t ctx = own_context();
	if (!ctx)
		return fail("gpu-quota", "no context (%ld %ld)", 0, 0);
	struct vgpu_rsp_mem_info info;
	if (call1(VGPU_OP_MEM_GET_INFO, ctx, NULL, 0, &info, sizeof(info)) != CUDA_SUCCESS)
		return fail("gpu-quota", "no memory info (%ld %ld)", 0, 0);
	if ((long)info.total != quota || (long)info.free > quota)
		return fail("gpu-quota", "device reports total %ld with quota %ld", (long)info.total, quota);
	struct vgpu_req_mem_alloc big = { .bytes = (uint64_t)quota + (1 << 20) };
	struct vgpu_rsp_mem_alloc mem;
	CUresult r = call1(VGPU_OP_MEM_ALLOC, ctx, &big, sizeof(big), &mem, sizeof(mem));
	if (r != CUDA_ERROR_OUT_OF_MEMORY)
		return fail("gpu-quota", "allocating past the quota answered %ld (want %ld)", r, CUDA_ERROR_OUT_OF_MEMORY);
	struct vgpu_req_mem_alloc half = { .bytes = (uint64_t)quota / 2 };
	if ((r = call1(VGPU_OP_MEM_ALLOC, ctx, &half, sizeof(half), &mem, sizeof(mem))) != CUDA_SUCCESS)
		return fail("gpu-quota", "half the quota refused: %ld (%ld)", r, 0);
	r = call1(VGPU_OP_MEM_ALLOC, ctx, &half, sizeof(half), &mem, sizeof(mem));
	struct vgpu_req_mem_alloc more = { .bytes = 2 << 20 };
	CUresult r2 = call1(VGPU_OP_MEM_ALLOC, ctx, &more, sizeof(more), &mem, sizeof(mem));
	if (r2 != CUDA_ERROR_OUT_OF_MEMORY)
		return fail("gpu-quota", "the quota was exceeded: %ld then %ld", r, r2);
	printf("PASS gpu-quota: device memory reported as %ld bytes; allocations beyond it refused\n", quota);
	return 0;
}

static int mode_gpu_vmm_quota(long quota)
{
	uint32_t ctx = own_context();
	uint64_t g = ctx ? vmm_granularity(ctx) : 0;
	if (!ctx || g == 0)
		return fail("gpu-vmm-quota", "no context or no granularity (%ld %ld)", 0, (long)g);
	uint64_t half = ((uint64_t)quota / 2) / g * g;
	uint32_t big, a, b, c;
	uint64_t va_a, va_b;
	CUresult r = vmm_create(ctx, (uint64_t)quota + g, &big);
	if (r != CUDA_ERROR_OUT_OF_MEMORY)
		return fail("gpu-vmm-quota", "cuMemCreate past the quota answered %ld (want %ld)", r, CUDA_ERROR_OUT_OF_MEMORY);
	/* Reserving address space costs nothing: four times the quota. */
	uint64_t wide;
	if ((r = vmm_reserve(ctx, 4 * (uint64_t)quota, &wide)) != CUDA_SUCCESS)
		return fail("gpu-vmm-quota", "reserving 4 x the quota of address space answered %ld (%ld)", r, 0);
	if ((r = vmm_create_mapped(ctx, half, &a, &va_a)) != CUDA_SUCCESS || (r = vmm_create_mapped(ctx, half, &b, &va_b)) != CUDA_SUCCESS)
		return fail("gpu-vmm-quota", "two halves of the quota, created and mapped, answered %ld (%ld)", r, 0);
	if ((r = vmm_create(ctx, g, &c)) != CUDA_ERROR_OUT_OF_MEMORY)
		return fail("gpu-vmm-quota", "cuMemCreate with the quota spent answered %ld (want %ld)", r, CUDA_ERROR_OUT_OF_MEMORY);
	struct vgpu_req_mem_alloc one = { .bytes = g };
	struct vgpu_rsp_mem_alloc mem;
	if ((r = call1(VGPU_OP_MEM_ALLOC, ctx, &one, sizeof(one), &mem, sizeof(mem))) != CUDA_ERROR_OUT_OF_MEMORY)
		return fail("gpu-vmm-quota", "cuMemAlloc with the quota spent by cuMemCreate answered %ld (want %ld)", r, CUDA_ERROR_OUT_OF_MEMORY);
	struct vgpu_rsp_mem_info info;
	if (call1(VGPU_OP_MEM_GET_INFO, ctx, NULL, 0, &info, sizeof(info)) != CUDA_SUCCESS || info.free > (uint64_t)quota - 2 * half)
		return fail("gpu-vmm-quota", "cuMemGetInfo reports %ld bytes free with %ld held", (long)info.free, (long)(2 * half));
	/* Released while mapped: still held (the driver frees it at the unmap). */
	if (vmm_release(ctx, a) != CUDA_SUCCESS || (r = vmm_create(ctx, g, &c)) != CUDA_ERROR_OUT_OF_MEMORY)
		return fail("gpu-vmm-quota", "a handle released while mapped stopped counting: cuMemCreate answered %ld (%ld)", r, 0);
	if ((r = vmm_range(VGPU_OP_VMM_UNMAP, ctx, va_a, half)) != CUDA_SUCCESS || (r = vmm_create(ctx, g, &c)) != CUDA_SUCCESS)
		return fail("gpu-vmm-quota", "after the unmap the memory did not come back: %ld (%ld)", r, 0);
	printf("PASS gpu-vmm-quota: cuMemCreate beyond the %ld-byte quota refused, with cuMemAlloc's; "
	       "reserved address space free; released-but-mapped memory counted until unmapped\n", quota);
	return 0;
}

static int mode_gpu_hold(const char *kind, long bytes)
{
	uint32_t ctx = own_context();
	if (!ctx)
		return fail("gpu-hold", "no context (%ld %ld)", 0, 0);
	CUresult r;
	if (!strcmp(kind, "vmm")) {
		uint64_t g = vmm_granularity(ctx), va;
		uint32_t id;
		if (g == 0)
			return fail("gpu-hold", "no granularity (%ld %ld)", 0, 0);
		r = vmm_create_mapped(ctx, ((uint64_t)bytes + g - 1) / g * g, &id, &va);
		if (r == CUDA_SUCCESS)
			r = memset32(ctx, va, 1 << 20, 0xdead);
	} else {
		struct vgpu_req_mem_alloc alloc = { .bytes = (uint64_t)bytes };
		struct vgpu_rsp_mem_alloc mem;
		r = call1(VGPU_OP_MEM_ALLOC, ctx, &alloc, sizeof(alloc), &mem, sizeof(mem));
		if (r == CUDA_SUCCESS)
			r = memset32(ctx, mem.dptr, 1 << 20, 0xdead);
	}
	if (r != CUDA_SUCCESS)
		return fail("gpu-hold", "holding the memory answered %ld (%ld)", r, 0);
	printf("HELD %s %ld\n", kind, bytes);
	fflush(stdout);
	for (;;)
		pause();
}

static uint64_t free_bytes(uint32_t ctx)
{
	struct vgpu_rsp_mem_info info;
	return call1(VGPU_OP_MEM_GET_INFO, ctx, NULL, 0, &info, sizeof(info)) == CUDA_SUCCESS ? info.free : 0;
}

static int mode_gpu_watch_free(long bytes, long ms)
{
	uint32_t ctx = own_context();
	if (!ctx)
		return fail("gpu-watch-free", "no context (%ld %ld)", 0, 0);
	uint64_t before = free_bytes(ctx);
	printf("READY free=%llu\n", (unsigned long long)before);
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return fail("gpu-watch-free", "no go-ahead on stdin (%ld %ld)", 0, 0);
	double t0 = now_ms();
	/* Most of it: the driver's own bookkeeping may move a little meanwhile. */
	uint64_t want = before + (uint64_t)bytes - ((uint64_t)bytes >> 6);
	for (;;) {
		uint64_t now = free_bytes(ctx);
		double t = now_ms() - t0;
		if (now >= want) {
			printf("PASS gpu-watch-free: %.1f ms until %ld bytes were free again (free %llu -> %llu)\n", t, bytes,
			       (unsigned long long)before, (unsigned long long)now);
			return 0;
		}
		if (t > ms)
			return fail("gpu-watch-free", "after %ld ms only %ld more bytes were free", (long)t, (long)(now - before));
		usleep(200);
	}
}

/* --- a xen guest lying in its offer (grant refs, sizes, event channel) --- */

static const char *xen_lie;

static void lie(struct vgpu_xen_offer *o)
{
	if (!strcmp(xen_lie, "foreign-ref"))
		o->refs[o->pages - 1] = 0x7ffffff0u;      /* beyond any grant table */
	else if (!strcmp(xen_lie, "reserved-ref"))
		o->refs[1] = 1;                           /* the toolstack's xenstore page */
	else if (!strcmp(xen_lie, "duplicate-ref"))
		o->refs[2] = o->refs[1];                  /* two region pages on one frame */
	else if (!strcmp(xen_lie, "readonly-ref"))
		o->refs[3] = o->dir_refs[0];              /* a page granted read-only */
	else if (!strcmp(xen_lie, "short-region"))
		o->pages -= 1;                            /* fewer pages than the layout needs */
	else if (!strcmp(xen_lie, "huge-region"))
		o->pages = 0x7fffffffu;
	else if (!strcmp(xen_lie, "bad-dir-ref"))
		o->dir_refs[0] = 0x7ffffff0u;
	else if (!strcmp(xen_lie, "bad-port"))
		o->port = 4000;                           /* not a port offered to Dom0 */
}

static int mode_xen_lie(const char *which)
{
	xen_lie = which;
	vgpu_xen_offer_hook = lie;
	struct vgpu_region_sizes sizes = { .req_ring = VGPU_RING_MIN, .rsp_ring = VGPU_RING_MIN, .arena = VGPU_ARENA_MIN };
	struct vgpu_transport *tp = NULL;
	char err[512];
	int rc = vgpu_xen_connect(&sizes, "ring_client-lie", &tp, err, sizeof(err));
	if (rc == 0) {
		tp->ops->close(tp);
		printf("FAIL xen-lie %s: the proxy accepted a lying offer\n", which);
		return 1;
	}
	if (!strstr(err, "refused")) {
		printf("FAIL xen-lie %s: not refused by the proxy: %s\n", which, err);
		return 1;
	}
	printf("PASS xen-lie %s: %s\n", which, err);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: ring_client MODE [ARG...]\n");
		return 2;
	}
	const char *mode = argv[1];
	long a1 = argc > 2 ? atol(argv[2]) : 0, a2 = argc > 3 ? atol(argv[3]) : 0;
	if (!strcmp(mode, "xen-lie") && argc > 2)
		return mode_xen_lie(argv[2]);
	CUresult r = vgpu_channel_open(&ch, "ring_client");
	if (r != CUDA_SUCCESS)
		return fail(mode, "cannot open the channel: CUresult %ld (%ld)", r, 0);
	int rc;
	if (!strcmp(mode, "order"))
		rc = mode_order(a1);
	else if (!strcmp(mode, "wrap"))
		rc = mode_wrap(a1);
	else if (!strcmp(mode, "bulk"))
		rc = mode_bulk(a1);
	else if (!strcmp(mode, "threads"))
		rc = mode_threads(a1, a2);
	else if (!strcmp(mode, "stall"))
		rc = mode_stall(a1);
	else if (!strcmp(mode, "rate"))
		rc = mode_rate(a1);
	else if (!strcmp(mode, "bystander"))
		rc = mode_bystander(a1);
	else if (!strcmp(mode, "hostile") && argc > 2)
		rc = mode_hostile(argv[2]);
	else if (!strcmp(mode, "gpu-owner"))
		rc = mode_gpu_owner();
	else if (!strcmp(mode, "gpu-intruder") && argc > 6)
		rc = mode_gpu_intruder(a1, a2, argv[4], atol(argv[5]), argv[6]);
	else if (!strcmp(mode, "gpu-quota"))
		rc = mode_gpu_quota(a1);
	else if (!strcmp(mode, "gpu-vmm-quota"))
		rc = mode_gpu_vmm_quota(a1);
	else if (!strcmp(mode, "gpu-hold") && argc > 3)
		rc = mode_gpu_hold(argv[2], atol(argv[3]));
	else if (!strcmp(mode, "gpu-watch-free"))
		rc = mode_gpu_watch_free(a1, a2);
	else {
		fprintf(stderr, "ring_client: unknown mode %s\n", mode);
		rc = 2;
	}
	vgpu_channel_close(ch);
	return rc;
}
