/*
 * xen_dev.c — xenstore, grant allocation and event channels through the
 * kernel's devices (see xen_dev.h).  No Xen library: the xenstore wire
 * protocol (xs_wire.h's xsd_sockmsg) is small enough to speak here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
typedef uint16_t domid_t; /* <xen/evtchn.h> uses it without defining it */
#include <xen/evtchn.h>
#include <xen/gntalloc.h>

#include "xen_dev.h"

/* xs_wire.h */
enum { XS_DIRECTORY = 1, XS_READ = 2, XS_WATCH = 4, XS_UNWATCH = 5, XS_WRITE = 11, XS_MKDIR = 12, XS_RM = 13,
       XS_SET_PERMS = 14, XS_WATCH_EVENT = 15, XS_ERROR = 16 };
struct xsd_sockmsg {
	uint32_t type;
	uint32_t req_id;
	uint32_t tx_id;
	uint32_t len;   /* payload bytes that follow */
};
#define XS_PAYLOAD_MAX 4096

static const struct { const char *name; int err; } xs_errors[] = {
	{ "EINVAL", EINVAL }, { "EACCES", EACCES }, { "EEXIST", EEXIST }, { "EISDIR", EISDIR }, { "ENOENT", ENOENT },
	{ "ENOMEM", ENOMEM }, { "ENOSPC", ENOSPC }, { "EIO", EIO }, { "ENOTEMPTY", ENOTEMPTY }, { "ENOSYS", ENOSYS },
	{ "EROFS", EROFS }, { "EBUSY", EBUSY }, { "EAGAIN", EAGAIN }, { "EISCONN", EISCONN }, { "E2BIG", E2BIG },
	{ "EPERM", EPERM },
};

static int now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int xs_open(struct xs_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = open("/dev/xen/xenbus", O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	return 0;
}

void xs_close(struct xs_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one message (header + payload, payload NUL-terminated in buf). */
static int read_msg(struct xs_conn *c, struct xsd_sockmsg *h, char *buf, size_t cap)
{
	int rc = read_full(c->fd, h, sizeof(*h));
	if (rc < 0)
		return rc;
	if (h->len > XS_PAYLOAD_MAX)
		return -EIO;
	char tmp[XS_PAYLOAD_MAX + 1];
	rc = read_full(c->fd, tmp, h->len);
	if (rc < 0)
		return rc;
	tmp[h->len] = 0;
	size_t n = h->len < cap - 1 ? h->len : cap - 1;
	memcpy(buf, tmp, n);
	buf[n] = 0;
	return 0;
}

/*
 * One request: parts are concatenated (each with its NUL when nul[i]); the
 * reply's payload goes into out.  Watch events that arrive meanwhile are
 * counted.  Returns the reply payload length or -errno.
 */
static int xs_request(struct xs_conn *c, uint32_t type, const char *const *parts, const int *nul, int nparts, char *out, size_t cap)
{
	char msg[sizeof(struct xsd_sockmsg) + XS_PAYLOAD_MAX];
	struct xsd_sockmsg *h = (struct xsd_sockmsg *)msg;
	size_t len = 0;
	for (int i = 0; i < nparts; i++) {
		size_t l = strlen(parts[i]) + (nul[i] ? 1 : 0);
		if (len + l > XS_PAYLOAD_MAX)
			return -E2BIG;
		memcpy(msg + sizeof(*h) + len, parts[i], l);
		len += l;
	}
	h->type = type;
	h->req_id = ++c->req_id;
	h->tx_id = 0;
	h->len = (uint32_t)len;
	/* The device takes a whole message per write. */
	ssize_t w;
	do
		w = write(c->fd, msg, sizeof(*h) + len);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)(sizeof(*h) + len))
		return w < 0 ? -errno : -EIO;
	char local[XS_PAYLOAD_MAX + 1];
	for (int guard = 0; guard < 1024; guard++) {
		struct xsd_sockmsg r;
		int rc = read_msg(c, &r, local, sizeof(local));
		if (rc < 0)
			return rc;
		if (r.type == XS_WATCH_EVENT) {
			c->watch_fired++;
			continue;
		}
		if (r.type == XS_ERROR) {
			for (size_t i = 0; i < sizeof(xs_errors) / sizeof(xs_errors[0]); i++)
				if (!strcmp(local, xs_errors[i].name))
					return -xs_errors[i].err;
			return -EIO;
		}
		if (r.type != type)
			return -EIO;
		if (out && cap) {
			size_t n = r.len < cap - 1 ? r.len : cap - 1;
			memcpy(out, local, n);
			out[n] = 0;
		}
		return (int)r.len;
	}
	return -EIO;
}

int xs_write(struct xs_conn *c, const char *path, const char *value)
{
	const char *parts[] = { path, value };
	const int nul[] = { 1, 0 };
	int rc = xs_request(c, XS_WRITE, parts, nul, 2, NULL, 0);
	return rc < 0 ? rc : 0;
}

int xs_read(struct xs_conn *c, const char *path, char *out, size_t cap)
{
	const char *parts[] = { path };
	const int nul[] = { 1 };
	return xs_request(c, XS_READ, parts, nul, 1, out, cap);
}

int xs_mkdir(struct xs_conn *c, const char *path)
{
	const char *parts[] = { path };
	const int nul[] = { 1 };
	int rc = xs_request(c, XS_MKDIR, parts, nul, 1, NULL, 0);
	return rc < 0 ? rc : 0;
}

int xs_rm(struct xs_conn *c, const char *path)
{
	const char *parts[] = { path };
	const int nul[] = { 1 };
	int rc = xs_request(c, XS_RM, parts, nul, 1, NULL, 0);
	return rc < 0 && rc != -ENOENT ? rc : 0;
}

int xs_set_perms(struct xs_conn *c, const char *path, const char *const *perms, int n)
{
	const char *parts[9];
	int nul[9];
	if (n > 8)
		return -E2BIG;
	parts[0] = path;
	nul[0] = 1;
	for (int i = 0; i < n; i++) {
		parts[i + 1] = perms[i];
		nul[i + 1] = 1;
	}
	int rc = xs_request(c, XS_SET_PERMS, parts, nul, n + 1, NULL, 0);
	return rc < 0 ? rc : 0;
}

int xs_watch(struct xs_conn *c, const char *path, const char *token)
{
	const char *parts[] = { path, token };
	const int nul[] = { 1, 1 };
	int rc = xs_request(c, XS_WATCH, parts, nul, 2, NULL, 0);
	return rc < 0 ? rc : 0;
}

int xs_unwatch(struct xs_conn *c, const char *path, const char *token)
{
	const char *parts[] = { path, token };
	const int nul[] = { 1, 1 };
	int rc = xs_request(c, XS_UNWATCH, parts, nul, 2, NULL, 0);
	return rc < 0 ? rc : 0;
}

int xs_wait_watch(struct xs_conn *c, int timeout_ms)
{
	int end = now_ms() + timeout_ms;
	while (c->watch_fired == 0) {
		int left = end - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		struct xsd_sockmsg h;
		char buf[XS_PAYLOAD_MAX + 1];
		int rc = read_msg(c, &h, buf, sizeof(buf));
		if (rc < 0)
			return rc;
		if (h.type == XS_WATCH_EVENT)
			c->watch_fired++;
	}
	c->watch_fired = 0;
	return 1;
}

int xs_domid(struct xs_conn *c)
{
	char buf[32];
	int rc = xs_read(c, "domid", buf, sizeof(buf));
	if (rc < 0)
		return rc;
	char *end;
	long v = strtol(buf, &end, 10);
	if (*end || v <= 0 || v >= 0x7ff0)
		return -EINVAL;
	return (int)v;
}

/* ---- grants ---- */

int xg_alloc(int fd, uint16_t domid, int writable, uint32_t count, uint32_t *refs, uint64_t *index)
{
	size_t sz = sizeof(struct ioctl_gntalloc_alloc_gref) + sizeof(uint32_t) * count;
	struct ioctl_gntalloc_alloc_gref *a = calloc(1, sz);
	if (!a)
		return -ENOMEM;
	a->domid = domid;
	a->flags = writable ? GNTALLOC_FLAG_WRITABLE : 0;
	a->count = count;
	int rc = ioctl(fd, IOCTL_GNTALLOC_ALLOC_GREF, a);
	if (rc < 0) {
		rc = -errno;
		free(a);
		return rc;
	}
	memcpy(refs, a->gref_ids, sizeof(uint32_t) * count);
	*index = a->index;
	free(a);
	return 0;
}

int xg_dealloc(int fd, uint64_t index, uint32_t count)
{
	struct ioctl_gntalloc_dealloc_gref d = { .index = index, .count = count };
	return ioctl(fd, IOCTL_GNTALLOC_DEALLOC_GREF, &d) < 0 ? -errno : 0;
}

int xg_unmap_notify(int fd, uint64_t byte_index, int clear_byte, int send_event, uint32_t port)
{
	struct ioctl_gntalloc_unmap_notify n = {
		.index = byte_index,
		.action = (clear_byte ? UNMAP_NOTIFY_CLEAR_BYTE : 0) | (send_event ? UNMAP_NOTIFY_SEND_EVENT : 0),
		.event_channel_port = port,
	};
	return ioctl(fd, IOCTL_GNTALLOC_SET_UNMAP_NOTIFY, &n) < 0 ? -errno : 0;
}

/* ---- event channels ---- */

int xe_bind_unbound(int fd, uint32_t remote)
{
	struct ioctl_evtchn_bind_unbound_port b = { .remote_domain = remote };
	int port = ioctl(fd, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &b);
	return port < 0 ? -errno : port;
}

int xe_bind_interdomain(int fd, uint32_t remote, uint32_t remote_port)
{
	struct ioctl_evtchn_bind_interdomain b = { .remote_domain = remote, .remote_port = remote_port };
	int port = ioctl(fd, IOCTL_EVTCHN_BIND_INTERDOMAIN, &b);
	return port < 0 ? -errno : port;
}

int xe_notify(int fd, uint32_t port)
{
	struct ioctl_evtchn_notify n = { .port = port };
	return ioctl(fd, IOCTL_EVTCHN_NOTIFY, &n) < 0 ? -errno : 0;
}

int xe_unbind(int fd, uint32_t port)
{
	struct ioctl_evtchn_unbind u = { .port = port };
	return ioctl(fd, IOCTL_EVTCHN_UNBIND, &u) < 0 ? -errno : 0;
}

int xe_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0 || !(p.revents & POLLIN))
		return 0;
	uint32_t ports[16];
	ssize_t n = read(fd, ports, sizeof(ports));
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	/* The device masks a port when it fires: writing it back unmasks it. */
	if (n > 0 && write(fd, ports, (size_t)n) < 0)
		return -errno;
	return n > 0;
}
