/*
 * transport.h — how a guest's region reaches the proxy and how the two sides
 * wake each other.  The ring layout (vgpu_wire.h) is the same for every
 * transport; only set-up, wake-ups and host-memory sharing differ.
 *
 *   shm: a sealed memfd handed over a unix socket; the proxy sleeps on an
 *        eventfd, guest threads on a futex word in the control page.
 *   xen: pages granted to Dom0 (gntalloc), one interdomain event channel,
 *        a xenstore rendezvous (vgpu_xen.h); kernel devices only.
 */
#ifndef VGPU_TRANSPORT_H
#define VGPU_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vgpu_wire.h"

struct vgpu_transport;

struct vgpu_transport_ops {
	const char *name;
	/* Wake the proxy (it announced it may be asleep). */
	void (*kick)(struct vgpu_transport *t);
	/* Sleep until *word differs from seen, a wake-up arrives, or timeout_ms passes. */
	void (*sleep)(struct vgpu_transport *t, uint32_t *word, uint32_t seen, int timeout_ms);
	/* 1 while the proxy's end is open, 0 once it has gone. */
	int (*peer_alive)(struct vgpu_transport *t);
	/* Hand a host-memory segment (a sealed memfd) to the proxy, tagged with token; 0 or -errno. */
	int (*share_segment)(struct vgpu_transport *t, int fd, uint32_t token);
	void (*close)(struct vgpu_transport *t);
};

struct vgpu_transport {
	const struct vgpu_transport_ops *ops;
	uint8_t *region;        /* the shared region, mapped */
	size_t   region_size;
	uint32_t guest_id;      /* the proxy's number for this guest */
};

struct vgpu_region_sizes {
	uint32_t req_ring;
	uint32_t rsp_ring;
	uint32_t arena;
};

/*
 * Creates the region, initialises its control page and hands it to the proxy
 * listening on socket_path.  On failure returns -errno and writes a sentence
 * for the operator into err.
 */
int vgpu_shm_connect(const char *socket_path, const struct vgpu_region_sizes *sizes, const char *client,
		     struct vgpu_transport **out, char *err, size_t errlen);

/*
 * Grants the region to Dom0, offers it through xenstore (vgpu_xen.h) and waits
 * for vgpu-proxy's answer there (VGPU_CONNECT_TIMEOUT_MS, default 30000).
 */
int vgpu_xen_connect(const struct vgpu_region_sizes *sizes, const char *client, struct vgpu_transport **out, char *err, size_t errlen);

/* What a xen guest is about to publish; test programs may change it (vgpu_xen_offer_hook) to lie. */
struct vgpu_xen_offer {
	uint32_t pages;         /* region-pages */
	uint32_t ndir;          /* entries of dir_refs published (never more than allocated) */
	uint32_t *dir_refs;     /* grant refs of the directory pages */
	uint32_t *refs;         /* the directory's contents: the region's grant refs */
	uint32_t port;          /* event-channel */
	const char *client;
};
extern void (*vgpu_xen_offer_hook)(struct vgpu_xen_offer *offer);

/* Writes the guest's setup words into a fresh control page and marks the guest alive (every transport). */
static inline void vgpu_ctrl_init(struct vgpu_ctrl *ctrl, const struct vgpu_region_sizes *sizes, size_t region_size)
{
	memset(ctrl, 0, VGPU_CTRL_SIZE);
	ctrl->magic = VGPU_MAGIC;
	ctrl->version_major = VGPU_VERSION_MAJOR;
	ctrl->version_minor = VGPU_VERSION_MINOR;
	ctrl->ctrl_size = VGPU_CTRL_SIZE;
	ctrl->req_ring_size = sizes->req_ring;
	ctrl->rsp_ring_size = sizes->rsp_ring;
	ctrl->arena_size = sizes->arena;
	ctrl->region_size = region_size;
	__atomic_store_n(&ctrl->guest_state, VGPU_PEER_ALIVE, __ATOMIC_RELEASE);
}

/* A sealed memfd of the given size, for regions and host-memory segments; -errno on failure. */
int vgpu_sealed_memfd(const char *name, size_t size);

#endif
