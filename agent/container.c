/*
 * container.c — creating, starting, entering, signalling and removing the
 * pod's containers (container.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "container.h"

#define RUN_DIR "/run/xen-cri/c"
#define ARGS_MAX 256

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

static int fail(char *err, size_t errlen, const char *fmt, const char *a)
{
	snprintf(err, errlen, fmt, a, strerror(errno));
	return -1;
}

static int safe_name(const char *s)
{
	if (!s || !*s || strlen(s) > 90 || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (*s == '/')
			return 0;
	return 1;
}

static int mkdirs(const char *path, mode_t mode)
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

static int wait_for_device(const char *dev)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/%s", dev);
	for (int i = 0; i < 200; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(50000);
	}
	errno = ENODEV;
	return -1;
}

/* The rootfs: image layers (read-only) under a writable layer, in <dir>/root. */
static int mount_rootfs(struct container *c, const struct frame *f, char *err, size_t errlen)
{
	const char *ro = frame_get(f, "rootfs-ro"), *rw = frame_get(f, "rootfs-rw");
	const char *rotype = frame_get(f, "rootfs-ro-type");
	if (!safe_name(ro) || !safe_name(rw))
		return snprintf(err, errlen, "rootfs-ro and rootfs-rw must name block devices"), -1;
	char lower[200], upperdev[200], root[200], dev[64], opts[700];
	snprintf(lower, sizeof(lower), "%s/lower", c->dir);
	snprintf(upperdev, sizeof(upperdev), "%s/rw", c->dir);
	snprintf(root, sizeof(root), "%s/root", c->dir);
	if (mkdirs(lower, 0700) < 0 || mkdirs(upperdev, 0700) < 0 || mkdirs(root, 0755) < 0)
		return fail(err, errlen, "mkdir %s: %s", c->dir);
	if (wait_for_device(ro) < 0 || wait_for_device(rw) < 0)
		return fail(err, errlen, "block device %s did not appear: %s", wait_for_device(ro) < 0 ? ro : rw);
	snprintf(dev, sizeof(dev), "/dev/%s", ro);
	if (mount(dev, lower, rotype && *rotype ? rotype : "ext4", MS_RDONLY, NULL) < 0)
		return fail(err, errlen, "mount the image layers (%s): %s", dev);
	snprintf(dev, sizeof(dev), "/dev/%s", rw);
	if (mount(dev, upperdev, "ext4", 0, NULL) < 0) {
		umount2(lower, MNT_DETACH);
		return fail(err, errlen, "mount the writable layer (%s): %s", dev);
	}
	snprintf(opts, sizeof(opts), "%s/upper", upperdev);
	mkdir(opts, 0755);
	snprintf(opts, sizeof(opts), "%s/work", upperdev);
	mkdir(opts, 0755);
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, upperdev, upperdev);
	if (mount("overlay", root, "overlay", 0, opts) < 0) {
		umount2(upperdev, MNT_DETACH);
		umount2(lower, MNT_DETACH);
		return fail(err, errlen, "overlay over %s: %s", root);
	}
	c->mounted = 1;
	return 0;
}

static void unmount_rootfs(struct container *c)
{
	char p[200];
	static const char *parts[] = { "root", "rw", "lower" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", c->dir, parts[i]);
		umount2(p, MNT_DETACH);
	}
	c->mounted = 0;
}

/* ---- the process side: runs in the child, reports failures on errfd and exits ---- */

static void child_die(int errfd, const char *what)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	if (write(errfd, msg, (size_t)n) < 0)
		_exit(126);
	_exit(126);
}

struct mount_opt {
	const char *name;
	unsigned long set;
};
static const struct mount_opt mount_opts[] = {
	{ "ro", MS_RDONLY }, { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV }, { "noexec", MS_NOEXEC },
	{ "rbind", MS_BIND | MS_REC }, { "bind", MS_BIND }, { "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
	{ "rw", 0 }, { "private", 0 }, { "rprivate", 0 }, { "slave", 0 }, { "rslave", 0 }, { "shared", 0 }, { "rshared", 0 },
};

/* One mount of the spec, inside the new root: TYPE|SOURCE|DEST|OPTIONS. */
static void do_mount(const char *spec, const char *root, const char *files, int errfd)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", spec);
	char *type = buf, *src = strchr(type, '|');
	if (!src)
		errno = EINVAL, child_die(errfd, "malformed mount");
	*src++ = 0;
	char *dst = strchr(src, '|');
	if (!dst)
		errno = EINVAL, child_die(errfd, "malformed mount");
	*dst++ = 0;
	char *opts = strchr(dst, '|');
	if (opts)
		*opts++ = 0;
	if (dst[0] != '/' || strstr(dst, "/../"))
		errno = EINVAL, child_die(errfd, "mount destination must be absolute");
	unsigned long flags = 0;
	char data[512] = "";
	for (char *o = opts ? strtok(opts, ",") : NULL; o; o = strtok(NULL, ",")) {
		size_t i;
		for (i = 0; i < sizeof(mount_opts) / sizeof(mount_opts[0]); i++)
			if (!strcmp(o, mount_opts[i].name)) {
				flags |= mount_opts[i].set;
				break;
			}
		if (i == sizeof(mount_opts) / sizeof(mount_opts[0]))
			snprintf(data + strlen(data), sizeof(data) - strlen(data), "%s%s", *data ? "," : "", o);
	}
	char target[600], source[300];
	snprintf(target, sizeof(target), "%s%s", root, dst);
	int is_bind = !strcmp(type, "bind");
	struct stat st;
	if (is_bind && !strncmp(src, "file:", 5)) {
		/* A host file the shim copied in (hosts, resolv.conf, hostname ...). */
		snprintf(source, sizeof(source), "%s/%s", files, src + 5);
	} else if (is_bind && !strncmp(src, "guest:/", 7)) {
		/* A path of the pod VM itself (libvgpu, /dev/xen). */
		snprintf(source, sizeof(source), "%s", src + 6);
	} else if (is_bind) {
		errno = EINVAL;
		child_die(errfd, "bind mounts must name a copied file (file:NAME) or a pod VM path (guest:/PATH)");
	} else {
		snprintf(source, sizeof(source), "%s", src);
	}
	if (is_bind && stat(source, &st) < 0)
		child_die(errfd, "bind mount source");
	if (is_bind && !S_ISDIR(st.st_mode)) {
		char dir[600];
		snprintf(dir, sizeof(dir), "%s", target);
		*strrchr(dir, '/') = 0;
		mkdirs(dir, 0755);
		int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	} else {
		mkdirs(target, 0755);
	}
	if (is_bind) {
		if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_die(errfd, "bind mount");
		if ((flags & MS_RDONLY) && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			child_die(errfd, "read-only bind mount");
		return;
	}
	if (!strcmp(type, "cgroup"))
		type = "cgroup2", src = "cgroup2", data[0] = 0;
	if (mount(src, target, type, flags & ~(MS_BIND | MS_REC), *data ? data : NULL) < 0) {
		char what[700];
		snprintf(what, sizeof(what), "mount %s on %s", type, dst);
		child_die(errfd, what);
	}
}

/* The devices every container has (runc's defaults), when its /dev is a fresh tmpfs. */
static void default_devices(const char *root)
{
	static const struct { const char *name; int major, minor; } devs[] = {
		{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	static const struct { const char *name, *to; } links[] = {
		{ "ptmx", "pts/ptmx" }, { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
	};
	char p[600];
	snprintf(p, sizeof(p), "%s/dev", root);
	if (access(p, F_OK) < 0)
		return;
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		snprintf(p, sizeof(p), "%s/dev/%s", root, devs[i].name);
		if (mknod(p, S_IFCHR | 0666, makedev(devs[i].major, devs[i].minor)) == 0)
			chmod(p, 0666);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/dev/%s", root, links[i].name);
		if (symlink(links[i].to, p) < 0 && errno != EEXIST)
			continue;
	}
}

static int split_list(const struct frame *f, const char *key, char **out, int max)
{
	int n = 0;
	for (int i = 0; i < f->nkv && n < max - 1; i++)
		if (!strcmp(f->kv[i].key, key))
			out[n++] = (char *)f->kv[i].value;
	out[n] = NULL;
	return n;
}

/* execve with PATH taken from the process's own environment (as runc does). */
static void exec_in(char **argv, char **envp, int errfd)
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

static void set_ids(const struct frame *f, int errfd)
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

struct stdio_set {
	int in[2], out[2], err[2];
	int pty, pts;
};

static int make_stdio(const struct frame *f, struct stdio_set *s, char *err, size_t errlen)
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
static void child_stdio(struct stdio_set *s, int errfd)
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
static struct proc *adopt(const char *cid, const char *eid, pid_t pid, struct stdio_set *s)
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

static void close_stdio(struct stdio_set *s)
{
	int *all[] = { &s->in[0], &s->in[1], &s->out[0], &s->out[1], &s->err[0], &s->err[1], &s->pty, &s->pts };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (*all[i] >= 0)
			close(*all[i]), *all[i] = -1;
}

/* Reads the child's set-up verdict: "" (ok, the pipe closed on exec or at the start gate) or a message. */
static int read_verdict(int fd, char *err, size_t errlen, const char *what)
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

/* Calls fn for each process in the PID namespace of pid. */
static void for_each_in_ns(pid_t init, void (*fn)(pid_t, void *), void *arg)
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

struct pid_list {
	char *out;
	size_t cap, len;
};

static void add_pid(pid_t pid, void *arg)
{
	struct pid_list *l = arg;
	int n = snprintf(l->out + l->len, l->cap - l->len, "%s%d", l->len ? "," : "", (int)pid);
	if (n > 0 && (size_t)n < l->cap - l->len)
		l->len += (size_t)n;
}

int container_pids(const char *cid, char *out, size_t cap, char *err, size_t errlen)
{
	struct proc *init = cid ? proc_find(cid, "") : NULL;
	out[0] = 0;
	if (!init)
		return snprintf(err, errlen, "container %s not found", cid ? cid : "?"), -1;
	if (init->exited)
		return 0;
	struct pid_list l = { out, cap, 0 };
	add_pid(init->pid, &l);
	for_each_in_ns(init->pid, add_pid, &l);
	return 0;
}

/* Reads a small /proc file of pid into buf (NUL-terminated); its length, or -1. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* A process's resident memory from smaps_rollup (exact; stat's rss field lags behind for small
 * processes, whose counters the kernel batches), or -1. */
static long long rss_of(pid_t pid)
{
	char buf[512];
	if (read_proc(pid, "smaps_rollup", buf, sizeof(buf)) < 0)
		return -1;
	const char *p = strstr(buf, "\nRss:");
	return p ? strtoll(p + 5, NULL, 10) * 1024 : -1;
}

/* Adds one process's /proc/PID/stat figures: utime, stime, cutime, cstime (fields 14-17, clock
 * ticks; the children's are those it reaped, so what ended still counts) and its resident memory. */
static void add_usage(pid_t pid, void *arg)
{
	struct container_stats *st = arg;
	char buf[1024];
	if (read_proc(pid, "stat", buf, sizeof(buf)) < 0)
		return;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (!p)
		return;
	unsigned long long f[25] = { 0 };
	int field = 3;
	for (char *tok = strtok(p + 1, " "); tok && field < 25; tok = strtok(NULL, " "), field++)
		f[field] = strtoull(tok, NULL, 10);
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long tick_ns = hz > 0 ? 1000000000ull / (unsigned long long)hz : 10000000ull;
	st->user_ns += (f[14] + f[16]) * tick_ns;
	st->kernel_ns += (f[15] + f[17]) * tick_ns;
	long long rss = rss_of(pid);
	st->rss_bytes += rss >= 0 ? (unsigned long long)rss : f[24] * (unsigned long long)(page > 0 ? page : 4096);
	st->pids++;
}

int container_stats(const char *cid, struct container_stats *st, char *err, size_t errlen)
{
	struct proc *init = cid ? proc_find(cid, "") : NULL;
	memset(st, 0, sizeof(*st));
	if (!init)
		return snprintf(err, errlen, "container %s not found", cid ? cid : "?"), -1;
	if (init->exited)
		return 0;
	add_usage(init->pid, st);
	for_each_in_ns(init->pid, add_usage, st);
	return 0;
}
