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
 *   gpu-owner     (GPU) creates a context, a stream and 1 MiB of device memory, prints their ids,
 *                 waits for a line on stdin, then checks its memory is untouched
 *   gpu-intruder CTX STREAM DPTR   (GPU) names another guest's objects: each must be refused
 *   gpu-quota BYTES  (GPU) the device reports the quota as its memory, and allocations stop there
 *   xen-lie CASE  (xen transport) offers the region with one lie (see xen_lies): the proxy must refuse it
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"

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
	printf("OWNER ctx=%u stream=%u dptr=%llu\n", ctx2.id, stream.id, (unsigned long long)mem.dptr);
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
	struct vgpu_req_handle h = { .id = stream.id };
	if (call1(VGPU_OP_STREAM_SYNC, ctx, &h, sizeof(h), NULL, 0) != CUDA_SUCCESS || call1(VGPU_OP_CTX_SYNC, ctx2.id, NULL, 0, NULL, 0) != CUDA_SUCCESS)
		return fail("gpu-owner", "own stream or context unusable (%ld %ld)", 0, 0);
	printf("PASS gpu-owner: memory and stream intact after the intruder\n");
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

static int mode_gpu_intruder(long owner_ctx, long owner_stream, const char *dptr_text)
{
	uint64_t dptr = strtoull(dptr_text, NULL, 10);
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
	else if (!strcmp(mode, "gpu-intruder") && argc > 4)
		rc = mode_gpu_intruder(a1, a2, argv[4]);
	else if (!strcmp(mode, "gpu-quota"))
		rc = mode_gpu_quota(a1);
	else {
		fprintf(stderr, "ring_client: unknown mode %s\n", mode);
		rc = 2;
	}
	vgpu_channel_close(ch);
	return rc;
}
