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

/* Names already reported, so each unsupported function is logged once. */
#define SEEN_MAX 1024
static const char *seen[SEEN_MAX];
static int seen_count;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

CUresult vgpu_unsupported(const char *name)
{
	int first = 1;
	pthread_mutex_lock(&seen_lock);
	for (int i = 0; i < seen_count; i++)
		if (seen[i] == name || !strcmp(seen[i], name)) {
			first = 0;
			break;
		}
	if (first && seen_count < SEEN_MAX)
		seen[seen_count++] = name;
	pthread_mutex_unlock(&seen_lock);
	if (first)
		VGPU_WARN("event=unsupported function=%s result=CUDA_ERROR_NOT_SUPPORTED", name);
	return CUDA_ERROR_NOT_SUPPORTED;
}
