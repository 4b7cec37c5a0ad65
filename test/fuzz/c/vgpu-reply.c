/*
 * vgpu-reply.c — libFuzzer target: libvgpu's reader of the response side of a
 * channel (vgpu/src/channel/channel.c, vgpu/src/channel/ring.c) against a hostile proxy.
 *
 * The real vgpu_channel_open builds the channel over an in-memory region
 * (this file stands in for the transport layer only: vgpu_shm_connect hands
 * out a static region, and the transport's sleep is where the fake proxy
 * acts).  The input is a script:
 *
 *   input := guest-step*          each guest step starts with one byte:
 *     0 call      op u16, req_len u16, rsp_cap u16, flags u8   vgpu_call_flags
 *     1 send      op u16, req_len u16                          vgpu_send (no answer)
 *     2 arena     len u32, hold u8                             a copy-shaped call: arena, push, wait
 *     3 peer      one proxy action now (between calls)
 *   Whenever the guest waits (the transport's sleep), the proxy takes its next
 *   action from the input:
 *     0 answer    dseq i8, result i32, payload_len u16, bytes  a well-formed record for the oldest
 *                                                              unanswered request (PAD at the ring's end)
 *     1 raw       n u16, bytes, tail_delta u32                 any bytes at the tail, any new tail
 *     2 poke      field u8, value u32                          any proxy-written control word
 *     3 drain     consume every request, release the arena
 *     4 quiet     nothing (the guest sleeps again)
 *   The proxy "leaves" (peer_alive 0) when the input ends or after SLEEP_MAX
 *   sleeps, so every wait ends.
 *
 * Checked beyond the sanitizers: a call's payload never lands past rsp_cap
 * (the buffer is exactly rsp_cap bytes), an arena range lies inside the arena,
 * and every request libvgpu writes is well formed.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "channel/transport.h"
#include "log.h"

#define REQ_RING  VGPU_RING_MIN
#define RSP_RING  VGPU_RING_MIN
#define ARENA     VGPU_ARENA_MIN
#define REGION    (VGPU_CTRL_SIZE + REQ_RING + RSP_RING + ARENA)
#define SLEEP_MAX 64
#define STEP_MAX  64

/* ---- the input ---- */
static const uint8_t *in_p;
static size_t in_n;

static int take(void *out, size_t n)
{
	if (in_n < n) {
		memset(out, 0, n);
		in_n = 0;
		return -1;
	}
	memcpy(out, in_p, n);
	in_p += n;
	in_n -= n;
	return 0;
}
static uint8_t take8(void) { uint8_t v; take(&v, 1); return v; }
static uint16_t take16(void) { uint16_t v; take(&v, 2); return v; }
static uint32_t take32(void) { uint32_t v; take(&v, 4); return v; }

/* ---- the fake transport: a static region, a proxy that acts while the guest sleeps ---- */
static uint8_t region[REGION] __attribute__((aligned(4096)));
static struct vgpu_transport fake_tp;
static struct vgpu_channel *chan;
static int sleeps, gone;
static uint32_t proxy_req_head;  /* the fake proxy's own copies, as a real one keeps them */
static uint32_t proxy_rsp_tail;
static uint32_t answer_seq[256]; /* requests waiting for an answer, oldest first */
static int answer_n;
static int req_lied;             /* the proxy once set req_head to anything: the guest may overwrite what it never read */

static struct vgpu_ctrl *ctrl(void) { return (struct vgpu_ctrl *)region; }
static uint8_t *req_ring(void) { return region + VGPU_CTRL_SIZE; }
static uint8_t *rsp_ring(void) { return region + VGPU_CTRL_SIZE + REQ_RING; }

/* The proxy reads what the guest published (its own reader, not libvgpu's). */
static void proxy_take_requests(void)
{
	uint32_t tail = ctrl()->req_tail;
	if (req_lied)
		proxy_req_head = tail;
	for (int i = 0; i < 1024 && proxy_req_head != tail; i++) {
		struct vgpu_req_hdr h;
		memcpy(&h, req_ring() + (proxy_req_head & (REQ_RING - 1)), sizeof(h));
		if (h.len < sizeof(h) || h.len % VGPU_RECORD_ALIGN || h.len > tail - proxy_req_head)
			__builtin_trap(); /* libvgpu wrote a malformed request */
		if (h.op != VGPU_OP_PAD && (h.flags & VGPU_RF_REPLY) && answer_n < 256)
			answer_seq[answer_n++] = h.seq;
		proxy_req_head += h.len;
	}
	ctrl()->req_head = proxy_req_head;
}

static void proxy_put(const void *rec, uint32_t len)
{
	uint32_t pos = proxy_rsp_tail & (RSP_RING - 1);
	memcpy(rsp_ring() + pos, rec, len);
	proxy_rsp_tail += len;
}

static void proxy_answer(void)
{
	int8_t dseq = (int8_t)take8();
	int32_t result = (int32_t)take32();
	uint16_t plen = take16() % (VGPU_RECORD_MAX - sizeof(struct vgpu_rsp_hdr) + 1);
	uint32_t seq = (answer_n ? answer_seq[0] : 0) + (uint32_t)(int32_t)dseq;
	if (answer_n) {
		memmove(answer_seq, answer_seq + 1, (size_t)(answer_n - 1) * sizeof(answer_seq[0]));
		answer_n--;
	}
	static uint8_t rec[VGPU_RECORD_MAX];
	uint32_t len = vgpu_record_len(plen);
	struct vgpu_rsp_hdr h = { .len = len, .op = 1, .flags = 0, .seq = seq, .result = result };
	memcpy(rec, &h, sizeof(h));
	size_t have = plen < in_n ? plen : in_n;
	memset(rec + sizeof(h), 0, len - sizeof(h));
	take(rec + sizeof(h), have);
	/* The guest's head bounds what may be written (a real proxy waits; this one skips). */
	uint32_t pos = proxy_rsp_tail & (RSP_RING - 1), to_end = RSP_RING - pos;
	uint32_t need = len <= to_end ? len : to_end + len;
	if (RSP_RING - (proxy_rsp_tail - ctrl()->rsp_head) < need)
		return;
	if (len > to_end) {
		struct vgpu_rsp_hdr pad = { .len = to_end, .op = VGPU_OP_PAD };
		proxy_put(&pad, sizeof(pad));
		proxy_rsp_tail += to_end - sizeof(pad);
	}
	proxy_put(rec, len);
	ctrl()->rsp_tail = proxy_rsp_tail;
}

static void proxy_raw(void)
{
	uint16_t n = take16() % 512;
	uint32_t pos = proxy_rsp_tail & (RSP_RING - 1);
	for (uint16_t i = 0; i < n && in_n; i++)
		rsp_ring()[(pos + i) & (RSP_RING - 1)] = take8();
	proxy_rsp_tail += take32();
	ctrl()->rsp_tail = proxy_rsp_tail;
}

static void proxy_poke(void)
{
	uint8_t field = take8();
	uint32_t v = take32();
	switch (field % 7) {
	case 0: ctrl()->req_head = v, req_lied = 1; break;
	case 1: ctrl()->rsp_tail = proxy_rsp_tail = v; break;
	case 2: ctrl()->proxy_state = v % 5; break;
	case 3: ctrl()->proxy_waiting = v & 1; break;
	case 4: ctrl()->arena_done = v; break;
	case 5: ctrl()->done_seq = v; break;
	case 6: ctrl()->wake_word = v; break;
	}
}

static void proxy_act(void)
{
	switch (take8() % 5) {
	case 0: proxy_take_requests(); proxy_answer(); break;
	case 1: proxy_raw(); break;
	case 2: proxy_poke(); break;
	case 3: proxy_take_requests(); ctrl()->arena_done = chan ? chan->arena_alloc : 0; break;
	case 4: break;
	}
}

static void fake_kick(struct vgpu_transport *t) { (void)t; }
static void fake_sleep(struct vgpu_transport *t, uint32_t *word, uint32_t seen, int timeout_ms)
{
	(void)t, (void)word, (void)seen, (void)timeout_ms;
	if (++sleeps > SLEEP_MAX || in_n == 0) {
		gone = 1;
		return;
	}
	proxy_act();
}
static int fake_peer_alive(struct vgpu_transport *t) { (void)t; return !gone; }
static int fake_share(struct vgpu_transport *t, int fd, uint32_t token) { (void)t, (void)fd, (void)token; return -1; }
static void fake_close(struct vgpu_transport *t) { (void)t; }
static const struct vgpu_transport_ops fake_ops = {
	.name = "fuzz", .kick = fake_kick, .sleep = fake_sleep, .peer_alive = fake_peer_alive,
	.share_segment = fake_share, .close = fake_close,
};

/* The transport layer, replaced: what channel/transport_shm.c would do, minus the socket and the memfd. */
int vgpu_shm_connect(const char *socket_path, const struct vgpu_region_sizes *sizes, const char *client,
		     struct vgpu_transport **out, char *err, size_t errlen)
{
	(void)socket_path, (void)client;
	if (sizes->req_ring != REQ_RING || sizes->rsp_ring != RSP_RING || sizes->arena != ARENA) {
		snprintf(err, errlen, "fuzz: unexpected sizes");
		return -22;
	}
	memset(region, 0, VGPU_CTRL_SIZE + REQ_RING + RSP_RING); /* the arena is never read by the guest here */
	vgpu_ctrl_init(ctrl(), sizes, REGION);
	ctrl()->proxy_state = VGPU_PEER_ALIVE;
	fake_tp = (struct vgpu_transport){ .ops = &fake_ops, .region = region, .region_size = REGION, .guest_id = 1 };
	*out = &fake_tp;
	return 0;
}

int vgpu_xen_connect(const struct vgpu_region_sizes *sizes, const char *client, struct vgpu_transport **out, char *err, size_t errlen)
{
	(void)sizes, (void)client, (void)out;
	snprintf(err, errlen, "fuzz: no xen");
	return -19;
}

/* log.c, replaced: formatted (so bad arguments still show), never printed. */
void vgpu_log(enum vgpu_log_level level, const char *fmt, ...)
{
	(void)level;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}
int vgpu_log_enabled(enum vgpu_log_level level) { return level <= VGPU_LOG_ERROR; }

/* ---- the guest's side ---- */
static uint8_t req_bytes[VGPU_RECORD_MAX];

static void guest_call(void)
{
	uint16_t op = take16(), req_len = take16(), cap = take16();
	uint8_t fl = take8();
	struct vgpu_part part = { req_bytes, req_len % 4096 };
	uint8_t *rsp = cap ? malloc(cap) : NULL; /* exactly cap bytes: a copy past it is caught */
	size_t rsp_len = (size_t)-1;
	CUresult r = vgpu_call_flags(chan, op, fl & (VGPU_RF_ASYNC | VGPU_RF_PTDS), 0, &part, 1, rsp, cap, fl & 0x80 ? NULL : &rsp_len);
	(void)r; /* any CUresult: the proxy chooses it */
	if (rsp_len != (size_t)-1 && rsp_len > VGPU_RECORD_MAX - sizeof(struct vgpu_rsp_hdr))
		__builtin_trap(); /* a payload longer than any record */
	free(rsp);
}

static void guest_send(void)
{
	uint16_t op = take16(), req_len = take16();
	struct vgpu_part part = { req_bytes, req_len % 4096 };
	vgpu_send(chan, op, 0, &part, 1);
}

/* The shape of copy/copy.c's pageable copies: arena bytes, a request naming them, the answer. */
static void guest_arena(void)
{
	uint32_t len = take32() % (ARENA / 2 + 2);
	uint8_t hold = take8();
	struct vgpu_arena_ref ref;
	uint8_t *bytes;
	uint32_t seq;
	vgpu_call_begin(chan);
	CUresult r = vgpu_tx_begin(chan);
	if (r == CUDA_SUCCESS) {
		r = vgpu_tx_arena(chan, len, &ref, &bytes);
		if (r == CUDA_SUCCESS) {
			if (bytes < chan->arena || bytes + len > chan->arena + chan->arena_size)
				__builtin_trap(); /* an arena range outside the arena */
			memset(bytes, 0xa5, len < 64 ? len : 64);
			memset(bytes + len - (len < 64 ? len : 64), 0x5a, len < 64 ? len : 64);
			if (hold & 1)
				vgpu_tx_hold(chan, &ref);
			struct vgpu_part part = { &ref, sizeof(ref) };
			r = vgpu_tx_push(chan, 20, VGPU_RF_REPLY, 0, &part, 1, &seq);
		}
		vgpu_tx_end(chan);
		if (r == CUDA_SUCCESS)
			vgpu_call_wait(chan, seq, NULL, 0, NULL);
		if (hold & 1)
			vgpu_tx_unhold(chan);
	}
	vgpu_call_end(chan);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	setenv("VGPU_TRANSPORT", "shm", 1);
	setenv("VGPU_PROXY_SOCKET", "/nonexistent/fuzz.sock", 1);
	setenv("VGPU_REQ_RING_KIB", "128", 1);
	setenv("VGPU_RSP_RING_KIB", "128", 1);
	setenv("VGPU_ARENA_MIB", "1", 1);
	setenv("VGPU_SPIN", "1", 1);
	memset(req_bytes, 0x11, sizeof(req_bytes));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in_p = data;
	in_n = size;
	sleeps = gone = 0;
	proxy_req_head = proxy_rsp_tail = 0;
	answer_n = req_lied = 0;
	if (vgpu_channel_open(&chan, "fuzz") != CUDA_SUCCESS)
		__builtin_trap();
	for (int step = 0; step < STEP_MAX && in_n; step++) {
		switch (take8() % 4) {
		case 0: guest_call(); break;
		case 1: guest_send(); break;
		case 2: guest_arena(); break;
		case 3: proxy_act(); break;
		}
	}
	vgpu_channel_close(chan);
	chan = NULL;
	return 0;
}
