/*
 * transport_xen.c — the xen transport: the region (vgpu_wire.h, the same
 * layout as shm) in pages granted to Dom0, one interdomain event channel for
 * wake-ups both ways, and a xenstore rendezvous (vgpu_xen.h).  Kernel devices
 * only (xen_dev.h): nothing from Xen's user-space libraries, so libvgpu works
 * in any container of the pod VM that sees /dev/xen/{gntalloc,evtchn,xenbus}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "transport.h"
#include "vgpu_xen.h"
#include "xen_dev.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 30000
#define PATH_MAX_XS 96

struct xen_transport {
	struct vgpu_transport base;
	int gnt_fd;
	int evt_fd;
	uint32_t port;
	uint64_t region_index;
	uint32_t region_pages;
	char path[PATH_MAX_XS];        /* data/vgpu/<chan>, relative to the guest's home */
	/* One sleeping thread at a time reads the event channel; the others wait on the wake word. */
	pthread_mutex_t reader;
};

/* Set only by test programs (ring_client xen-lie): changes the offer before it is published. */
void (*vgpu_xen_offer_hook)(struct vgpu_xen_offer *offer);

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

static void xen_kick(struct vgpu_transport *t)
{
	struct xen_transport *x = (struct xen_transport *)t;
	xe_notify(x->evt_fd, x->port);
}

static void xen_sleep(struct vgpu_transport *t, uint32_t *word, uint32_t seen, int timeout_ms)
{
	struct xen_transport *x = (struct xen_transport *)t;
	if (load_acquire(word) != seen)
		return;
	if (pthread_mutex_trylock(&x->reader) == 0) {
		/* Re-checked under the reader lock: the proxy bumps the word /then/ notifies. */
		if (load_acquire(word) == seen)
			xe_wait(x->evt_fd, timeout_ms);
		pthread_mutex_unlock(&x->reader);
		/* Private futex: only this process's threads wait on it (the proxy cannot reach them). */
		futex(word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
		return;
	}
	struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
	futex(word, FUTEX_WAIT_PRIVATE, seen, &ts);
}

static int xen_peer_alive(struct vgpu_transport *t)
{
	struct vgpu_ctrl *ctrl = (struct vgpu_ctrl *)t->region;
	/* Dom0's gntdev clears the low byte when the proxy's mapping goes away (it died). */
	return load_acquire(&ctrl->proxy_state) == VGPU_PEER_ALIVE;
}

static int xen_share_segment(struct vgpu_transport *t, int fd, uint32_t token)
{
	(void)t;
	(void)fd;
	(void)token;
	/* Host segments are memfds; granting them is not implemented: callers fall back or fail. */
	return -EOPNOTSUPP;
}

static void xs_best_effort_close(const char *path)
{
	struct xs_conn xs;
	if (xs_open(&xs) < 0)
		return;
	char key[PATH_MAX_XS + 16];
	snprintf(key, sizeof(key), "%s/%s", path, VGPU_XS_STATE);
	xs_write(&xs, key, VGPU_XS_STATE_CLOSED);
	xs_rm(&xs, path);
	xs_close(&xs);
}

static void xen_close(struct vgpu_transport *t)
{
	struct xen_transport *x = (struct xen_transport *)t;
	struct vgpu_ctrl *ctrl = (struct vgpu_ctrl *)t->region;
	/* An orderly close says CLOSED; the kernel must not turn it into ABSENT afterwards. */
	xg_unmap_notify(x->gnt_fd, x->region_index + offsetof(struct vgpu_ctrl, guest_state), 0, 0, 0);
	store_release(&ctrl->guest_state, VGPU_PEER_CLOSED);
	xen_kick(t);
	xs_best_effort_close(x->path);
	munmap(t->region, t->region_size);
	xg_dealloc(x->gnt_fd, x->region_index, x->region_pages);
	xe_unbind(x->evt_fd, x->port);
	close(x->evt_fd);
	close(x->gnt_fd);
	pthread_mutex_destroy(&x->reader);
	free(x);
}

static const struct vgpu_transport_ops xen_ops = {
	.name = "xen",
	.kick = xen_kick,
	.sleep = xen_sleep,
	.peer_alive = xen_peer_alive,
	.share_segment = xen_share_segment,
	.close = xen_close,
};

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	long n = strtol(v, &end, 10);
	return (*end || n <= 0 || n > INT_MAX) ? dflt : (int)n;
}

static int xs_put(struct xs_conn *xs, const char *dir, const char *key, const char *value)
{
	char path[PATH_MAX_XS + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	return xs_write(xs, path, value);
}

/* Waits for the proxy's answer in <dir>/proxy; 0 (connected, *guest_id), or -errno with err filled. */
static int await_proxy(struct xs_conn *xs, const char *dir, uint32_t *guest_id, char *err, size_t errlen)
{
	char key[PATH_MAX_XS + 16], val[512];
	snprintf(key, sizeof(key), "%s/%s", dir, VGPU_XS_PROXY);
	int timeout = env_int("VGPU_CONNECT_TIMEOUT_MS", DEFAULT_CONNECT_TIMEOUT_MS);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int n = xs_read(xs, key, val, sizeof(val));
		if (n >= 0) {
			size_t cl = strlen(VGPU_XS_CONNECTED);
			if (!strncmp(val, VGPU_XS_CONNECTED, cl) && val[cl] == ' ') {
				*guest_id = (uint32_t)strtoul(val + cl + 1, NULL, 10);
				return 0;
			}
			snprintf(err, errlen, "vgpu-proxy refused the channel: %s", val);
			return -EPROTO;
		}
		if (n != -ENOENT) {
			snprintf(err, errlen, "reading %s from xenstore: %s", key, strerror(-n));
			return n;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int left = timeout - (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			snprintf(err, errlen, "vgpu-proxy did not answer the offer within %d ms (is vgpu-proxy running with --xen in Dom0, and was this domain marked for vGPU?)", timeout);
			return -ETIMEDOUT;
		}
		int w = xs_wait_watch(xs, left);
		if (w < 0) {
			snprintf(err, errlen, "waiting on xenstore: %s", strerror(-w));
			return w;
		}
	}
}

int vgpu_xen_connect(const struct vgpu_region_sizes *sizes, const char *client, struct vgpu_transport **out, char *err, size_t errlen)
{
	if (!is_pow2(sizes->req_ring) || !is_pow2(sizes->rsp_ring) || !is_pow2(sizes->arena)) {
		snprintf(err, errlen, "ring and arena sizes must be powers of two");
		return -EINVAL;
	}
	size_t region_size = VGPU_CTRL_SIZE + (size_t)sizes->req_ring + sizes->rsp_ring + sizes->arena;
	uint32_t pages = (uint32_t)(region_size / VGPU_XEN_PAGE);
	uint32_t ndir = (pages + VGPU_XEN_REFS_PER_DIR - 1) / VGPU_XEN_REFS_PER_DIR;

	struct xen_transport *x = calloc(1, sizeof(*x));
	uint32_t *refs = calloc(pages, sizeof(uint32_t));
	uint32_t *dir_refs = calloc(ndir, sizeof(uint32_t));
	char *dir_text = calloc(ndir, 12);
	if (!x || !refs || !dir_refs || !dir_text) {
		free(x);
		free(refs);
		free(dir_refs);
		free(dir_text);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	x->gnt_fd = x->evt_fd = -1;
	pthread_mutex_init(&x->reader, NULL);
	struct xs_conn xs = { .fd = -1 };
	void *region = MAP_FAILED, *dir = MAP_FAILED;
	uint64_t dir_index = 0;
	int have_region = 0, have_dir = 0, port = -1, published = 0, rc;

	if ((rc = xs_open(&xs)) < 0) {
		snprintf(err, errlen, "cannot open /dev/xen/xenbus: %s (is this a Xen guest?)", strerror(-rc));
		goto fail;
	}
	int domid = xs_domid(&xs);
	if (domid < 0) {
		rc = domid;
		snprintf(err, errlen, "cannot read this domain's id from xenstore: %s", strerror(-rc));
		goto fail;
	}
	x->gnt_fd = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
	x->evt_fd = open("/dev/xen/evtchn", O_RDWR | O_CLOEXEC);
	if (x->gnt_fd < 0 || x->evt_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", x->gnt_fd < 0 ? "/dev/xen/gntalloc" : "/dev/xen/evtchn", strerror(-rc));
		goto fail;
	}
	/* The region: writable grants to Dom0. */
	if ((rc = xg_alloc(x->gnt_fd, 0, 1, pages, refs, &x->region_index)) < 0) {
		snprintf(err, errlen, "granting %u pages (%zu bytes) to Dom0 failed: %s (raise /sys/module/xen_gntalloc/parameters/limit, or the domain's max_grant_frames)",
			 pages, region_size, strerror(-rc));
		goto fail;
	}
	have_region = 1;
	x->region_pages = pages;
	region = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_SHARED, x->gnt_fd, (off_t)x->region_index);
	if (region == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "cannot map the granted region: %s", strerror(-rc));
		goto fail;
	}
	struct vgpu_ctrl *ctrl = region;
	vgpu_ctrl_init(ctrl, sizes, region_size);

	/* The directory: the region's refs, in order, on pages granted read-only. */
	if ((rc = xg_alloc(x->gnt_fd, 0, 0, ndir, dir_refs, &dir_index)) < 0) {
		snprintf(err, errlen, "granting %u directory pages failed: %s", ndir, strerror(-rc));
		goto fail;
	}
	have_dir = 1;
	dir = mmap(NULL, (size_t)ndir * VGPU_XEN_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, x->gnt_fd, (off_t)dir_index);
	if (dir == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "cannot map the directory pages: %s", strerror(-rc));
		goto fail;
	}
	memset(dir, 0, (size_t)ndir * VGPU_XEN_PAGE);
	memcpy(dir, refs, sizeof(uint32_t) * pages);

	port = xe_bind_unbound(x->evt_fd, 0);
	if (port < 0) {
		rc = port;
		snprintf(err, errlen, "cannot allocate an event channel for Dom0: %s", strerror(-rc));
		goto fail;
	}
	x->port = (uint32_t)port;
	/* If this process dies, the kernel clears guest_state (ALIVE -> ABSENT) and tells the proxy. */
	if ((rc = xg_unmap_notify(x->gnt_fd, x->region_index + offsetof(struct vgpu_ctrl, guest_state), 1, 1, x->port)) < 0) {
		snprintf(err, errlen, "cannot arm the unmap notification: %s", strerror(-rc));
		goto fail;
	}

	struct vgpu_xen_offer offer = { .pages = pages, .ndir = ndir, .dir_refs = dir_refs, .refs = dir, .port = x->port, .client = client };
	if (vgpu_xen_offer_hook)
		vgpu_xen_offer_hook(&offer);
	size_t off = 0;
	for (uint32_t i = 0; i < offer.ndir; i++)
		off += (size_t)sprintf(dir_text + off, i ? " %u" : "%u", offer.dir_refs[i]);

	uint8_t rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		rc = -EIO;
		snprintf(err, errlen, "getrandom failed");
		goto fail;
	}
	snprintf(x->path, sizeof(x->path), "%s/%02x%02x%02x%02x%02x%02x%02x%02x", VGPU_XS_DIR, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	char own[16], num[24];
	snprintf(own, sizeof(own), "n%d", domid);
	const char *perms[] = { own };
	published = 1;
	/* Only this DomU (owner, others none) and Dom0 (always) can see the keys. */
	if ((rc = xs_mkdir(&xs, x->path)) < 0 || (rc = xs_set_perms(&xs, x->path, perms, 1)) < 0) {
		snprintf(err, errlen, "cannot create %s in xenstore: %s", x->path, strerror(-rc));
		goto fail;
	}
	snprintf(num, sizeof(num), "%u", offer.pages);
	if ((rc = xs_put(&xs, x->path, VGPU_XS_REGION_PAGES, num)) < 0)
		goto xs_fail;
	if ((rc = xs_put(&xs, x->path, VGPU_XS_GREF_DIR, dir_text)) < 0)
		goto xs_fail;
	snprintf(num, sizeof(num), "%u", offer.port);
	if ((rc = xs_put(&xs, x->path, VGPU_XS_EVENT_CHANNEL, num)) < 0)
		goto xs_fail;
	if ((rc = xs_put(&xs, x->path, VGPU_XS_CLIENT, client && *client ? client : "?")) < 0)
		goto xs_fail;
	char key[PATH_MAX_XS + 16];
	snprintf(key, sizeof(key), "%s/%s", x->path, VGPU_XS_PROXY);
	if ((rc = xs_watch(&xs, key, "vgpu")) < 0)
		goto xs_fail;
	/* Everything else is in place, /then/ the state the proxy's watch is waiting for. */
	if ((rc = xs_put(&xs, x->path, VGPU_XS_STATE, VGPU_XS_STATE_OFFERED)) < 0)
		goto xs_fail;
	rc = await_proxy(&xs, x->path, &x->base.guest_id, err, errlen);
	xs_unwatch(&xs, key, "vgpu");
	if (rc < 0)
		goto fail;

	/* The proxy copied the directory: its pages are no longer needed. */
	munmap(dir, (size_t)ndir * VGPU_XEN_PAGE);
	xg_dealloc(x->gnt_fd, dir_index, ndir);
	xs_close(&xs);
	free(refs);
	free(dir_refs);
	free(dir_text);
	x->base.ops = &xen_ops;
	x->base.region = region;
	x->base.region_size = region_size;
	*out = &x->base;
	return 0;

xs_fail:
	snprintf(err, errlen, "writing the offer to xenstore (%s) failed: %s", x->path, strerror(-rc));
fail:
	if (published)
		xs_rm(&xs, x->path);
	if (xs.fd >= 0)
		xs_close(&xs);
	if (dir != MAP_FAILED)
		munmap(dir, (size_t)ndir * VGPU_XEN_PAGE);
	if (region != MAP_FAILED) {
		/* Not an orderly close the proxy must see as one: just go. */
		if (x->gnt_fd >= 0)
			xg_unmap_notify(x->gnt_fd, x->region_index + offsetof(struct vgpu_ctrl, guest_state), 0, 0, 0);
		munmap(region, region_size);
	}
	if (have_dir)
		xg_dealloc(x->gnt_fd, dir_index, ndir);
	if (have_region)
		xg_dealloc(x->gnt_fd, x->region_index, pages);
	if (port >= 0)
		xe_unbind(x->evt_fd, (uint32_t)port);
	if (x->evt_fd >= 0)
		close(x->evt_fd);
	if (x->gnt_fd >= 0)
		close(x->gnt_fd);
	pthread_mutex_destroy(&x->reader);
	free(x);
	free(refs);
	free(dir_refs);
	free(dir_text);
	return rc;
}
