/*
 * agent-proto.c — libFuzzer target: everything of the guest agent that turns
 * the shim's bytes into structures and actions: the vchan reader
 * (agent/vchan.c, over an in-memory channel: agent-proto-vchan.c), frame
 * splitting (parse_input in agent/main.c), frame_parse (agent/proto.c), the
 * dispatch of every message (handle in agent/main.c) and the decoding of
 * message bodies in agent/container*.c (ids, names, rootfs keys, mount specs,
 * argv/env lists, uid/gid/gids, PATH search).
 *
 * agent/main.c and agent/container*.c are compiled into this file (their
 * parsers are static), with their system calls redirected to a fake OS
 * below: nothing is mounted, created, forked or executed.  Fake descriptors
 * are numbered from FAKE_FD; a close of one not open traps (a double close
 * in the agent would close someone else's descriptor).  Where the agent
 * forks (clone for CREATE, fork for EXEC) the fake returns a pid as to the
 * parent, and first runs the child's own decoding (do_mount for each mount,
 * child_stdio, set_ids, exec_in) until its exec or child_die, which returns
 * here through a longjmp instead of _exit.
 *
 * Input:  mode u8, then the bytes the shim writes into the vchan.
 *   mode & 15   the shim writes in pieces of 1 << (mode & 15) bytes (at most the ring)
 *   mode & 16   the shim reads the agent's output after each piece
 *   mode & 32   a process exits after each piece (the SIGCHLD path: reap)
 *   mode & 64   the rings' counters start at the input's next 4 bytes, not 0
 *   mode & 128  the last 5 bytes are a hostile counter: field u8, value u32
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "agent-proto.h"

/* ---- the fake OS ---- */
#define FAKE_FD 1000
#define FAKE_FDS 4096
#define FAKE_PID 100
static uint8_t fd_open[FAKE_FDS];   /* 1 open, 2 open and already read from */
static int fd_next, pid_next;
static int in_child;                /* running a child's side: its descriptors are its own */
static jmp_buf child_exit;
static pid_t exits[16];             /* waitpid's answers, oldest first */
static int exits_n;
static const struct frame *cur_frame;
static int reaping;                 /* in reap(): reads are of a child's output */

static int fz_newfd(void)
{
	if (in_child)
		return 3;
	if (fd_next == FAKE_FDS)
		return errno = EMFILE, -1;
	fd_open[fd_next] = 1;
	return FAKE_FD + fd_next++;
}
static int fz_isopen(int fd) { return fd >= FAKE_FD && fd < FAKE_FD + fd_next && fd_open[fd - FAKE_FD]; }

static int fz_close(int fd)
{
	if (in_child)
		return 0;
	if (!fz_isopen(fd))
		__builtin_trap(); /* the agent closed a descriptor it does not hold */
	fd_open[fd - FAKE_FD] = 0;
	return 0;
}
static int fz_open(const char *path, int flags, ...) { (void)path, (void)flags; return fz_newfd(); }
static int fz_dup(int fd) { return fz_isopen(fd) ? fz_newfd() : (errno = EBADF, -1); }
static int fz_dup2(int fd, int to) { (void)fd; return to; }
static int fz_pipe2(int p[2], int flags) { (void)flags; p[0] = fz_newfd(); p[1] = fz_newfd(); return 0; }
static int fz_openpty(int *m, int *s, char *name, const struct termios *t, const struct winsize *w)
{
	(void)name, (void)t, (void)w;
	*m = fz_newfd();
	*s = fz_newfd();
	return 0;
}
static ssize_t fz_read(int fd, void *buf, size_t n)
{
	/* A child's output: one piece, then end of file; anything else (a verdict pipe): end of file. */
	if (reaping && fz_isopen(fd) && fd_open[fd - FAKE_FD] == 1 && n >= 6) {
		fd_open[fd - FAKE_FD] = 2;
		memcpy(buf, "hello\n", 6);
		return 6;
	}
	return 0;
}
static ssize_t fz_write(int fd, const void *buf, size_t n)
{
	(void)buf;
	if (in_child || fz_isopen(fd))
		return (ssize_t)n;
	return errno = EBADF, -1;
}
static pid_t fz_child(void (*side)(void))
{
	pid_t pid = FAKE_PID + pid_next++;
	in_child = 1;
	if (!setjmp(child_exit))
		side();
	in_child = 0;
	return pid;
}
static void child_of_create(void);
static void child_of_exec(void);
static long fz_syscall(long nr, ...)
{
	if (nr == SYS_clone)
		return fz_child(child_of_create);
	return 0; /* pivot_root */
}
static pid_t fz_fork(void) { return fz_child(child_of_exec); }
static pid_t fz_waitpid(pid_t pid, int *st, int options)
{
	if (st)
		*st = 0;
	if (!(options & WNOHANG))
		return pid;
	if (!exits_n)
		return 0;
	pid_t p = exits[0];
	memmove(exits, exits + 1, (size_t)--exits_n * sizeof(exits[0]));
	return p;
}
static void fz_exit(int code)
{
	(void)code;
	if (!in_child)
		__builtin_trap(); /* the agent itself would exit */
	longjmp(child_exit, 1);
}
static int fz_stat(const char *path, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = strchr(path, '.') ? S_IFREG : S_IFDIR;
	return 0;
}
static int fz_ok(void) { return 0; }
static int fz_ioctl(int fd, unsigned long req, ...) { (void)fd, (void)req; return 0; }

#define access(p, m) ((void)(p), (void)(m), fz_ok())
#define chdir(p) ((void)(p), fz_ok())
#define chmod(p, m) ((void)(p), fz_ok())
#define close(fd) fz_close(fd)
#define dup(fd) fz_dup(fd)
#define dup2(a, b) fz_dup2(a, b)
#define execve(p, a, e) ((void)(p), (void)(a), (void)(e), errno = ENOENT, -1)
#define fcntl(fd, ...) ((void)(fd), fz_ok())
#define fork() fz_fork()
#define ioctl(...) fz_ioctl(__VA_ARGS__)
#define kill(p, s) ((void)(p), (void)(s), fz_ok())
#define mkdir(p, m) ((void)(p), (void)(m), fz_ok())
#define mknod(p, m, d) ((void)(p), (void)(m), (void)(d), fz_ok())
#define mount(s, t, ty, f, d) ((void)(s), (void)(t), (void)(ty), (void)(f), (void)(d), fz_ok())
#define open(...) fz_open(__VA_ARGS__)
#define opendir(p) ((void)(p), errno = ENOENT, (DIR *)NULL)
#define openpty(m, s, n, t, w) fz_openpty(m, s, n, t, w)
#define pipe2(p, f) fz_pipe2(p, f)
#define read(fd, b, n) fz_read(fd, b, n)
#define readlink(p, b, n) ((void)(p), (void)(b), (void)(n), errno = ENOENT, (ssize_t)-1)
#define rmdir(p) ((void)(p), fz_ok())
#define sethostname(n, l) ((void)(n), (void)(l), fz_ok())
#define setgid(g) ((void)(g), fz_ok())
#define setgroups(n, l) ((void)(n), (void)(l), fz_ok())
#define setns(fd, t) ((void)(fd), (void)(t), fz_ok())
#define setsid() fz_ok()
#define setuid(u) ((void)(u), fz_ok())
#define sigprocmask(h, s, o) ((void)(h), (void)(s), (void)(o), fz_ok())
#define stat(p, b) fz_stat(p, b)
#define symlink(a, b) ((void)(a), (void)(b), fz_ok())
#define syscall(...) fz_syscall(__VA_ARGS__)
#define umount2(p, f) ((void)(p), (void)(f), fz_ok())
#define unlink(p) ((void)(p), fz_ok())
#define usleep(u) ((void)(u), fz_ok())
#define waitpid(p, s, o) fz_waitpid(p, s, o)
#define write(fd, b, n) fz_write(fd, b, n)
#define _exit(c) fz_exit(c)

/* frame_parse as called by parse_input: the harness keeps the frame the fake fork's child decodes. */
static int fz_frame_parse(struct frame *f, uint16_t type, uint16_t flags, uint32_t id, uint8_t *body, size_t len)
{
	cur_frame = f;
	return frame_parse(f, type, flags, id, body, len);
}
#define frame_parse fz_frame_parse

#define main agent_main
#include "../../../agent/main.c"
#undef main
#undef frame_parse
#include "../../../agent/container.c"
#include "../../../agent/container_devices.c"
#include "../../../agent/container_exec.c"
#include "../../../agent/container_mounts.c"
#include "../../../agent/container_stats.c"
#include "../../../agent/container_stdio.c"

/* ---- the children's side of CREATE and EXEC, as container_create's and container_exec's children run it ---- */
#define CHILD_ERRFD 3

static void child_exec_common(const struct frame *f)
{
	struct stdio_set s = { .in = { -1, -1 }, .out = { 4, 5 }, .err = { 6, 7 }, .pty = -1, .pts = -1 };
	char *argv[ARGS_MAX], *envp[ARGS_MAX];
	if (split_list(f, "arg", argv, ARGS_MAX) == 0)
		__builtin_trap(); /* the parent checked */
	split_list(f, "env", envp, ARGS_MAX);
	child_stdio(&s, CHILD_ERRFD);
	set_ids(f, CHILD_ERRFD);
	exec_in(argv, envp, CHILD_ERRFD);
}

static void child_of_create(void)
{
	const struct frame *f = cur_frame;
	char root[200], files[200], *mounts[ARGS_MAX];
	snprintf(root, sizeof(root), RUN_DIR "/%s/root", frame_get(f, "cid"));
	snprintf(files, sizeof(files), RUN_DIR "/%s/files", frame_get(f, "cid"));
	split_list(f, "mount", mounts, ARGS_MAX);
	for (char **m = mounts; *m; m++)
		do_mount(*m, root, files, CHILD_ERRFD);
	default_devices(root);
	child_exec_common(f);
}

static void child_of_exec(void) { child_exec_common(cur_frame); }

/* ---- one input ---- */
static const uint8_t *in_p;
static size_t in_n;

static void reset(void)
{
	while (procs)
		proc_free(procs);
	while (containers) {
		struct container *c = containers;
		containers = c->next;
		free(c);
	}
	free(in);
	in = NULL;
	in_len = in_cap = 0;
	free(out.data);
	out = (struct outbuf){ 0 };
	out_sent = 0;
	memset(fd_open, 0, sizeof(fd_open));
	fd_next = pid_next = exits_n = 0;
	cur_frame = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	in_p = data + 1;
	in_n = size - 1;
	uint32_t start = 0;
	if ((mode & 64) && in_n >= 4) {
		memcpy(&start, in_p, 4);
		in_p += 4, in_n -= 4;
	}
	uint8_t poke[5] = { 0 };
	int poking = (mode & 128) && in_n >= 5;
	if (poking) {
		memcpy(poke, in_p + in_n - 5, 5);
		in_n -= 5;
	}
	vc = fz_vchan_reset(start);
	size_t piece = (size_t)1 << ((mode & 15) > 14 ? 14 : (mode & 15));
	int broken = 0;
	while (in_n && !broken) {
		size_t n = fz_peer_write(in_p, in_n < piece ? in_n : piece);
		in_p += n, in_n -= n;
		/* What the poll loop does when the vchan's event comes: read, parse, answer. */
		broken = read_vchan() < 0;
		if (mode & 32) {
			int k = 0;
			for (struct proc *p = procs; p && exits_n < 16; p = p->next, k++)
				if (!p->exited && k == (int)(in_n % 3)) {
					exits[exits_n++] = p->pid;
					break;
				}
			reaping = 1;
			reap();
			reaping = 0;
		}
		if (mode & 16)
			fz_peer_read_all();
		flush_out();
		if (n == 0 && !broken)
			break; /* the ring is full and the agent took nothing: it would wait */
	}
	if (poking && !broken) {
		uint32_t v;
		memcpy(&v, poke + 1, 4);
		fz_peer_poke(poke[0], v);
		if (read_vchan() == 0)
			flush_out();
	}
	reset();
	return 0;
}
