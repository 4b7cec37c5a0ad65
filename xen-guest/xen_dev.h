/*
 * xen_dev.h — the three kernel devices a Xen guest needs to share memory
 * with Dom0, used directly (no Xen user-space library in the guest):
 *
 *   /dev/xen/xenbus    xenstore: read, write, mkdir, rm, permissions, watches
 *   /dev/xen/gntalloc  pages of this process granted to another domain
 *   /dev/xen/evtchn    event channels: bind, notify, wait, unmask
 *
 * Shared by libvgpu's xen transport (vgpu/src/channel/transport_xen.c) and
 * the guest agent (agent/vchan.c); each builds xen_dev.c into itself.
 */
#ifndef XEN_GUEST_XEN_DEV_H
#define XEN_GUEST_XEN_DEV_H

#include <stddef.h>
#include <stdint.h>

/* ---- xenstore over /dev/xen/xenbus ---- */
struct xs_conn {
	int fd;
	uint32_t req_id;
	int watch_fired;        /* watch events seen while waiting for replies */
};

int xs_open(struct xs_conn *c);                       /* 0 or -errno */
void xs_close(struct xs_conn *c);
/* Relative paths are relative to this domain's home, /local/domain/<domid>. */
int xs_write(struct xs_conn *c, const char *path, const char *value);
int xs_read(struct xs_conn *c, const char *path, char *out, size_t cap); /* length, or -errno (-ENOENT) */
int xs_mkdir(struct xs_conn *c, const char *path);
int xs_rm(struct xs_conn *c, const char *path);
/* perms: e.g. "n5" (owner domain 5, nobody else), "r0"; n entries. */
int xs_set_perms(struct xs_conn *c, const char *path, const char *const *perms, int n);
int xs_watch(struct xs_conn *c, const char *path, const char *token);
int xs_unwatch(struct xs_conn *c, const char *path, const char *token);
/* Waits up to timeout_ms for a watch event (one seen earlier counts); 1: fired, 0: timeout, -errno. */
int xs_wait_watch(struct xs_conn *c, int timeout_ms);
/* This domain's id (the "domid" key of its home); -errno on failure. */
int xs_domid(struct xs_conn *c);

/* ---- grants (gntalloc) ---- */
/*
 * Grants count pages of a new allocation to domid (writable or read-only);
 * refs receives the grant references, *index the offset to mmap the pages
 * at.  0 or -errno.
 */
int xg_alloc(int gntalloc_fd, uint16_t domid, int writable, uint32_t count, uint32_t *refs, uint64_t *index);
int xg_dealloc(int gntalloc_fd, uint64_t index, uint32_t count);
/* When the pages go away (the process dies), clear the byte at byte_index (an mmap offset) and/or notify port. */
int xg_unmap_notify(int gntalloc_fd, uint64_t byte_index, int clear_byte, int send_event, uint32_t port);

/* ---- event channels (evtchn) ---- */
int xe_bind_unbound(int evtchn_fd, uint32_t remote_domid);   /* local port, or -errno */
int xe_bind_interdomain(int evtchn_fd, uint32_t remote_domid, uint32_t remote_port);
int xe_notify(int evtchn_fd, uint32_t port);
int xe_unbind(int evtchn_fd, uint32_t port);
/* Waits up to timeout_ms for events; reads and unmasks every pending port.  1: an event, 0: timeout, -errno. */
int xe_wait(int evtchn_fd, int timeout_ms);

#endif
