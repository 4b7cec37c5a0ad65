/*
 * capture.h — which streams are capturing into a graph (api_graph.c keeps
 * the list; the stream queries read it), and graph node handles.
 */
#ifndef VGPU_CAPTURE_H
#define VGPU_CAPTURE_H

#include <stdint.h>
#include <cuda.h>

/* 1 and the capture's id when the wire stream is capturing, else 0. */
int vgpu_capture_of(uint32_t stream, unsigned long long *id);
/* 1 while any stream of the process captures. */
int vgpu_capture_active(void);
/* Request flags carrying the calling thread's capture mode while a capture is active (VGPU_RF_CAPMODE_*). */
uint16_t vgpu_capture_mode_flags(void);

/*
 * A graph node is the proxy's node id under a tag (a value no pointer has), so
 * nodes need no guest object: they live and die with their graph in the proxy,
 * which checks every id it is sent.
 */
#define VGPU_NODE_TAG 0x564e4f44ull /* "VNOD" */
static inline CUgraphNode vgpu_node_handle(uint32_t id)
{
	return (CUgraphNode)(uintptr_t)((VGPU_NODE_TAG << 32) | id);
}
/* 1 and the node's id when h is a node handle, else 0. */
static inline int vgpu_node_id(CUgraphNode h, uint32_t *id)
{
	uint64_t v = (uint64_t)(uintptr_t)h;
	if ((v >> 32) != VGPU_NODE_TAG || (uint32_t)v == 0)
		return 0;
	*id = (uint32_t)v;
	return 1;
}

#endif
