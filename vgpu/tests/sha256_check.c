/* sha256_check.c — prints the SHA-256 of stdin as libvgpu computes it (for test/vgpu/sha256.test.ts). */
#include <stdio.h>
#include <stdlib.h>
#include "sha256.h"

int main(void)
{
	size_t cap = 1 << 20, n = 0, got;
	unsigned char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf)
		return 1;
	uint8_t h[32];
	vgpu_sha256(buf, n, h);
	for (int i = 0; i < 32; i++)
		printf("%02x", h[i]);
	printf("\n");
	return 0;
}
