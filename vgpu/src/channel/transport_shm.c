/*
 * transport_shm.c — the shm transport: a sealed memfd region handed to
 * vgpu-proxy over a unix socket, with an eventfd to wake the proxy and a
 * futex word to wake guest threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "transport.h"

#define WELCOME_TIMEOUT_MS 10000

struct shm_transport {
	struct vgpu_transport base;
	int sock;
	int proxy_evfd;   /* the guest writes it to wake the proxy */
};

static void shm_kick(struct vgpu_transport *t)
{
	struct shm_transport *s = (struct shm_transport *)t;
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the proxy will wake anyway. */
	if (write(s->proxy_evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return;
}

static void shm_sleep(struct vgpu_transport *t, uint32_t *word, uint32_t seen, int timeout_ms)
{
	(void)t;
	struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
	/* Shared (not private) futex: the proxy wakes it from its own process. */
	syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static int shm_peer_alive(struct vgpu_transport *t)
{
	struct shm_transport *s = (struct shm_transport *)t;
	char c;
	ssize_t n = recv(s->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return 0;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return 0;
	return 1;
}

static int send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	memset(control, 0, sizeof(control));
	if (nfds > 0) {
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n == (ssize_t)len)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : -EPROTO;
	}
}

static int shm_share_segment(struct vgpu_transport *t, int fd, uint32_t token)
{
	struct shm_transport *s = (struct shm_transport *)t;
	struct vgpu_fd_note note = { .magic = VGPU_HELLO_MAGIC, .token = token };
	return send_with_fds(s->sock, &note, sizeof(note), &fd, 1);
}

static void shm_close(struct vgpu_transport *t)
{
	struct shm_transport *s = (struct shm_transport *)t;
	struct vgpu_ctrl *ctrl = (struct vgpu_ctrl *)t->region;
	store_release(&ctrl->guest_state, VGPU_PEER_CLOSED);
	shm_kick(t);
	close(s->sock);
	close(s->proxy_evfd);
	munmap(t->region, t->region_size);
	free(s);
}

static const struct vgpu_transport_ops shm_ops = {
	.name = "shm",
	.kick = shm_kick,
	.sleep = shm_sleep,
	.peer_alive = shm_peer_alive,
	.share_segment = shm_share_segment,
	.close = shm_close,
};

int vgpu_sealed_memfd(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Sealed against shrinking, so the proxy can never fault on a page the guest took away. */
	if (ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

/* How long the proxy may take to answer: VGPU_CONNECT_TIMEOUT_MS, else WELCOME_TIMEOUT_MS. */
static int welcome_timeout_ms(void)
{
	const char *v = getenv("VGPU_CONNECT_TIMEOUT_MS");
	char *end;
	long n = v && *v ? strtol(v, &end, 10) : 0;
	return n > 0 && n < 3600000 && !*end ? (int)n : WELCOME_TIMEOUT_MS;
}

static int recv_welcome(int sock, struct vgpu_welcome *w)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, welcome_timeout_ms());
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	ssize_t n = recv(sock, w, sizeof(*w), MSG_WAITALL);
	if (n != (ssize_t)sizeof(*w))
		return n < 0 ? -errno : -ECONNRESET;
	return 0;
}

int vgpu_shm_connect(const char *socket_path, const struct vgpu_region_sizes *sizes, const char *client,
		     struct vgpu_transport **out, char *err, size_t errlen)
{
	if (!is_pow2(sizes->req_ring) || !is_pow2(sizes->rsp_ring) || !is_pow2(sizes->arena)) {
		snprintf(err, errlen, "ring and arena sizes must be powers of two");
		return -EINVAL;
	}
	size_t region_size = VGPU_CTRL_SIZE + (size_t)sizes->req_ring + sizes->rsp_ring + sizes->arena;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, socket_path);

	struct shm_transport *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->sock = -1;
	s->proxy_evfd = -1;
	int memfd = -1, rc;
	void *region = MAP_FAILED;

	s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->sock < 0 || connect(s->sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot reach vgpu-proxy at %s: %s (is vgpu-proxy running? set VGPU_PROXY_SOCKET)",
			 socket_path, strerror(-rc));
		goto fail;
	}
	memfd = vgpu_sealed_memfd("vgpu-region", region_size);
	if (memfd < 0) {
		rc = memfd;
		snprintf(err, errlen, "cannot create the shared region (%zu bytes): %s", region_size, strerror(-rc));
		goto fail;
	}
	region = mmap(NULL, region_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (region == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "cannot map the shared region: %s", strerror(-rc));
		goto fail;
	}
	s->proxy_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->proxy_evfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-rc));
		goto fail;
	}

	struct vgpu_ctrl *ctrl = region;
	vgpu_ctrl_init(ctrl, sizes, region_size);

	struct vgpu_hello hello = { .magic = VGPU_HELLO_MAGIC, .version_major = VGPU_VERSION_MAJOR,
				    .version_minor = VGPU_VERSION_MINOR, .region_size = region_size };
	snprintf(hello.client, sizeof(hello.client), "%s", client ? client : "");
	int fds[2] = { memfd, s->proxy_evfd };
	rc = send_with_fds(s->sock, &hello, sizeof(hello), fds, 2);
	if (rc < 0) {
		snprintf(err, errlen, "sending the region to vgpu-proxy failed: %s", strerror(-rc));
		goto fail;
	}
	close(memfd);
	memfd = -1;

	struct vgpu_welcome w;
	rc = recv_welcome(s->sock, &w);
	if (rc < 0) {
		snprintf(err, errlen, "vgpu-proxy did not answer the hand-over: %s", strerror(-rc));
		goto fail;
	}
	if (w.magic != VGPU_HELLO_MAGIC || w.status != 0) {
		w.message[sizeof(w.message) - 1] = 0;
		snprintf(err, errlen, "vgpu-proxy refused the channel (status %d): %s", w.status, w.message);
		rc = -EPROTO;
		goto fail;
	}
	s->base.ops = &shm_ops;
	s->base.region = region;
	s->base.region_size = region_size;
	s->base.guest_id = w.guest_id;
	*out = &s->base;
	return 0;

fail:
	if (region != MAP_FAILED)
		munmap(region, region_size);
	if (memfd >= 0)
		close(memfd);
	if (s->proxy_evfd >= 0)
		close(s->proxy_evfd);
	if (s->sock >= 0)
		close(s->sock);
	free(s);
	return rc;
}
