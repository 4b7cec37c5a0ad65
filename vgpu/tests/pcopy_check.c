/*
 * pcopy_check.c — vgpu_pcopy against memcpy (for test/vgpu/pcopy.test.ts):
 * sizes around the parallel threshold and slice edges, odd alignments, four
 * threads copying at once (one gets the helpers, the others copy alone), and
 * a forked child that starts helpers of its own.  Prints "pcopy: N copies ok"
 * and exits 0, or names the first wrong copy and exits 1.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy/pcopy.h"

static const size_t SIZES[] = { 0, 1, 4095, (1u << 20) - 1, 1u << 20, (1u << 20) + 1, (3u << 20) + 123, (16u << 20) + 7 };
#define NSIZES (sizeof SIZES / sizeof SIZES[0])
#define MAXN ((16u << 20) + 64)

static uint8_t *src_buf;

static int check(size_t n, size_t src_off, size_t dst_off, uint8_t *dst_buf)
{
	memset(dst_buf, 0xA5, n + dst_off + 16);
	vgpu_pcopy(dst_buf + dst_off, src_buf + src_off, n);
	if (memcmp(dst_buf + dst_off, src_buf + src_off, n) != 0) {
		fprintf(stderr, "pcopy: %zu bytes (src+%zu, dst+%zu) differ from the source\n", n, src_off, dst_off);
		return 0;
	}
	for (size_t i = 0; i < 16; i++)
		if (dst_buf[dst_off + n + i] != 0xA5 || (i < dst_off && dst_buf[i] != 0xA5)) {
			fprintf(stderr, "pcopy: %zu bytes (src+%zu, dst+%zu) wrote outside the destination\n", n, src_off, dst_off);
			return 0;
		}
	return 1;
}

static int run_all(uint8_t *dst_buf)
{
	int ok = 0;
	for (size_t i = 0; i < NSIZES; i++)
		for (size_t a = 0; a < 2; a++) {
			if (!check(SIZES[i], a * 3, a * 5, dst_buf))
				return -1;
			ok++;
		}
	return ok;
}

static void *worker(void *arg)
{
	uint8_t *dst = malloc(MAXN + 32);
	intptr_t ok = dst ? run_all(dst) : -1;
	free(dst);
	*(intptr_t *)arg = ok;
	return NULL;
}

int main(void)
{
	src_buf = malloc(MAXN + 32);
	uint8_t *dst = malloc(MAXN + 32);
	if (!src_buf || !dst)
		return 1;
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < MAXN + 32; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		src_buf[i] = (uint8_t)x;
	}
	int total = run_all(dst);
	if (total < 0)
		return 1;

	pthread_t t[4];
	intptr_t got[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, &got[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (got[i] < 0)
			return 1;
		total += (int)got[i];
	}

	pid_t pid = fork();
	if (pid == 0)
		_exit(run_all(dst) < 0 ? 1 : 0);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pcopy: the forked child's copies failed\n");
		return 1;
	}
	total += (int)(2 * NSIZES);
	printf("pcopy: %d copies ok\n", total);
	return 0;
}
