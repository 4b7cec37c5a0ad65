/*
 * container_stdio.c — a container process's stdin, stdout and stderr: pipes,
 * or a terminal (a pty); the child's ends on 0, 1, 2, the agent's kept in
 * its proc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "container_private.h"

int make_stdio(const struct frame *f, struct stdio_set *s, char *err, size_t errlen)
{
	s->in[0] = s->in[1] = s->out[0] = s->out[1] = s->err[0] = s->err[1] = s->pty = s->pts = -1;
	const char *term = frame_get(f, "terminal"), *in = frame_get(f, "stdin");
	if (term && !strcmp(term, "1")) {
		if (openpty(&s->pty, &s->pts, NULL, NULL, NULL) < 0)
			return snprintf(err, errlen, "openpty: %s", strerror(errno)), -1;
		fcntl(s->pty, F_SETFD, FD_CLOEXEC);
		return 0;
	}
	if (pipe2(s->out, O_CLOEXEC) < 0 || pipe2(s->err, O_CLOEXEC) < 0)
		return snprintf(err, errlen, "pipe: %s", strerror(errno)), -1;
	if (in && !strcmp(in, "1") && pipe2(s->in, O_CLOEXEC) < 0)
		return snprintf(err, errlen, "pipe: %s", strerror(errno)), -1;
	return 0;
}

/* In the child: stdio onto 0, 1, 2. */
void child_stdio(struct stdio_set *s, int errfd)
{
	if (s->pts >= 0) {
		setsid();
		if (ioctl(s->pts, TIOCSCTTY, 0) < 0)
			child_die(errfd, "controlling terminal");
		dup2(s->pts, 0);
		dup2(s->pts, 1);
		dup2(s->pts, 2);
		return;
	}
	int null = open("/dev/null", O_RDWR);
	dup2(s->in[0] >= 0 ? s->in[0] : null, 0);
	dup2(s->out[1], 1);
	dup2(s->err[1], 2);
	setsid();
}

/* In the agent: keeps its ends, as a proc. */
struct proc *adopt(const char *cid, const char *eid, pid_t pid, struct stdio_set *s)
{
	struct proc *p = calloc(1, sizeof(*p));
	snprintf(p->cid, sizeof(p->cid), "%s", cid);
	snprintf(p->eid, sizeof(p->eid), "%s", eid);
	p->pid = pid;
	p->start_fd = -1;
	if (s->pty >= 0) {
		close(s->pts);
		p->pty = p->out_fd = s->pty;
		p->err_fd = -1;
		p->in_fd = dup(s->pty);
		fcntl(p->in_fd, F_SETFD, FD_CLOEXEC);
	} else {
		p->pty = -1;
		close(s->out[1]);
		close(s->err[1]);
		p->out_fd = s->out[0];
		p->err_fd = s->err[0];
		if (s->in[0] >= 0)
			close(s->in[0]);
		p->in_fd = s->in[1];
	}
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	if (p->err_fd >= 0)
		fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	if (p->in_fd >= 0)
		fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
	p->next = procs;
	procs = p;
	return p;
}

void close_stdio(struct stdio_set *s)
{
	int *all[] = { &s->in[0], &s->in[1], &s->out[0], &s->out[1], &s->err[0], &s->err[1], &s->pty, &s->pts };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (*all[i] >= 0)
			close(*all[i]), *all[i] = -1;
}
