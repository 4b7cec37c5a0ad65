/*
 * channel.h — the guest side of one IDM channel: every thread of a guest
 * process shares it, so requests reach the proxy in one order.
 *
 * Sending:   vgpu_tx_begin; [vgpu_tx_arena ...]; vgpu_tx_push ...; vgpu_tx_end
 * Calling:   vgpu_call (or vgpu_call_begin ... vgpu_call_finish around the above
 *            when the request carries arena bytes and the answer comes back in
 *            the arena).
 * Arena allocations and pushes happen under the send lock, so arena order is
 * request order and the proxy can release arena space in order.
 */
#ifndef VGPU_CHANNEL_H
#define VGPU_CHANNEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <cuda.h>

#include "ring.h"
#include "transport.h"

struct vgpu_part {
	const void *data;
	size_t len;
};

struct vgpu_channel {
	struct vgpu_transport *tp;
	struct vgpu_ctrl *ctrl;
	struct vgpu_ring req;           /* producer side */
	struct vgpu_ring rsp;           /* consumer side */
	uint8_t *arena;
	uint32_t arena_size;            /* private copy */
	uint32_t arena_alloc;           /* free-running: next free position (under send_lock) */
	int      hold_active;           /* an arena range the guest still reads (under send_lock) */
	uint32_t hold_pos;
	pthread_mutex_t send_lock;      /* request ring and arena */
	pthread_mutex_t call_lock;      /* one synchronous call waits for its answer at a time */
	uint32_t next_seq;              /* under send_lock */
	int      dead;                  /* set once the proxy is gone; atomic */
	int      spin_iters;
	/* Flags every request of the calling thread carries (the capture mode); NULL: none. */
	uint16_t (*thread_flags)(void);
	pid_t    owner_pid;
	/* Waits that slept (atomics): how many, how long, and how many only the slice's timeout ended. */
	uint64_t sleeps, slept_us, timed_out;
};

/* Opens the channel named by the environment (VGPU_PROXY_SOCKET, VGPU_ARENA_MIB ...). */
CUresult vgpu_channel_open(struct vgpu_channel **out, const char *client);
void vgpu_channel_close(struct vgpu_channel *ch);

/* The CUresult every call returns once the proxy has gone. */
#define VGPU_ERROR_PROXY_GONE CUDA_ERROR_DEVICE_UNAVAILABLE

CUresult vgpu_tx_begin(struct vgpu_channel *ch);
/* Room for len bytes of arena (waits for the proxy to release space); len <= arena size / 2. */
CUresult vgpu_tx_arena(struct vgpu_channel *ch, uint32_t len, struct vgpu_arena_ref *ref, uint8_t **bytes);
/* Keeps an arena range from reuse after the proxy released it, until vgpu_tx_unhold. */
void vgpu_tx_hold(struct vgpu_channel *ch, const struct vgpu_arena_ref *ref);
void vgpu_tx_unhold(struct vgpu_channel *ch);
CUresult vgpu_tx_push(struct vgpu_channel *ch, uint16_t op, uint16_t flags, uint32_t ctx,
		      const struct vgpu_part *parts, int nparts, uint32_t *seq);
void vgpu_tx_end(struct vgpu_channel *ch);

/* Largest single arena allocation. */
static inline uint32_t vgpu_arena_chunk(const struct vgpu_channel *ch) { return ch->arena_size / 4; }

/* An asynchronous request: no answer; errors surface at the next synchronising call. */
CUresult vgpu_send(struct vgpu_channel *ch, uint16_t op, uint32_t ctx, const struct vgpu_part *parts, int nparts);

/*
 * A synchronous call: sends, waits for the answer, copies up to rsp_cap bytes
 * of its payload into rsp (*rsp_len: the payload's real length), returns its
 * CUresult.
 */
CUresult vgpu_call(struct vgpu_channel *ch, uint16_t op, uint32_t ctx, const struct vgpu_part *parts, int nparts,
		   void *rsp, size_t rsp_cap, size_t *rsp_len);

/* vgpu_call with request flags besides VGPU_RF_REPLY (VGPU_RF_ASYNC, VGPU_RF_PTDS). */
CUresult vgpu_call_flags(struct vgpu_channel *ch, uint16_t op, uint16_t flags, uint32_t ctx, const struct vgpu_part *parts, int nparts,
			 void *rsp, size_t rsp_cap, size_t *rsp_len);

/* The pieces of vgpu_call, for requests that need the arena. */
void vgpu_call_begin(struct vgpu_channel *ch);
CUresult vgpu_call_wait(struct vgpu_channel *ch, uint32_t seq, void *rsp, size_t rsp_cap, size_t *rsp_len);
void vgpu_call_end(struct vgpu_channel *ch);

#endif
