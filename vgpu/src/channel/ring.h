/*
 * ring.h — one side's view of a record ring of vgpu_wire.h.
 *
 * Sizes are private copies taken at setup; the shared counters are read and
 * written only through the ordering helpers below.
 */
#ifndef VGPU_RING_H
#define VGPU_RING_H

#include <stdint.h>
#include <stddef.h>
#include "vgpu_wire.h"

static inline uint32_t load_acquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t load_relaxed(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void full_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

struct vgpu_ring {
	uint8_t  *bytes;     /* the ring's storage */
	uint32_t  size;      /* private copy, power of two */
	uint32_t  mask;      /* size - 1 */
	uint32_t *head;      /* shared: consumer's free-running counter */
	uint32_t *tail;      /* shared: producer's free-running counter */
	uint32_t  own;       /* private copy of the counter this side owns */
};

void vgpu_ring_init(struct vgpu_ring *r, uint8_t *bytes, uint32_t size, uint32_t *head, uint32_t *tail, int producer);

static inline uint32_t vgpu_record_len(size_t payload)
{
	return (uint32_t)((sizeof(struct vgpu_req_hdr) + payload + VGPU_RECORD_ALIGN - 1) & ~(size_t)(VGPU_RECORD_ALIGN - 1));
}

/*
 * Producer: room for a record of len bytes (a multiple of 16), padding the
 * end of the ring first when needed.  Returns where to write the record, or
 * NULL when the consumer has not freed enough yet.  Nothing is visible to the
 * consumer until vgpu_ring_publish.
 */
uint8_t *vgpu_ring_reserve(struct vgpu_ring *r, uint32_t len);
void vgpu_ring_publish(struct vgpu_ring *r, uint32_t len);

/*
 * Consumer: the next record, PAD records skipped, or NULL when the ring is
 * empty.  *err is set (and NULL returned) when the producer broke the
 * layout rules.  The record stays valid until vgpu_ring_consume.
 */
const uint8_t *vgpu_ring_peek(struct vgpu_ring *r, uint32_t *len, int *err);
void vgpu_ring_consume(struct vgpu_ring *r, uint32_t len);

#endif
