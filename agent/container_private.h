/*
 * container_private.h — what the files of the agent's container code share
 * (container.h is what main.c sees):
 *
 *   container.c          the lists; create, start, signal, file, delete
 *   container_mounts.c   the root file system and the spec's mounts
 *   container_devices.c  hot-plugged block devices and /dev's nodes
 *   container_stdio.c    a process's stdio: pipes or a pty
 *   container_exec.c     the child's side of a start, its verdict, and EXEC
 *   container_stats.c    pids and resource use
 *
 * Functions that run in a new container's child report a failure on errfd
 * and exit (child_die); the others return 0, or -1 with a message in err.
 */
#ifndef AGENT_CONTAINER_PRIVATE_H
#define AGENT_CONTAINER_PRIVATE_H

#include <stddef.h>
#include <sys/types.h>

#include "container.h"

#define RUN_DIR "/run/xen-cri/c"
#define ARGS_MAX 256

/* container.c */
/* Formats fmt with a and strerror(errno) into err; -1. */
int fail(char *err, size_t errlen, const char *fmt, const char *a);
/* 1 when s can name a file of one folder (no '/', not "." or ".."), else 0. */
int safe_name(const char *s);
/* mkdir -p. */
int mkdirs(const char *path, mode_t mode);
void for_each_in_ns(pid_t init, void (*fn)(pid_t, void *), void *arg);

/* container_mounts.c */
int mount_rootfs(struct container *c, const struct frame *f, char *err, size_t errlen);
void unmount_rootfs(struct container *c);
void do_mount(const char *spec, const char *root, const char *files, int errfd);

/* container_devices.c */
/* Waits up to 10 s for /dev/<dev> to appear; -1 (ENODEV) when it does not. */
int wait_for_device(const char *dev);
void default_devices(const char *root);

/* container_stdio.c: the two ends of a process's stdio between the fork and the exec. */
struct stdio_set {
	int in[2], out[2], err[2];
	int pty, pts;
};
/* Pipes, or a pty when the frame asks for a terminal. */
int make_stdio(const struct frame *f, struct stdio_set *s, char *err, size_t errlen);
void child_stdio(struct stdio_set *s, int errfd);
struct proc *adopt(const char *cid, const char *eid, pid_t pid, struct stdio_set *s);
void close_stdio(struct stdio_set *s);

/* container_exec.c */
/* In the child: "what: strerror(errno)" on errfd, then exit 126. */
void child_die(int errfd, const char *what);
/* The values of every key in f, in order, NULL-terminated in out (max entries with the NULL); their count. */
int split_list(const struct frame *f, const char *key, char **out, int max);
void exec_in(char **argv, char **envp, int errfd);
/* In the child: uid, gid and gids of the frame. */
void set_ids(const struct frame *f, int errfd);
int read_verdict(int fd, char *err, size_t errlen, const char *what);

#endif
