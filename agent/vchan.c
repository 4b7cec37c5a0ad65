/*
 * vchan.c — libxenvchan's server side over gntalloc and evtchn (see vchan.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vchan.h"
#include "xen_dev.h"

#define PAGE 4096u
#define NOTIFY_WRITE 0x1
#define NOTIFY_READ 0x2

struct ring_shared {
	uint32_t cons, prod;
};
struct vchan_interface {
	struct ring_shared left, right;
	uint16_t left_order, right_order;
	uint8_t cli_live, srv_live;
	uint8_t cli_notify, srv_notify;
	uint32_t grants[];
};

struct ring {
	struct ring_shared *shr;
	uint8_t *buf;
	uint32_t size;          /* private copy */
	uint64_t index;         /* gntalloc offset when the ring has pages of its own */
	uint32_t pages;
};

struct vchan {
	int gnt_fd, evt_fd;
	uint32_t port;
	struct vchan_interface *ring;
	uint64_t ring_index;
	struct ring rd, wr;     /* server reads left, writes right */
	int broken;
};

static void mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

static int share_ring(struct vchan *v, struct ring *r, int order, uint32_t *grants, char *err, size_t errlen)
{
	r->size = 1u << order;
	if (order == 10) {
		r->buf = (uint8_t *)v->ring + 1024;
		return 0;
	}
	if (order == 11) {
		r->buf = (uint8_t *)v->ring + 2048;
		return 0;
	}
	r->pages = r->size / PAGE;
	int rc = xg_alloc(v->gnt_fd, 0, 1, r->pages, grants, &r->index);
	if (rc < 0) {
		snprintf(err, errlen, "granting %u ring pages: %s", r->pages, strerror(-rc));
		return rc;
	}
	r->buf = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, v->gnt_fd, (off_t)r->index);
	if (r->buf == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "mapping ring pages: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

struct vchan *vchan_server(const char *path, int read_order, int write_order, char *err, size_t errlen)
{
	struct vchan *v = calloc(1, sizeof(*v));
	struct xs_conn xs = { .fd = -1 };
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->gnt_fd = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
	v->evt_fd = open("/dev/xen/evtchn", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (v->gnt_fd < 0 || v->evt_fd < 0) {
		snprintf(err, errlen, "cannot open the Xen devices: %s", strerror(errno));
		goto fail;
	}
	int port = xe_bind_unbound(v->evt_fd, 0);
	if (port < 0) {
		snprintf(err, errlen, "event channel for Dom0: %s", strerror(-port));
		goto fail;
	}
	v->port = (uint32_t)port;
	uint32_t ring_ref;
	int rc = xg_alloc(v->gnt_fd, 0, 1, 1, &ring_ref, &v->ring_index);
	if (rc < 0) {
		snprintf(err, errlen, "granting the ring page: %s", strerror(-rc));
		goto fail;
	}
	v->ring = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, v->gnt_fd, (off_t)v->ring_index);
	if (v->ring == MAP_FAILED) {
		snprintf(err, errlen, "mapping the ring page: %s", strerror(errno));
		v->ring = NULL;
		goto fail;
	}
	memset(v->ring, 0, PAGE);
	/* If this process dies, srv_live is cleared and the client told (as libxenvchan's server does). */
	xg_unmap_notify(v->gnt_fd, v->ring_index + offsetof(struct vchan_interface, srv_live), 1, 1, v->port);
	uint32_t *grants = v->ring->grants;
	if (share_ring(v, &v->rd, read_order, grants, err, errlen) < 0)
		goto fail;
	if (share_ring(v, &v->wr, write_order, grants + v->rd.pages, err, errlen) < 0)
		goto fail;
	v->rd.shr = &v->ring->left;
	v->wr.shr = &v->ring->right;
	v->ring->left_order = (uint16_t)read_order;
	v->ring->right_order = (uint16_t)write_order;
	v->ring->cli_live = 2;
	v->ring->srv_live = 1;
	v->ring->cli_notify = NOTIFY_WRITE;

	if ((rc = xs_open(&xs)) < 0) {
		snprintf(err, errlen, "xenstore: %s", strerror(-rc));
		goto fail;
	}
	int domid = xs_domid(&xs);
	char own[16], key[256], val[32];
	snprintf(own, sizeof(own), "n%d", domid);
	const char *perms[] = { own };
	snprintf(key, sizeof(key), "%s/ring-ref", path);
	snprintf(val, sizeof(val), "%u", ring_ref);
	if ((rc = xs_write(&xs, key, val)) < 0 || (rc = xs_set_perms(&xs, key, perms, 1)) < 0)
		goto xs_fail;
	snprintf(key, sizeof(key), "%s/event-channel", path);
	snprintf(val, sizeof(val), "%u", v->port);
	if ((rc = xs_write(&xs, key, val)) < 0 || (rc = xs_set_perms(&xs, key, perms, 1)) < 0)
		goto xs_fail;
	if ((rc = xs_set_perms(&xs, path, perms, 1)) < 0)
		goto xs_fail;
	xs_close(&xs);
	return v;
xs_fail:
	snprintf(err, errlen, "writing %s to xenstore: %s", key, strerror(-rc));
fail:
	if (xs.fd >= 0)
		xs_close(&xs);
	vchan_close(v);
	return NULL;
}

int vchan_fd(struct vchan *v) { return v->evt_fd; }

void vchan_ack(struct vchan *v)
{
	uint32_t ports[8];
	ssize_t n = read(v->evt_fd, ports, sizeof(ports));
	if (n > 0 && write(v->evt_fd, ports, (size_t)n) < 0)
		return;
}

/* Asks the client to send an event when it does bit (a request lives in the byte the *client* acts on). */
static void request_notify(struct vchan *v, uint8_t bit)
{
	__atomic_or_fetch(&v->ring->cli_notify, bit, __ATOMIC_SEQ_CST);
	mb(); /* the request is posted /before/ the caller re-reads the indices */
}

/* Sends an event if the client asked for one on bit (its requests live in srv_notify). */
static void send_notify(struct vchan *v, uint8_t bit)
{
	mb(); /* the indices are published /before/ the request is looked at */
	uint8_t prev = __atomic_fetch_and(&v->ring->srv_notify, (uint8_t)~bit, __ATOMIC_SEQ_CST);
	if (prev & bit)
		xe_notify(v->evt_fd, v->port);
}

static size_t ready(struct vchan *v)
{
	uint32_t n = __atomic_load_n(&v->rd.shr->prod, __ATOMIC_ACQUIRE) - v->rd.shr->cons;
	if (n > v->rd.size) {
		v->broken = 1;
		return 0;
	}
	return n;
}

static size_t space(struct vchan *v)
{
	uint32_t used = v->wr.shr->prod - __atomic_load_n(&v->wr.shr->cons, __ATOMIC_ACQUIRE);
	if (used > v->wr.size) {
		v->broken = 1;
		return 0;
	}
	return v->wr.size - used;
}

size_t vchan_readable(struct vchan *v)
{
	request_notify(v, NOTIFY_WRITE);
	return ready(v);
}

size_t vchan_writable(struct vchan *v)
{
	request_notify(v, NOTIFY_READ);
	return space(v);
}

size_t vchan_read(struct vchan *v, void *buf, size_t len)
{
	size_t avail = ready(v);
	if (len > avail)
		len = avail;
	uint32_t cons = v->rd.shr->cons;
	size_t done = 0;
	while (done < len) {
		uint32_t at = (cons + (uint32_t)done) & (v->rd.size - 1);
		size_t chunk = v->rd.size - at;
		if (chunk > len - done)
			chunk = len - done;
		memcpy((uint8_t *)buf + done, v->rd.buf + at, chunk);
		done += chunk;
	}
	/* Copied, /then/ the space is given back. */
	__atomic_store_n(&v->rd.shr->cons, cons + (uint32_t)len, __ATOMIC_RELEASE);
	if (len)
		send_notify(v, NOTIFY_READ);
	return len;
}

size_t vchan_write(struct vchan *v, const void *buf, size_t len)
{
	size_t avail = space(v);
	if (len > avail)
		len = avail;
	uint32_t prod = v->wr.shr->prod;
	size_t done = 0;
	while (done < len) {
		uint32_t at = (prod + (uint32_t)done) & (v->wr.size - 1);
		size_t chunk = v->wr.size - at;
		if (chunk > len - done)
			chunk = len - done;
		memcpy(v->wr.buf + at, (const uint8_t *)buf + done, chunk);
		done += chunk;
	}
	/* Written, /then/ published. */
	__atomic_store_n(&v->wr.shr->prod, prod + (uint32_t)len, __ATOMIC_RELEASE);
	if (len)
		send_notify(v, NOTIFY_WRITE);
	return len;
}

int vchan_client_state(struct vchan *v) { return __atomic_load_n(&v->ring->cli_live, __ATOMIC_ACQUIRE); }

int vchan_broken(struct vchan *v) { return v->broken ? -1 : 0; }

void vchan_close(struct vchan *v)
{
	if (v->ring) {
		v->ring->srv_live = 0;
		xe_notify(v->evt_fd, v->port);
	}
	if (v->evt_fd >= 0)
		close(v->evt_fd);
	if (v->gnt_fd >= 0)
		close(v->gnt_fd);
	free(v);
}
