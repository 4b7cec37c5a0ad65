/*
 * container.h — the pod's containers inside the pod VM: each one a mount,
 * PID, UTS and IPC namespace of its own over a root file system made of the
 * block devices Dom0 hot-plugged for it (read-only image layers + a writable
 * layer, joined with overlayfs), its processes children of the agent.
 *
 * CREATE keys (proto.h):
 *   cid                       container id
 *   rootfs-ro, rootfs-ro-type block device (xvdb) and its file system (ext4, erofs) of the image layers
 *   rootfs-rw                 block device of the writable layer (ext4)
 *   arg*, env*, cwd, uid, gid, gids (comma list), terminal (0|1), stdin (0|1), hostname
 *   mount*                    TYPE|SOURCE|DEST|OPTIONS; SOURCE file:NAME names a MSG_FILE
 * EXEC keys: cid, eid, arg*, env*, cwd, uid, gid, gids, terminal, stdin
 */
#ifndef AGENT_CONTAINER_H
#define AGENT_CONTAINER_H

#include <stddef.h>
#include <sys/types.h>

#include "proto.h"

struct proc {
	char cid[96];
	char eid[96];
	pid_t pid;
	int out_fd;      /* stdout (or the pty master), -1 once at EOF */
	int err_fd;      /* stderr, -1 without (terminal) */
	int in_fd;       /* stdin's write end, -1 without */
	int pty;         /* the pty master, -1 without */
	int start_fd;    /* container init before MSG_START: its start pipe, else -1 */
	int exited;
	int status;
	struct proc *next;
};

struct container {
	char cid[96];
	char dir[160];   /* /run/xen-cri/c/<cid> */
	pid_t init;
	int mounted;
	struct container *next;
};

extern struct proc *procs;
extern struct container *containers;

struct container *container_find(const char *cid);
struct proc *proc_find(const char *cid, const char *eid);
struct proc *proc_by_pid(pid_t pid);

/* Each returns 0, or -1 with a message in err. */
int container_create(const struct frame *f, pid_t *pid, char *err, size_t errlen);
int container_start(const char *cid, char *err, size_t errlen);
int container_exec(const struct frame *f, pid_t *pid, char *err, size_t errlen);
int container_signal(const char *cid, const char *eid, int sig, int all, char *err, size_t errlen);
int container_file(const char *cid, const char *name, const void *data, size_t len, char *err, size_t errlen);
int container_delete(const char *cid, char *err, size_t errlen);
/* Guest pids of the container's processes, comma-separated into out. */
int container_pids(const char *cid, char *out, size_t cap, char *err, size_t errlen);
/* What the container's processes use: CPU time (their own and their reaped children's) and resident memory. */
struct container_stats {
	unsigned long long user_ns, kernel_ns, rss_bytes;
	unsigned pids;
};
int container_stats(const char *cid, struct container_stats *st, char *err, size_t errlen);
void proc_free(struct proc *p);

#endif
