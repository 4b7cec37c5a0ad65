/*
 * sha256.h — SHA-256 of module images, to name them to the proxy's cache.
 */
#ifndef VGPU_SHA256_H
#define VGPU_SHA256_H

#include <stddef.h>
#include <stdint.h>

void vgpu_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
