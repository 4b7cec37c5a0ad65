/*
 * log.c — libvgpu's diagnostics (see log.h).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int level = -1;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

static void read_level(void)
{
	const char *v = getenv("VGPU_LOG");
	level = VGPU_LOG_WARN;
	if (!v)
		return;
	if (!strcmp(v, "error"))
		level = VGPU_LOG_ERROR;
	else if (!strcmp(v, "info"))
		level = VGPU_LOG_INFO;
	else if (!strcmp(v, "debug"))
		level = VGPU_LOG_DEBUG;
}

int vgpu_log_enabled(enum vgpu_log_level l)
{
	pthread_once(&level_once, read_level);
	return (int)l <= level;
}

void vgpu_log(enum vgpu_log_level l, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	if (!vgpu_log_enabled(l))
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line), "libvgpu: level=%s pid=%d ", names[l], (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line, so lines of different threads do not interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

/*
 * Every unsupported function called, by name, with its count: the first call
 * of each is logged at once (warn), all of them at exit (info), so a run
 * proves what it needed that libvgpu lacks — or that it needed nothing.
 */
#define SEEN_MAX 1024
static struct {
	char *name;
	unsigned long calls;
} seen[SEEN_MAX];
static int seen_count;
static unsigned long seen_dropped; /* calls of names beyond SEEN_MAX */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

CUresult vgpu_unsupported(const char *name)
{
	int first = 1;
	pthread_mutex_lock(&seen_lock);
	for (int i = 0; i < seen_count; i++)
		if (!strcmp(seen[i].name, name)) {
			seen[i].calls++;
			first = 0;
			break;
		}
	if (first) {
		char *copy = seen_count < SEEN_MAX ? strdup(name) : NULL;
		if (copy) {
			seen[seen_count].name = copy;
			seen[seen_count++].calls = 1;
		} else
			seen_dropped++;
	}
	pthread_mutex_unlock(&seen_lock);
	if (first)
		VGPU_WARN("event=unsupported function=\"%s\" result=CUDA_ERROR_NOT_SUPPORTED", name);
	return CUDA_ERROR_NOT_SUPPORTED;
}

/*
 * At exit, with VGPU_LOG=info or more: one line naming every unsupported
 * function the process called and how often ("functions=0" when none), then,
 * where the names do not fit that line, one line each.
 */
__attribute__((destructor)) static void unsupported_summary(void)
{
	if (!vgpu_log_enabled(VGPU_LOG_INFO))
		return;
	pthread_mutex_lock(&seen_lock);
	char list[700];
	size_t n = 0;
	int listed = 0;
	for (int i = 0; i < seen_count; i++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s x%lu", i ? "; " : "", seen[i].name, seen[i].calls);
		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
		listed++;
	}
	list[n] = 0;
	vgpu_log(VGPU_LOG_INFO, "event=unsupported_summary functions=%d%s list=\"%s\"", seen_count + (seen_dropped ? 1 : 0),
		 listed < seen_count ? " truncated=1" : "", list);
	for (int i = listed; i < seen_count; i++)
		vgpu_log(VGPU_LOG_INFO, "event=unsupported_summary_entry function=\"%s\" calls=%lu", seen[i].name, seen[i].calls);
	if (seen_dropped)
		vgpu_log(VGPU_LOG_INFO, "event=unsupported_summary_entry function=\"(more names than libvgpu keeps)\" calls=%lu", seen_dropped);
	pthread_mutex_unlock(&seen_lock);
}
