/*
 * container_mounts.c — a container's file systems: its root (image layers
 * under a writable layer, mounted by the agent) and the mounts of its spec
 * (mounted by its first process, inside the new root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container_private.h"

/* The rootfs: image layers (read-only) under a writable layer, in <dir>/root. */
int mount_rootfs(struct container *c, const struct frame *f, char *err, size_t errlen)
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

void unmount_rootfs(struct container *c)
{
	char p[200];
	static const char *parts[] = { "root", "rw", "lower" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", c->dir, parts[i]);
		umount2(p, MNT_DETACH);
	}
	c->mounted = 0;
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
void do_mount(const char *spec, const char *root, const char *files, int errfd)
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
