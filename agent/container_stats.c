/*
 * container_stats.c — what a container's processes are and use: their pids,
 * CPU time and resident memory, read from /proc.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container_private.h"

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
