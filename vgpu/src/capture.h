/*
 * capture.h — which streams are capturing into a graph (api_graph.c keeps
 * the list; the stream queries read it).
 */
#ifndef VGPU_CAPTURE_H
#define VGPU_CAPTURE_H

#include <stdint.h>

/* 1 and the capture's id when the wire stream is capturing, else 0. */
int vgpu_capture_of(uint32_t stream, unsigned long long *id);
/* 1 while any stream of the process captures. */
int vgpu_capture_active(void);
/* Request flags carrying the calling thread's capture mode while a capture is active (VGPU_RF_CAPMODE_*). */
uint16_t vgpu_capture_mode_flags(void);

#endif
