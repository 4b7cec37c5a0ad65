/*
 * pcopy.h — large memcpys between the application's pageable memory and the
 * arena, split across a few helper threads.
 *
 * Pageable bytes reach the GPU through the arena: one memcpy here, then DMA
 * in the proxy.  One thread's memcpy is slower than the DMA engines and than
 * the driver's own pageable path, so a copy of at least 1 MiB is cut into
 * page-aligned slices that the calling thread and up to VGPU_COPY_THREADS - 1
 * helpers copy at once (default: half the online CPUs, at most 8; 1 turns
 * helpers off).
 */
#ifndef VGPU_PCOPY_H
#define VGPU_PCOPY_H

#include <stddef.h>

/* memcpy(dst, src, n), in parallel when large; the ranges must not overlap. */
void vgpu_pcopy(void *dst, const void *src, size_t n);

#endif
