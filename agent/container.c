/*
 * container.c — the pod's containers and their processes (container.h): the
 * lists, and creating, starting, signalling and removing a container.  The
 * parts each step uses are in files of their own (container_private.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container_private.h"

struct proc *procs;
struct container *containers;

struct container *container_find(const char *cid)
{
	for (struct container *c = containers; c; c = c->next)
		if (!strcmp(c->cid, cid))
			return c;
	return NULL;
}

struct proc *proc_find(const char *cid, const char *eid)
{
	for (struct proc *p = procs; p; p = p->next)
		if (!strcmp(p->cid, cid) && !strcmp(p->eid, eid ? eid : ""))
			return p;
	return NULL;
}

struct proc *proc_by_pid(pid_t pid)
{
	for (struct proc *p = procs; p; p = p->next)
		if (p->pid == pid && !p->exited)
			return p;
	return NULL;
}

int fail(char *err, size_t errlen, const char *fmt, const char *a)
{
	snprintf(err, errlen, fmt, a, strerror(errno));
	return -1;
}

int safe_name(const char *s)
{
	if (!s || !*s || strlen(s) > 90 || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (*s == '/')
			return 0;
	return 1;
}

int mkdirs(const char *path, mode_t mode)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
}

int container_create(const struct frame *f, pid_t *pid_out, char *err, size_t errlen)
{
	const char *cid = frame_get(f, "cid");
	if (!safe_name(cid))
		return snprintf(err, errlen, "bad container id"), -1;
	if (container_find(cid))
		return snprintf(err, errlen, "container %s exists", cid), -1;
	char *argv[ARGS_MAX], *envp[ARGS_MAX];
	if (split_list(f, "arg", argv, ARGS_MAX) == 0)
		return snprintf(err, errlen, "container %s: no process arguments", cid), -1;
	split_list(f, "env", envp, ARGS_MAX);
	struct container *c = calloc(1, sizeof(*c));
	snprintf(c->cid, sizeof(c->cid), "%s", cid);
	snprintf(c->dir, sizeof(c->dir), RUN_DIR "/%s", cid);
	if (mkdirs(c->dir, 0700) < 0) {
		free(c);
		return fail(err, errlen, "mkdir %s: %s", RUN_DIR);
	}
	if (mount_rootfs(c, f, err, errlen) < 0) {
		free(c);
		return -1;
	}
	struct stdio_set s;
	int verdict[2] = { -1, -1 }, gate[2] = { -1, -1 };
	if (make_stdio(f, &s, err, errlen) < 0 || pipe2(verdict, O_CLOEXEC) < 0 || pipe2(gate, O_CLOEXEC) < 0) {
		if (!*err)
			snprintf(err, errlen, "pipe: %s", strerror(errno));
		close_stdio(&s);
		unmount_rootfs(c);
		free(c);
		return -1;
	}
	char root[200], files[200];
	snprintf(root, sizeof(root), "%s/root", c->dir);
	snprintf(files, sizeof(files), "%s/files", c->dir);
	/* A fork into new mount, PID, UTS and IPC namespaces: the child is PID 1 of its container. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid < 0) {
		snprintf(err, errlen, "clone: %s", strerror(errno));
		close_stdio(&s);
		unmount_rootfs(c);
		free(c);
		return -1;
	}
	if (pid == 0) {
		int errfd = verdict[1];
		close(verdict[0]);
		close(gate[1]);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			child_die(errfd, "make mounts private");
		char **mounts = calloc(ARGS_MAX, sizeof(char *));
		split_list(f, "mount", mounts, ARGS_MAX);
		for (char **m = mounts; *m; m++)
			do_mount(*m, root, files, errfd);
		default_devices(root);
		char old[260];
		snprintf(old, sizeof(old), "%s/.xen-cri-old", root);
		mkdir(old, 0700);
		if (syscall(SYS_pivot_root, root, old) < 0)
			child_die(errfd, "pivot_root");
		if (chdir("/") < 0 || umount2("/.xen-cri-old", MNT_DETACH) < 0)
			child_die(errfd, "leave the old root");
		rmdir("/.xen-cri-old");
		const char *host = frame_get(f, "hostname");
		if (host && *host)
			sethostname(host, strlen(host));
		child_stdio(&s, errfd);
		set_ids(f, errfd);
		const char *cwd = frame_get(f, "cwd");
		if (cwd && *cwd && chdir(cwd) < 0)
			child_die(errfd, "chdir to the working directory");
		/* Set up: wait at the gate until MSG_START (or the agent closes it: the container is deleted). */
		char go = 0;
		close(errfd);
		if (read(gate[0], &go, 1) != 1 || go != 'S')
			_exit(137);
		close(gate[0]);
		exec_in(argv, envp, 2);
	}
	close(verdict[1]);
	close(gate[0]);
	/* The verdict pipe closes when the child reaches the gate (or writes why it could not). */
	if (read_verdict(verdict[0], err, errlen, "container set-up") < 0) {
		close(gate[1]);
		waitpid(pid, NULL, 0);
		close_stdio(&s);
		unmount_rootfs(c);
		free(c);
		return -1;
	}
	struct proc *p = adopt(cid, "", pid, &s);
	p->start_fd = gate[1];
	c->init = pid;
	c->next = containers;
	containers = c;
	*pid_out = pid;
	return 0;
}

int container_start(const char *cid, char *err, size_t errlen)
{
	/* A START without cid names no container (proc_find would strcmp NULL: found by fuzzing, agent-proto). */
	struct proc *p = cid ? proc_find(cid, "") : NULL;
	if (!p)
		return snprintf(err, errlen, "container %s not found", cid ? cid : "?"), -1;
	if (p->start_fd < 0)
		return snprintf(err, errlen, "container %s was started already", cid), -1;
	char go = 'S';
	ssize_t n = write(p->start_fd, &go, 1);
	close(p->start_fd);
	p->start_fd = -1;
	if (n != 1 && !p->exited)
		return snprintf(err, errlen, "container %s: its process is gone", cid), -1;
	return 0;
}

/* Calls fn for each process in the PID namespace of pid. */
void for_each_in_ns(pid_t init, void (*fn)(pid_t, void *), void *arg)
{
	char path[64], want[64] = "", got[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)init);
	ssize_t n = readlink(path, want, sizeof(want) - 1);
	if (n <= 0)
		return;
	want[n] = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid <= 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
		n = readlink(path, got, sizeof(got) - 1);
		if (n <= 0)
			continue;
		got[n] = 0;
		if (!strcmp(got, want))
			fn(pid, arg);
	}
	closedir(d);
}

static void kill_one(pid_t pid, void *arg) { kill(pid, *(int *)arg); }

int container_signal(const char *cid, const char *eid, int sig, int all, char *err, size_t errlen)
{
	struct proc *p = cid ? proc_find(cid, eid ? eid : "") : NULL;
	if (!p)
		return snprintf(err, errlen, "process %s/%s not found", cid ? cid : "?", eid ? eid : ""), -1;
	if (p->exited)
		return snprintf(err, errlen, "process already finished"), -1;
	if (p->start_fd >= 0 && sig == SIGKILL) {
		/* Never started: closing the gate ends it. */
		close(p->start_fd);
		p->start_fd = -1;
	}
	if (all && !(eid && *eid))
		for_each_in_ns(p->pid, kill_one, &sig);
	if (kill(p->pid, sig) < 0)
		return snprintf(err, errlen, "kill: %s", strerror(errno)), -1;
	return 0;
}

int container_file(const char *cid, const char *name, const void *data, size_t len, char *err, size_t errlen)
{
	if (!safe_name(cid) || !safe_name(name))
		return snprintf(err, errlen, "bad container id or file name"), -1;
	char path[300];
	snprintf(path, sizeof(path), RUN_DIR "/%s/files", cid);
	if (mkdirs(path, 0700) < 0)
		return fail(err, errlen, "mkdir %s: %s", path);
	snprintf(path, sizeof(path), RUN_DIR "/%s/files/%s", cid, name);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(err, errlen, "create %s: %s", path);
	ssize_t n = write(fd, data, len);
	close(fd);
	if (n != (ssize_t)len)
		return fail(err, errlen, "write %s: %s", path);
	return 0;
}

void proc_free(struct proc *p)
{
	for (struct proc **pp = &procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	int fds[] = { p->out_fd, p->err_fd, p->in_fd, p->start_fd };
	for (size_t i = 0; i < 4; i++)
		if (fds[i] >= 0 && !(i == 1 && p->pty >= 0))
			close(fds[i]);
	free(p);
}

int container_delete(const char *cid, char *err, size_t errlen)
{
	struct container *c = cid ? container_find(cid) : NULL;
	if (!c)
		return snprintf(err, errlen, "container %s not found", cid ? cid : "?"), -1;
	struct proc *init = proc_find(cid, "");
	if (init && !init->exited) {
		int sig = SIGKILL;
		for_each_in_ns(init->pid, kill_one, &sig);
		kill(init->pid, SIGKILL);
	}
	for (struct proc *p = procs, *next; p; p = next) {
		next = p->next;
		if (!strcmp(p->cid, cid) && p->exited)
			proc_free(p);
	}
	if (c->mounted)
		unmount_rootfs(c);
	char files[200];
	snprintf(files, sizeof(files), "%s/files", c->dir);
	DIR *d = opendir(files);
	if (d) {
		for (struct dirent *e; (e = readdir(d));) {
			char p[500];
			snprintf(p, sizeof(p), "%s/%s", files, e->d_name);
			unlink(p);
		}
		closedir(d);
		rmdir(files);
	}
	for (struct container **cc = &containers; *cc; cc = &(*cc)->next)
		if (*cc == c) {
			*cc = c->next;
			break;
		}
	free(c);
	return 0;
}
