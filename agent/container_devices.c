/*
 * container_devices.c — devices: the block devices Dom0 hot-plugs for a
 * container's root, and the device nodes every container has.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "container_private.h"

int wait_for_device(const char *dev)
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

/* The devices every container has (runc's defaults), when its /dev is a fresh tmpfs. */
void default_devices(const char *root)
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
