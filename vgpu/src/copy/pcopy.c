/*
 * pcopy.c — large memcpys split across helper threads (see pcopy.h).
 *
 * The helpers start on the first large copy, block every signal (the
 * application's handlers never run on them), and sleep on a futex between
 * copies.  One copy at a time uses them; a copy that finds them busy copies
 * alone.  A job is published as a 64-bit ticket (generation << 32 | next
 * slice): a slice is claimed by compare-and-swap on the ticket, so a helper
 * that wakes late for a finished job claims nothing of the next one.  The
 * caller waits for its job's last slice before it returns, so the job's
 * fields never change while a claimed slice is being copied.  A forked child
 * has no helpers: it starts its own.
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "pcopy.h"

#define PCOPY_MIN      (1u << 20)
#define SLICE_ALIGN    4096u
#define MAX_THREADS    16
#define DEFAULT_MAX    8
/* The caller spins this long for its helpers' last slices before sleeping. */
#define SPIN_ITERS     20000
/* A helper spins this long for the next piece of the same copy before sleeping (~0.1 ms). */
#define HELPER_SPIN    2000

static struct {
	pthread_mutex_t lock;        /* the helpers serve one copy at a time */
	pthread_once_t once;
	int threads;                 /* caller included; <= 1: no helpers */
	int started;                 /* helpers running in this process */
	uint32_t gen;                /* futex word: bumped for each job */
	uint64_t ticket;             /* gen << 32 | next slice to claim */
	uint32_t left;               /* futex word: slices not yet copied */
	uint8_t *dst;
	const uint8_t *src;
	size_t n, slice;
	uint32_t slices;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT };

static long futex(uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* Claims one slice of job gen and copies it; 0 once none is left. */
static int copy_one(uint32_t gen)
{
	uint64_t t = __atomic_load_n(&pool.ticket, __ATOMIC_ACQUIRE);
	for (;;) {
		if ((uint32_t)(t >> 32) != gen || (uint32_t)t >= pool.slices)
			return 0;
		if (__atomic_compare_exchange_n(&pool.ticket, &t, t + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
	}
	/* Claimed while the job's last slice is still uncopied: its fields are stable until this one is done. */
	size_t i = (uint32_t)t, at = i * pool.slice;
	size_t len = pool.n - at < pool.slice ? pool.n - at : pool.slice;
	memcpy(pool.dst + at, pool.src + at, len);
	if (__atomic_sub_fetch(&pool.left, 1, __ATOMIC_ACQ_REL) == 0)
		futex(&pool.left, FUTEX_WAKE_PRIVATE, INT_MAX);
	return 1;
}

static void *helper(void *arg)
{
	(void)arg;
	uint32_t seen = __atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE);
	for (;;) {
		uint32_t g = __atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE);
		for (int i = 0; g == seen && i < HELPER_SPIN; i++) {
			__builtin_ia32_pause();
			g = __atomic_load_n(&pool.gen, __ATOMIC_ACQUIRE);
		}
		if (g == seen) {
			futex(&pool.gen, FUTEX_WAIT_PRIVATE, seen);
			continue;
		}
		seen = g;
		while (copy_one(g))
			;
	}
	return NULL;
}

static void forget_helpers(void)
{
	/* In a forked child: the helpers were not copied; the lock may have been held by another thread. */
	pthread_mutex_init(&pool.lock, NULL);
	pool.started = 0;
}

static void configure(void)
{
	/* Half the CPUs at most: the application's own threads keep the rest. */
	long half = sysconf(_SC_NPROCESSORS_ONLN) / 2;
	int threads = half < 1 ? 1 : half > DEFAULT_MAX ? DEFAULT_MAX : (int)half;
	const char *v = getenv("VGPU_COPY_THREADS");
	if (v && *v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end == '\0' && n >= 0)
			threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
		else
			VGPU_WARN("event=bad_setting name=VGPU_COPY_THREADS value=%s using=%d (want a whole number, 1 to %d)",
				  v, threads, MAX_THREADS);
	}
	pool.threads = threads;
	pthread_atfork(NULL, NULL, forget_helpers);
}

/* Starts the helpers (under pool.lock); the number running. */
static int start_helpers(void)
{
	if (pool.started > 0 || pool.threads <= 1)
		return pool.started;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < pool.threads - 1; i++) {
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		int err = pthread_create(&t, &attr, helper, NULL);
		pthread_attr_destroy(&attr);
		if (err != 0) {
			VGPU_WARN("event=copy_helpers_short started=%d wanted=%d err=%d", pool.started, pool.threads - 1, err);
			break;
		}
		pool.started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	VGPU_INFO("event=copy_helpers started=%d", pool.started);
	return pool.started;
}

void vgpu_pcopy(void *dst, const void *src, size_t n)
{
	pthread_once(&pool.once, configure);
	if (n < PCOPY_MIN || pool.threads <= 1 || pthread_mutex_trylock(&pool.lock) != 0) {
		memcpy(dst, src, n);
		return;
	}
	int helpers = start_helpers();
	if (helpers == 0) {
		pthread_mutex_unlock(&pool.lock);
		memcpy(dst, src, n);
		return;
	}
	size_t parts = (size_t)helpers + 1;
	size_t slice = (n / parts + SLICE_ALIGN - 1) & ~(size_t)(SLICE_ALIGN - 1);
	pool.dst = dst;
	pool.src = src;
	pool.n = n;
	pool.slice = slice;
	pool.slices = (uint32_t)((n + slice - 1) / slice);
	__atomic_store_n(&pool.left, pool.slices, __ATOMIC_RELAXED);
	uint32_t gen = __atomic_load_n(&pool.gen, __ATOMIC_RELAXED) + 1;
	/* The job's fields, /then/ its ticket, /then/ the generation the helpers wait on. */
	__atomic_store_n(&pool.ticket, (uint64_t)gen << 32, __ATOMIC_RELEASE);
	__atomic_store_n(&pool.gen, gen, __ATOMIC_RELEASE);
	futex(&pool.gen, FUTEX_WAKE_PRIVATE, INT_MAX);
	while (copy_one(gen))
		;
	for (int i = 0; i < SPIN_ITERS && __atomic_load_n(&pool.left, __ATOMIC_ACQUIRE) != 0; i++)
		__builtin_ia32_pause();
	for (uint32_t left; (left = __atomic_load_n(&pool.left, __ATOMIC_ACQUIRE)) != 0;)
		futex(&pool.left, FUTEX_WAIT_PRIVATE, left);
	pthread_mutex_unlock(&pool.lock);
}
