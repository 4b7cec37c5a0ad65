/*
 * vgpu/tests/check.h — the C test programs' one assertion: CHECK(cond, fmt, ...)
 * prints "ok   ..." or "FAIL ..." and counts; main() ends with
 * `return check_summary();`.
 */
#ifndef VGPU_TESTS_CHECK_H
#define VGPU_TESTS_CHECK_H

#include <stdio.h>

static int checks, failures;

#define CHECK(cond, ...)                   \
	do {                               \
		checks++;                  \
		if (cond) {                \
			printf("ok   ");   \
		} else {                   \
			printf("FAIL ");   \
			failures++;        \
		}                          \
		printf(__VA_ARGS__);       \
		printf("\n");              \
	} while (0)

/* Prints the verdict line the test runners read; the exit status. */
static inline int check_summary(void)
{
	printf("%s: %d checks, %d failed\n", failures ? "FAIL" : "PASS", checks, failures);
	return failures ? 1 : 0;
}

#endif
