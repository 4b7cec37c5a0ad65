/*
 * channel.c — the guest side of the IDM channel (see channel.h, vgpu_wire.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"

#define DEFAULT_SOCKET "/run/vgpu/proxy.sock"
#define DEFAULT_REQ_RING (1u << 20)
#define DEFAULT_RSP_RING (256u << 10)
#define DEFAULT_ARENA_MIB 64u
#define DEFAULT_SPIN 4000
#define SLEEP_SLICE_MS 50

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

static uint32_t env_u32(const char *name, uint32_t dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	unsigned long n = strtoul(v, &end, 0);
	return (*end || n == 0 || n > 0xffffffffUL) ? dflt : (uint32_t)n;
}

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = 1;
	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

/*
 * The transport: VGPU_TRANSPORT=shm or xen; unset, xen when this is a Xen
 * guest that can grant pages (/dev/xen/gntalloc) and no socket is named,
 * else shm.
 */
static int want_xen(const char **why)
{
	const char *t = getenv("VGPU_TRANSPORT");
	if (t && *t) {
		*why = "VGPU_TRANSPORT";
		return !strcmp(t, "xen") ? 1 : !strcmp(t, "shm") ? 0 : -1;
	}
	const char *sock = getenv("VGPU_PROXY_SOCKET");
	*why = "auto";
	return (!sock || !*sock) && access("/dev/xen/gntalloc", F_OK) == 0;
}

/* The process's channel, for the statistics at exit (the channel stays open until then). */
static struct vgpu_channel *opened;

CUresult vgpu_channel_open(struct vgpu_channel **out, const char *client)
{
	const char *path = getenv("VGPU_PROXY_SOCKET");
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	const char *why;
	int xen = want_xen(&why);
	if (xen < 0) {
		VGPU_ERROR("event=connect_failed reason=\"VGPU_TRANSPORT must be shm or xen\"");
		return CUDA_ERROR_NO_DEVICE;
	}
	uint32_t arena_mib = env_u32("VGPU_ARENA_MIB", DEFAULT_ARENA_MIB);
	if (arena_mib < 1)
		arena_mib = 1;
	if (arena_mib > 1024)
		arena_mib = 1024;
	struct vgpu_region_sizes sizes = {
		.req_ring = round_pow2(env_u32("VGPU_REQ_RING_KIB", DEFAULT_REQ_RING >> 10) << 10),
		.rsp_ring = round_pow2(env_u32("VGPU_RSP_RING_KIB", DEFAULT_RSP_RING >> 10) << 10),
		.arena = round_pow2(arena_mib << 20),
	};
	if (sizes.req_ring < VGPU_RING_MIN)
		sizes.req_ring = VGPU_RING_MIN;
	if (sizes.rsp_ring < VGPU_RING_MIN)
		sizes.rsp_ring = VGPU_RING_MIN;

	struct vgpu_channel *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return CUDA_ERROR_OUT_OF_MEMORY;
	char err[512];
	int rc = xen ? vgpu_xen_connect(&sizes, client, &ch->tp, err, sizeof(err))
		     : vgpu_shm_connect(path, &sizes, client, &ch->tp, err, sizeof(err));
	if (rc < 0) {
		VGPU_ERROR("event=connect_failed socket=%s reason=\"%s\" transport=%s (%s)", xen ? "-" : path, err, xen ? "xen" : "shm", why);
		free(ch);
		return CUDA_ERROR_NO_DEVICE;
	}
	uint8_t *region = ch->tp->region;
	ch->ctrl = (struct vgpu_ctrl *)region;
	vgpu_ring_init(&ch->req, region + VGPU_CTRL_SIZE, sizes.req_ring, &ch->ctrl->req_head, &ch->ctrl->req_tail, 1);
	vgpu_ring_init(&ch->rsp, region + VGPU_CTRL_SIZE + sizes.req_ring, sizes.rsp_ring, &ch->ctrl->rsp_head,
		       &ch->ctrl->rsp_tail, 0);
	ch->arena = region + VGPU_CTRL_SIZE + sizes.req_ring + sizes.rsp_ring;
	ch->arena_size = sizes.arena;
	ch->next_seq = 1;
	ch->spin_iters = (int)env_u32("VGPU_SPIN", DEFAULT_SPIN);
	ch->owner_pid = getpid();
	pthread_mutex_init(&ch->send_lock, NULL);
	pthread_mutex_init(&ch->call_lock, NULL);
	VGPU_INFO("event=connected socket=%s guest=%u transport=%s arena_mib=%u", xen ? "-" : path, ch->tp->guest_id,
		  ch->tp->ops->name, sizes.arena >> 20);
	opened = ch;
	*out = ch;
	return CUDA_SUCCESS;
}

static void log_stats(struct vgpu_channel *ch)
{
	VGPU_INFO("event=channel_stats sleeps=%llu slept_ms=%llu slices_timed_out=%llu",
		  (unsigned long long)__atomic_load_n(&ch->sleeps, __ATOMIC_RELAXED),
		  (unsigned long long)(__atomic_load_n(&ch->slept_us, __ATOMIC_RELAXED) / 1000u),
		  (unsigned long long)__atomic_load_n(&ch->timed_out, __ATOMIC_RELAXED));
}

__attribute__((destructor)) static void stats_at_exit(void)
{
	struct vgpu_channel *ch = opened;
	if (ch && ch->owner_pid == getpid())
		log_stats(ch);
}

void vgpu_channel_close(struct vgpu_channel *ch)
{
	if (!ch)
		return;
	log_stats(ch);
	if (ch == opened)
		opened = NULL;
	ch->tp->ops->close(ch->tp);
	pthread_mutex_destroy(&ch->send_lock);
	pthread_mutex_destroy(&ch->call_lock);
	free(ch);
}

static int is_dead(struct vgpu_channel *ch) { return __atomic_load_n(&ch->dead, __ATOMIC_ACQUIRE); }

static void mark_dead(struct vgpu_channel *ch, const char *why)
{
	if (!__atomic_exchange_n(&ch->dead, 1, __ATOMIC_ACQ_REL))
		VGPU_ERROR("event=proxy_gone reason=\"%s\" effect=\"every CUDA call now fails with CUDA_ERROR_DEVICE_UNAVAILABLE; restart the program once vgpu-proxy is back\"",
			   why);
}

static int proxy_broken(struct vgpu_channel *ch)
{
	uint32_t st = load_acquire(&ch->ctrl->proxy_state);
	if (st == VGPU_PEER_FAULTED) {
		mark_dead(ch, "vgpu-proxy closed this channel after a protocol violation");
		return 1;
	}
	if (st == VGPU_PEER_CLOSED) {
		mark_dead(ch, "vgpu-proxy shut down");
		return 1;
	}
	return 0;
}

static void kick_proxy(struct vgpu_channel *ch)
{
	/* The tail is published, /then/ we look whether the proxy may be asleep. */
	full_fence();
	if (load_relaxed(&ch->ctrl->proxy_waiting))
		ch->tp->ops->kick(ch->tp);
}

/*
 * Counts a sleep on the wake word.  One that lasted the whole slice ended by
 * its timeout, not by the proxy's wake-up: a wake-up came late or not at all
 * (or the proxy was busy that long); vgpu_channel_close reports the counts.
 */
static void note_sleep(struct vgpu_channel *ch, const struct timespec *t0, const struct timespec *t1)
{
	int64_t ns = (int64_t)(t1->tv_sec - t0->tv_sec) * 1000000000 + (t1->tv_nsec - t0->tv_nsec);
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000u : 0;
	__atomic_add_fetch(&ch->sleeps, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ch->slept_us, us, __ATOMIC_RELAXED);
	if (us >= (uint64_t)SLEEP_SLICE_MS * 1000u * 9 / 10)
		__atomic_add_fetch(&ch->timed_out, 1, __ATOMIC_RELAXED);
}

/* Waits until ready(ch, arg) holds: spins, then sleeps on the wake word. */
static CUresult wait_for(struct vgpu_channel *ch, int (*ready)(struct vgpu_channel *, void *), void *arg)
{
	for (int i = 0; i < ch->spin_iters; i++) {
		if (ready(ch, arg))
			return CUDA_SUCCESS;
		if ((i & 255) == 255 && (is_dead(ch) || proxy_broken(ch)))
			return VGPU_ERROR_PROXY_GONE;
		cpu_relax();
	}
	for (;;) {
		uint32_t seen = load_acquire(&ch->ctrl->wake_word);
		__atomic_add_fetch(&ch->ctrl->guest_waiting, 1, __ATOMIC_SEQ_CST);
		/* Announced, /then/ re-checked: a wake-up after this point is not lost. */
		if (ready(ch, arg)) {
			__atomic_sub_fetch(&ch->ctrl->guest_waiting, 1, __ATOMIC_SEQ_CST);
			return CUDA_SUCCESS;
		}
		kick_proxy(ch);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ch->tp->ops->sleep(ch->tp, &ch->ctrl->wake_word, seen, SLEEP_SLICE_MS);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		__atomic_sub_fetch(&ch->ctrl->guest_waiting, 1, __ATOMIC_SEQ_CST);
		note_sleep(ch, &t0, &t1);
		if (ready(ch, arg))
			return CUDA_SUCCESS;
		if (is_dead(ch) || proxy_broken(ch))
			return VGPU_ERROR_PROXY_GONE;
		if (!ch->tp->ops->peer_alive(ch->tp)) {
			mark_dead(ch, "vgpu-proxy's end of the socket closed (the proxy exited or was killed)");
			return VGPU_ERROR_PROXY_GONE;
		}
	}
}

CUresult vgpu_tx_begin(struct vgpu_channel *ch)
{
	if (is_dead(ch))
		return VGPU_ERROR_PROXY_GONE;
	pthread_mutex_lock(&ch->send_lock);
	return CUDA_SUCCESS;
}

void vgpu_tx_end(struct vgpu_channel *ch) { pthread_mutex_unlock(&ch->send_lock); }

struct arena_need {
	uint32_t start, end;
};

/* Oldest position still in use: the proxy's arena_done, or a range the guest holds. */
static uint32_t arena_limit(struct vgpu_channel *ch)
{
	uint32_t done = load_acquire(&ch->ctrl->arena_done);
	if (ch->hold_active && ch->arena_alloc - ch->hold_pos > ch->arena_alloc - done)
		return ch->hold_pos;
	return done;
}

static int arena_ready(struct vgpu_channel *ch, void *arg)
{
	struct arena_need *n = arg;
	return n->end - arena_limit(ch) <= ch->arena_size;
}

CUresult vgpu_tx_arena(struct vgpu_channel *ch, uint32_t len, struct vgpu_arena_ref *ref, uint8_t **bytes)
{
	if (len == 0 || len > ch->arena_size / 2)
		return CUDA_ERROR_INVALID_VALUE;
	uint32_t mask = ch->arena_size - 1;
	uint32_t pos = ch->arena_alloc & mask;
	uint32_t start = len <= ch->arena_size - pos ? ch->arena_alloc : ch->arena_alloc + (ch->arena_size - pos);
	struct arena_need need = { .start = start, .end = start + len };
	if (!arena_ready(ch, &need)) {
		CUresult r = wait_for(ch, arena_ready, &need);
		if (r != CUDA_SUCCESS)
			return r;
	}
	ch->arena_alloc = need.end;
	ref->pos = start;
	ref->len = len;
	*bytes = ch->arena + (start & mask);
	return CUDA_SUCCESS;
}

void vgpu_tx_hold(struct vgpu_channel *ch, const struct vgpu_arena_ref *ref)
{
	ch->hold_active = 1;
	ch->hold_pos = ref->pos;
}

void vgpu_tx_unhold(struct vgpu_channel *ch)
{
	pthread_mutex_lock(&ch->send_lock);
	ch->hold_active = 0;
	pthread_mutex_unlock(&ch->send_lock);
}

struct ring_need {
	uint32_t len;
	uint8_t *slot;
};

static int ring_ready(struct vgpu_channel *ch, void *arg)
{
	struct ring_need *n = arg;
	n->slot = vgpu_ring_reserve(&ch->req, n->len);
	return n->slot != NULL;
}

CUresult vgpu_tx_push(struct vgpu_channel *ch, uint16_t op, uint16_t flags, uint32_t ctx,
		      const struct vgpu_part *parts, int nparts, uint32_t *seq)
{
	size_t payload = 0;
	for (int i = 0; i < nparts; i++)
		payload += parts[i].len;
	if (payload > VGPU_RECORD_MAX - sizeof(struct vgpu_req_hdr))
		return CUDA_ERROR_INVALID_VALUE;
	struct ring_need need = { .len = vgpu_record_len(payload) };
	if (!ring_ready(ch, &need)) {
		CUresult r = wait_for(ch, ring_ready, &need);
		if (r != CUDA_SUCCESS)
			return r;
	}
	if (ch->thread_flags)
		flags |= ch->thread_flags();
	struct vgpu_req_hdr h = { .len = need.len, .op = op, .flags = flags, .seq = ch->next_seq++, .ctx = ctx };
	memcpy(need.slot, &h, sizeof(h));
	uint8_t *p = need.slot + sizeof(h);
	for (int i = 0; i < nparts; i++) {
		memcpy(p, parts[i].data, parts[i].len);
		p += parts[i].len;
	}
	vgpu_ring_publish(&ch->req, need.len);
	kick_proxy(ch);
	if (seq)
		*seq = h.seq;
	return CUDA_SUCCESS;
}

CUresult vgpu_send(struct vgpu_channel *ch, uint16_t op, uint32_t ctx, const struct vgpu_part *parts, int nparts)
{
	CUresult r = vgpu_tx_begin(ch);
	if (r != CUDA_SUCCESS)
		return r;
	r = vgpu_tx_push(ch, op, 0, ctx, parts, nparts, NULL);
	vgpu_tx_end(ch);
	return r;
}

void vgpu_call_begin(struct vgpu_channel *ch) { pthread_mutex_lock(&ch->call_lock); }
void vgpu_call_end(struct vgpu_channel *ch) { pthread_mutex_unlock(&ch->call_lock); }

static int rsp_ready(struct vgpu_channel *ch, void *arg)
{
	(void)arg;
	return load_acquire(ch->rsp.tail) != ch->rsp.own;
}

CUresult vgpu_call_wait(struct vgpu_channel *ch, uint32_t seq, void *rsp, size_t rsp_cap, size_t *rsp_len)
{
	if (!rsp_ready(ch, NULL)) {
		CUresult r = wait_for(ch, rsp_ready, NULL);
		if (r != CUDA_SUCCESS)
			return r;
	}
	uint32_t len;
	int err;
	const uint8_t *rec = vgpu_ring_peek(&ch->rsp, &len, &err);
	if (!rec) {
		mark_dead(ch, err ? "malformed record on the response ring" : "response ring emptied under us");
		return VGPU_ERROR_PROXY_GONE;
	}
	struct vgpu_rsp_hdr h;
	memcpy(&h, rec, sizeof(h));
	if (h.seq != seq) {
		VGPU_ERROR("event=bad_response want_seq=%u got_seq=%u op=%u", seq, h.seq, h.op);
		mark_dead(ch, "response out of order");
		return VGPU_ERROR_PROXY_GONE;
	}
	size_t payload = h.len - sizeof(h);
	if (rsp_len)
		*rsp_len = payload;
	if (rsp && rsp_cap)
		memcpy(rsp, rec + sizeof(h), payload < rsp_cap ? payload : rsp_cap);
	vgpu_ring_consume(&ch->rsp, h.len);
	if (h.result != CUDA_SUCCESS)
		VGPU_DEBUG("event=call_failed op=%u seq=%u result=%u", h.op, seq, h.result);
	return (CUresult)h.result;
}

CUresult vgpu_call_flags(struct vgpu_channel *ch, uint16_t op, uint16_t flags, uint32_t ctx, const struct vgpu_part *parts, int nparts,
			 void *rsp, size_t rsp_cap, size_t *rsp_len)
{
	uint32_t seq;
	vgpu_call_begin(ch);
	CUresult r = vgpu_tx_begin(ch);
	if (r == CUDA_SUCCESS) {
		r = vgpu_tx_push(ch, op, flags | VGPU_RF_REPLY, ctx, parts, nparts, &seq);
		vgpu_tx_end(ch);
		if (r == CUDA_SUCCESS)
			r = vgpu_call_wait(ch, seq, rsp, rsp_cap, rsp_len);
	}
	vgpu_call_end(ch);
	return r;
}

CUresult vgpu_call(struct vgpu_channel *ch, uint16_t op, uint32_t ctx, const struct vgpu_part *parts, int nparts,
		   void *rsp, size_t rsp_cap, size_t *rsp_len)
{
	return vgpu_call_flags(ch, op, 0, ctx, parts, nparts, rsp, rsp_cap, rsp_len);
}
