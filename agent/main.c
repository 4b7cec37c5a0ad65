/*
 * xen-cri-agent — the pod VM's PID 1 (after nodeimage/guest/init.sh): serves
 * the shim's requests (proto.h) over a vchan (vchan.h) offered to Dom0 at
 * xenstore data/xen-cri/agent, runs the pod's containers (container.h),
 * forwards their output, reports their exits, and reaps every orphan.
 *
 * One thread, one poll loop: the vchan's event channel, a signalfd for
 * SIGCHLD, and every process's output descriptors.  When the shim goes away
 * (its vchan mapping is torn down, e.g. the shim died), the pod VM powers
 * itself off: nothing may outlive the shim that owns the pod.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "proto.h"
#include "vchan.h"

#define VCHAN_PATH "data/xen-cri/agent"
#define READ_ORDER 14   /* shim -> agent: 16 KiB */
#define WRITE_ORDER 16  /* agent -> shim: 64 KiB */
#define OUT_HIGH (4u << 20)

static struct vchan *vc;
static struct outbuf out;      /* frames not yet written to the vchan */
static size_t out_sent;
static uint8_t *in;            /* bytes read from the vchan, not yet a whole frame */
static size_t in_len, in_cap;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "xen-cri-agent: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void flush_out(void)
{
	while (out_sent < out.len) {
		size_t n = vchan_write(vc, out.data + out_sent, out.len - out_sent);
		if (n == 0) {
			/* Full: asks to be told when the shim reads, then re-checks. */
			if (vchan_writable(vc) == 0)
				return;
			continue;
		}
		out_sent += n;
	}
	out.len = out_sent = 0;
}

static void reply_ok(uint32_t id, const char *k, const char *v)
{
	ob_begin(&out, MSG_REPLY, id);
	ob_kv(&out, "ok", "1");
	if (k)
		ob_kv(&out, k, v);
	ob_end(&out, NULL, 0);
}

static void reply_err(uint32_t id, const char *err)
{
	ob_begin(&out, MSG_REPLY, id);
	ob_kv(&out, "err", err);
	ob_end(&out, NULL, 0);
}

static void send_output(struct proc *p, int fd, const void *data, size_t len)
{
	ob_begin(&out, MSG_OUTPUT, 0);
	ob_kv(&out, "cid", p->cid);
	ob_kv(&out, "eid", p->eid);
	ob_kv(&out, "fd", fd == 2 ? "2" : "1");
	ob_end(&out, data, len);
}

/* Reads what a process wrote (at most rounds x 32 KiB); 0 at EOF (the descriptor is closed). */
static int pump(struct proc *p, int *fdp, int which, int rounds)
{
	char buf[32768];
	for (int i = 0; i < rounds; i++) {
		ssize_t n = read(*fdp, buf, sizeof(buf));
		if (n > 0) {
			send_output(p, which, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 1;
		/* EOF, or EIO from a pty whose other side closed. */
		if (*fdp == p->pty) {
			p->pty = -1;
			if (p->in_fd >= 0) {
				close(p->in_fd);
				p->in_fd = -1;
			}
		}
		close(*fdp);
		*fdp = -1;
		return 0;
	}
	return 1;
}

static void reap(void)
{
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			return;
		struct proc *p = proc_by_pid(pid);
		if (!p)
			continue; /* an orphan this PID 1 adopted */
		p->exited = 1;
		p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		/* Everything it wrote goes out before its exit. */
		if (p->out_fd >= 0)
			pump(p, &p->out_fd, 1, 4096);
		if (p->err_fd >= 0)
			pump(p, &p->err_fd, 2, 4096);
		ob_begin(&out, MSG_EXIT, 0);
		ob_kv(&out, "cid", p->cid);
		ob_kv(&out, "eid", p->eid);
		ob_kvf(&out, "pid", "%d", (int)pid);
		ob_kvf(&out, "status", "%d", p->status);
		ob_end(&out, NULL, 0);
	}
}

static void handle(struct frame *f)
{
	char err[600] = "", num[32];
	const char *cid = frame_get(f, "cid"), *eid = frame_get(f, "eid");
	pid_t pid;
	switch (f->type) {
	case MSG_PING:
		reply_ok(f->id, "version", AGENT_PROTO_VERSION);
		return;
	case MSG_FILE:
		if (container_file(cid, frame_get(f, "name"), f->data, f->data_len, err, sizeof(err)) < 0)
			break;
		reply_ok(f->id, NULL, NULL);
		return;
	case MSG_CREATE:
		if (container_create(f, &pid, err, sizeof(err)) < 0)
			break;
		snprintf(num, sizeof(num), "%d", (int)pid);
		reply_ok(f->id, "pid", num);
		return;
	case MSG_START:
		if (container_start(cid, err, sizeof(err)) < 0)
			break;
		reply_ok(f->id, NULL, NULL);
		return;
	case MSG_EXEC:
		if (container_exec(f, &pid, err, sizeof(err)) < 0)
			break;
		snprintf(num, sizeof(num), "%d", (int)pid);
		reply_ok(f->id, "pid", num);
		return;
	case MSG_SIGNAL: {
		const char *sig = frame_get(f, "sig"), *all = frame_get(f, "all");
		if (container_signal(cid, eid, sig ? atoi(sig) : SIGTERM, all && !strcmp(all, "1"), err, sizeof(err)) < 0)
			break;
		reply_ok(f->id, NULL, NULL);
		return;
	}
	case MSG_STDIN: {
		struct proc *p = cid ? proc_find(cid, eid ? eid : "") : NULL;
		if (!p || p->in_fd < 0)
			return;
		size_t off = 0;
		/* Bounded: a reader that does not read gets what fits; stdin is best effort, as a pipe is. */
		for (int i = 0; i < 1000 && off < f->data_len; i++) {
			ssize_t n = write(p->in_fd, f->data + off, f->data_len - off);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno == EAGAIN)
				usleep(1000);
			else
				break;
		}
		const char *eof = frame_get(f, "eof");
		if (eof && !strcmp(eof, "1") && p->pty < 0) {
			close(p->in_fd);
			p->in_fd = -1;
		}
		return;
	}
	case MSG_RESIZE: {
		struct proc *p = cid ? proc_find(cid, eid ? eid : "") : NULL;
		if (!p || p->pty < 0) {
			snprintf(err, sizeof(err), "no terminal");
			break;
		}
		struct winsize ws = { .ws_row = (unsigned short)atoi(frame_get(f, "rows") ?: "24"), .ws_col = (unsigned short)atoi(frame_get(f, "cols") ?: "80") };
		ioctl(p->pty, TIOCSWINSZ, &ws);
		reply_ok(f->id, NULL, NULL);
		return;
	}
	case MSG_PIDS: {
		char list[8192];
		if (container_pids(cid, list, sizeof(list), err, sizeof(err)) < 0)
			break;
		reply_ok(f->id, "pids", list);
		return;
	}
	case MSG_STATS: {
		struct container_stats st;
		if (container_stats(cid, &st, err, sizeof(err)) < 0)
			break;
		ob_begin(&out, MSG_REPLY, f->id);
		ob_kv(&out, "ok", "1");
		ob_kvf(&out, "user_ns", "%llu", st.user_ns);
		ob_kvf(&out, "kernel_ns", "%llu", st.kernel_ns);
		ob_kvf(&out, "rss", "%llu", st.rss_bytes);
		ob_kvf(&out, "pids", "%u", st.pids);
		ob_end(&out, NULL, 0);
		return;
	}
	case MSG_DELETE_EXEC: {
		struct proc *p = cid ? proc_find(cid, eid ? eid : "") : NULL;
		if (p && p->exited)
			proc_free(p);
		reply_ok(f->id, NULL, NULL);
		return;
	}
	case MSG_DELETE:
		if (container_delete(cid, err, sizeof(err)) < 0)
			break;
		reply_ok(f->id, NULL, NULL);
		return;
	default:
		snprintf(err, sizeof(err), "unknown request %u", f->type);
	}
	reply_err(f->id, err);
}

/* Takes whole frames out of the input; -1 on a malformed one. */
static int parse_input(void)
{
	size_t at = 0;
	while (in_len - at >= 12) {
		uint32_t len;
		uint16_t type, flags;
		uint32_t id;
		memcpy(&len, in + at, 4);
		memcpy(&type, in + at + 4, 2);
		memcpy(&flags, in + at + 6, 2);
		memcpy(&id, in + at + 8, 4);
		if (len < 8 || len > AGENT_FRAME_MAX)
			return -1;
		if (in_len - at < 4 + (size_t)len)
			break;
		static struct frame f;
		if (frame_parse(&f, type, flags, id, in + at + 12, len - 8) < 0)
			return -1;
		handle(&f);
		at += 4 + (size_t)len;
	}
	memmove(in, in + at, in_len - at);
	in_len -= at;
	return 0;
}

static int read_vchan(void)
{
	for (;;) {
		size_t avail = vchan_readable(vc);
		if (vchan_broken(vc) < 0)
			return -1;
		if (avail == 0)
			return 0;
		if (in_len + avail > in_cap) {
			size_t cap = in_cap ? in_cap : 65536;
			while (cap < in_len + avail)
				cap *= 2;
			if (cap > 2 * AGENT_FRAME_MAX + 65536)
				return -1;
			in = realloc(in, cap);
			in_cap = cap;
		}
		in_len += vchan_read(vc, in + in_len, avail);
		if (parse_input() < 0)
			return -1;
	}
}

static void power_off(const char *why)
{
	logf_("%s: powering the pod VM off", why);
	sync();
	reboot(RB_POWER_OFF);
	_exit(1);
}

int main(void)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	signal(SIGPIPE, SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	char err[512];
	vc = vchan_server(VCHAN_PATH, READ_ORDER, WRITE_ORDER, err, sizeof(err));
	if (!vc)
		power_off(err);
	logf_("offered vchan at %s", VCHAN_PATH);
	int connected = 0;
	struct pollfd *pfd = NULL;
	struct proc **owner = NULL;
	int *which = NULL;
	size_t cap = 0;
	for (;;) {
		int state = vchan_client_state(vc);
		if (state == 1 && !connected) {
			connected = 1;
			ob_begin(&out, MSG_READY, 0);
			ob_kv(&out, "version", AGENT_PROTO_VERSION);
			ob_kvf(&out, "uptime_ms", "%ld", (long)(t0.tv_sec * 1000 + t0.tv_nsec / 1000000));
			ob_end(&out, NULL, 0);
		}
		if (state == 0)
			power_off("the shim has gone");
		if (connected && read_vchan() < 0)
			power_off("the shim broke the protocol");
		flush_out();
		/* What to wait for: the vchan, children, and output while the shim keeps up. */
		size_t n = 2;
		for (struct proc *p = procs; p; p = p->next)
			n += 2;
		if (n > cap) {
			cap = n * 2;
			pfd = realloc(pfd, cap * sizeof(*pfd));
			owner = realloc(owner, cap * sizeof(*owner));
			which = realloc(which, cap * sizeof(*which));
		}
		size_t k = 0;
		pfd[k++] = (struct pollfd){ .fd = vchan_fd(vc), .events = POLLIN };
		pfd[k++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (out.len < OUT_HIGH) {
			for (struct proc *p = procs; p; p = p->next) {
				if (p->out_fd >= 0) {
					owner[k] = p, which[k] = 1;
					pfd[k++] = (struct pollfd){ .fd = p->out_fd, .events = POLLIN };
				}
				if (p->err_fd >= 0) {
					owner[k] = p, which[k] = 2;
					pfd[k++] = (struct pollfd){ .fd = p->err_fd, .events = POLLIN };
				}
			}
		}
		int r = poll(pfd, k, connected ? 1000 : 200);
		if (r < 0 && errno != EINTR)
			power_off("poll failed");
		if (r <= 0)
			continue;
		if (pfd[0].revents)
			vchan_ack(vc);
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			reap();
		}
		for (size_t i = 2; i < k; i++) {
			if (!pfd[i].revents)
				continue;
			struct proc *p = owner[i];
			pump(p, which[i] == 1 ? &p->out_fd : &p->err_fd, which[i], 64);
		}
	}
}
