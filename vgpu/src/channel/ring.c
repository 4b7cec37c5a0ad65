/*
 * ring.c — single-producer / single-consumer record rings (see vgpu_wire.h).
 */
#include <string.h>
#include "ring.h"

void vgpu_ring_init(struct vgpu_ring *r, uint8_t *bytes, uint32_t size, uint32_t *head, uint32_t *tail, int producer)
{
	r->bytes = bytes;
	r->size = size;
	r->mask = size - 1;
	r->head = head;
	r->tail = tail;
	r->own = producer ? load_relaxed(tail) : load_relaxed(head);
}

uint8_t *vgpu_ring_reserve(struct vgpu_ring *r, uint32_t len)
{
	uint32_t pos = r->own & r->mask;
	uint32_t to_end = r->size - pos;
	uint32_t need = len <= to_end ? len : to_end + len;
	/* The consumer's head: read with acquire so its reads of the slots we reuse are done. */
	uint32_t used = r->own - load_acquire(r->head);

	if (used > r->size || r->size - used < need)
		return NULL;
	if (len > to_end) {
		struct vgpu_req_hdr pad = { .len = to_end, .op = VGPU_OP_PAD, .flags = 0, .seq = 0, .ctx = 0 };
		memcpy(r->bytes + pos, &pad, sizeof(pad));
		r->own += to_end;
		pos = 0;
	}
	return r->bytes + pos;
}

void vgpu_ring_publish(struct vgpu_ring *r, uint32_t len)
{
	r->own += len;
	/* The record (and any PAD before it) is written, /then/ the tail is published. */
	store_release(r->tail, r->own);
}

const uint8_t *vgpu_ring_peek(struct vgpu_ring *r, uint32_t *len, int *err)
{
	*err = 0;
	for (int skipped = 0; skipped < 2; skipped++) {
		/* Tail with acquire: the producer's writes of the record are visible after it. */
		uint32_t avail = load_acquire(r->tail) - r->own;
		if (avail == 0)
			return NULL;
		uint32_t pos = r->own & r->mask;
		struct vgpu_rsp_hdr h;
		if (avail > r->size || avail < sizeof(h)) {
			*err = 1;
			return NULL;
		}
		memcpy(&h, r->bytes + pos, sizeof(h));
		if (h.len < sizeof(h) || h.len % VGPU_RECORD_ALIGN || h.len > avail || h.len > r->size - pos ||
		    (h.op != VGPU_OP_PAD && h.len > VGPU_RECORD_MAX)) {
			*err = 1;
			return NULL;
		}
		if (h.op == VGPU_OP_PAD) {
			vgpu_ring_consume(r, h.len);
			continue;
		}
		*len = h.len;
		return r->bytes + pos;
	}
	*err = 1; /* two PAD records in a row cannot happen */
	return NULL;
}

void vgpu_ring_consume(struct vgpu_ring *r, uint32_t len)
{
	r->own += len;
	/* The record has been read, /then/ its space is handed back. */
	store_release(r->head, r->own);
}
