/*
 * container_exec.c — starting a program in a container: the child's side
 * (user and groups, PATH search, exec; a failure reported on the verdict
 * pipe), the agent's reading of that verdict, and EXEC, a further process
 * in a running container's namespaces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container_private.h"

/* ---- the process side: runs in the child, reports failures on errfd and exits ---- */

void child_die(int errfd, const char *what)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	if (write(errfd, msg, (size_t)n) < 0)
		_exit(126);
	_exit(126);
}

int split_list(const struct frame *f, const char *key, char **out, int max)
{
	int n = 0;
	for (int i = 0; i < f->nkv && n < max - 1; i++)
		if (!strcmp(f->kv[i].key, key))
			out[n++] = (char *)f->kv[i].value;
	out[n] = NULL;
	return n;
}

/* execve with PATH taken from the process's own environment (as runc does). */
void exec_in(char **argv, char **envp, int errfd)
{
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (char **e = envp; *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
	} else {
		char buf[4096];
		const char *p = path;
		while (*p) {
			const char *end = strchr(p, ':');
			size_t n = end ? (size_t)(end - p) : strlen(p);
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, argv[0]);
			execve(buf, argv, envp);
			p += n + (end ? 1 : 0);
		}
	}
	char what[300];
	snprintf(what, sizeof(what), "exec %s", argv[0]);
	child_die(errfd, what);
}

void set_ids(const struct frame *f, int errfd)
{
	const char *gids = frame_get(f, "gids");
	gid_t list[64];
	int n = 0;
	if (gids && *gids) {
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s", gids);
		for (char *g = strtok(tmp, ","); g && n < 64; g = strtok(NULL, ","))
			list[n++] = (gid_t)strtoul(g, NULL, 10);
	}
	uid_t uid = (uid_t)strtoul(frame_get(f, "uid") ? frame_get(f, "uid") : "0", NULL, 10);
	gid_t gid = (gid_t)strtoul(frame_get(f, "gid") ? frame_get(f, "gid") : "0", NULL, 10);
	if (setgroups((size_t)n, list) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		child_die(errfd, "set user and groups");
}

/* Reads the child's set-up verdict: "" (ok, the pipe closed on exec or at the start gate) or a message. */
int read_verdict(int fd, char *err, size_t errlen, const char *what)
{
	char msg[512];
	ssize_t n;
	do
		n = read(fd, msg, sizeof(msg) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return 0;
	msg[n] = 0;
	snprintf(err, errlen, "%s: %s", what, msg);
	return -1;
}

static int open_ns(pid_t pid, const char *ns)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int container_exec(const struct frame *f, pid_t *pid_out, char *err, size_t errlen)
{
	const char *cid = frame_get(f, "cid"), *eid = frame_get(f, "eid");
	struct container *c = cid ? container_find(cid) : NULL;
	if (!c)
		return snprintf(err, errlen, "container %s not found", cid ? cid : "?"), -1;
	if (!eid || !*eid || proc_find(cid, eid))
		return snprintf(err, errlen, "exec id missing or in use"), -1;
	char *argv[ARGS_MAX], *envp[ARGS_MAX];
	if (split_list(f, "arg", argv, ARGS_MAX) == 0)
		return snprintf(err, errlen, "exec %s: no process arguments", eid), -1;
	split_list(f, "env", envp, ARGS_MAX);
	int mnt = open_ns(c->init, "mnt"), pidns = open_ns(c->init, "pid"), uts = open_ns(c->init, "uts"), ipc = open_ns(c->init, "ipc");
	int self = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (mnt < 0 || pidns < 0 || uts < 0 || ipc < 0 || self < 0) {
		snprintf(err, errlen, "container %s: its namespaces are gone (has it exited?)", cid);
		goto out_err;
	}
	struct stdio_set s;
	int verdict[2];
	if (make_stdio(f, &s, err, errlen) < 0 || pipe2(verdict, O_CLOEXEC) < 0)
		goto out_err;
	/* The agent's next child is born in the container's PID namespace (and stays the agent's child, to be reaped). */
	if (setns(pidns, CLONE_NEWPID) < 0) {
		snprintf(err, errlen, "enter the PID namespace: %s", strerror(errno));
		close_stdio(&s);
		goto out_err;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int errfd = verdict[1];
		close(verdict[0]);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (setns(mnt, CLONE_NEWNS) < 0 || setns(uts, CLONE_NEWUTS) < 0 || setns(ipc, CLONE_NEWIPC) < 0)
			child_die(errfd, "enter the container's namespaces");
		child_stdio(&s, errfd);
		set_ids(f, errfd);
		const char *cwd = frame_get(f, "cwd");
		if (chdir(cwd && *cwd ? cwd : "/") < 0)
			child_die(errfd, "chdir to the working directory");
		exec_in(argv, envp, errfd);
	}
	int e = errno;
	setns(self, CLONE_NEWPID);
	close(verdict[1]);
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(e));
		close(verdict[0]);
		close_stdio(&s);
		goto out_err;
	}
	/* The verdict pipe closes at exec (close-on-exec): nothing read means the program runs. */
	if (read_verdict(verdict[0], err, errlen, "exec") < 0) {
		waitpid(pid, NULL, 0);
		close_stdio(&s);
		goto out_err;
	}
	adopt(cid, eid, pid, &s);
	*pid_out = pid;
	close(mnt), close(pidns), close(uts), close(ipc), close(self);
	return 0;
out_err:
	if (mnt >= 0) close(mnt);
	if (pidns >= 0) close(pidns);
	if (uts >= 0) close(uts);
	if (ipc >= 0) close(ipc);
	if (self >= 0) close(self);
	return -1;
}
