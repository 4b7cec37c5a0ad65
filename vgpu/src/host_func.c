/*
 * host_func.c — host functions on streams: cuLaunchHostFunc and
 * cuStreamAddCallback.
 *
 * The function runs here, in the guest, on a thread of this library: one per
 * stream that ever carried one, so a stream's host functions run in order and
 * one stream's never wait behind another's.  The proxy records an event
 * behind the work before the function and holds the stream's later work at a
 * gate; the stream's thread asks whether the event completed (backing off
 * from 16 µs to 1 ms between questions), runs the function, and opens the
 * gate (VGPU_OP_HOST_FUNC_DONE).  As the driver does, cuLaunchHostFunc skips
 * its function when the stream failed, and cuStreamAddCallback passes the
 * error to its callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "api.h"
#include "capture.h"

struct host_call {
	CUhostFn fn;                /* cuLaunchHostFunc */
	CUstreamCallback callback;  /* cuStreamAddCallback */
	CUstream stream;            /* as the application named it, for the callback */
	void *data;
	uint32_t token;
	struct host_call *next;
};

/* One stream's host functions, in order, and the thread that runs them. */
struct host_queue {
	uint32_t ctx, stream;       /* wire ids */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct host_call *head, *tail;
	struct host_queue *next;
};

static pthread_mutex_t queues_lock = PTHREAD_MUTEX_INITIALIZER;
static struct host_queue *queues;
static uint32_t next_token = 1;

static void forget_queues(void)
{
	/* A forked child has its own channel and none of these threads. */
	queues = NULL;
	pthread_mutex_init(&queues_lock, NULL);
}

static void watch_forks(void)
{
	pthread_atfork(NULL, NULL, forget_queues);
}

static void pause_us(unsigned us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)us * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Asks until the work before the call is done: 0, its error, or the proxy's absence. */
static CUresult wait_turn(const struct host_queue *q, const struct host_call *c)
{
	struct vgpu_req_host_func req = { .stream = q->stream, .token = c->token };
	unsigned backoff = 0;
	for (;;) {
		CUresult r = vgpu_rpc(VGPU_OP_HOST_FUNC_QUERY, q->ctx, &req, sizeof(req), NULL, 0);
		if (r != CUDA_ERROR_NOT_READY)
			return r;
		backoff = backoff ? (backoff < 1000 ? backoff * 2 : 1000) : 16;
		pause_us(backoff);
	}
}

static void *run_queue(void *arg)
{
	struct host_queue *q = arg;
	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (!q->head)
			pthread_cond_wait(&q->wake, &q->lock);
		struct host_call *c = q->head;
		pthread_mutex_unlock(&q->lock);

		CUresult r = wait_turn(q, c);
		if (c->callback)
			c->callback(c->stream, r, c->data);
		else if (r == CUDA_SUCCESS)
			c->fn(c->data);
		struct vgpu_req_host_func req = { .stream = q->stream, .token = c->token };
		vgpu_post(VGPU_OP_HOST_FUNC_DONE, q->ctx, &req, sizeof(req));

		pthread_mutex_lock(&q->lock);
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		free(c);
	}
	return NULL;
}

/* The queue of a stream, made (with its thread) on first use; NULL when that fails. */
static struct host_queue *queue_of(uint32_t ctx, uint32_t stream)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, watch_forks);
	pthread_mutex_lock(&queues_lock);
	struct host_queue *q;
	for (q = queues; q; q = q->next)
		if (q->ctx == ctx && q->stream == stream)
			break;
	if (!q && (q = calloc(1, sizeof(*q)))) {
		q->ctx = ctx;
		q->stream = stream;
		pthread_mutex_init(&q->lock, NULL);
		pthread_cond_init(&q->wake, NULL);
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		if (pthread_create(&t, &attr, run_queue, q) != 0) {
			free(q);
			q = NULL;
		} else {
			q->next = queues;
			queues = q;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&queues_lock);
	return q;
}

static CUresult host_call(CUstream h, int per_thread, CUhostFn fn, CUstreamCallback callback, void *data)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_need_ctx(&c);
	if (r != CUDA_SUCCESS)
		return r;
	if (!fn && !callback)
		return CUDA_ERROR_INVALID_VALUE;
	const struct vgpu_stream *s = vgpu_object(h, VGPU_MAGIC_STREAM);
	struct vgpu_ctx *owner = s ? s->ctx : c;
	uint32_t stream;
	if ((r = vgpu_stream_id(h, per_thread, owner, &stream)) != CUDA_SUCCESS)
		return r;
	if (vgpu_capture_of(stream, NULL))
		return vgpu_unsupported("cuLaunchHostFunc / cuStreamAddCallback on a capturing stream");
	struct host_queue *q = queue_of(owner->id, stream);
	struct host_call *call = q ? calloc(1, sizeof(*call)) : NULL;
	if (!call)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*call = (struct host_call){ .fn = fn, .callback = callback, .stream = h, .data = data,
				    .token = __atomic_fetch_add(&next_token, 1, __ATOMIC_RELAXED) };
	struct vgpu_req_host_func req = { .stream = stream, .token = call->token };
	/* Enqueued in order on the ring under the queue's lock, so the stream's gates and its queue agree. */
	pthread_mutex_lock(&q->lock);
	r = vgpu_post(VGPU_OP_HOST_FUNC_ENQUEUE, owner->id, &req, sizeof(req));
	if (r == CUDA_SUCCESS) {
		if (q->tail)
			q->tail->next = call;
		else
			q->head = call;
		q->tail = call;
		pthread_cond_signal(&q->wake);
	}
	pthread_mutex_unlock(&q->lock);
	if (r != CUDA_SUCCESS)
		free(call);
	return r;
}

VGPU_EXPORT CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
	return host_call(hStream, 0, fn, NULL, userData);
}

VGPU_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData)
{
	return host_call(hStream, 1, fn, NULL, userData);
}

VGPU_EXPORT CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData, unsigned int flags)
{
	if (flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	return host_call(hStream, 0, NULL, callback, userData);
}

VGPU_EXPORT CUresult cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback, void *userData, unsigned int flags)
{
	if (flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	return host_call(hStream, 1, NULL, callback, userData);
}
