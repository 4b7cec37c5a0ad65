/* agent-proto.h — the in-memory vchan of the agent-proto fuzz target (agent-proto-vchan.c). */
#ifndef FUZZ_AGENT_PROTO_H
#define FUZZ_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct vchan;
/* A fresh connected channel (the shim attached), both rings' counters at start. */
struct vchan *fz_vchan_reset(uint32_t start);
/* The shim writes: what fits in the agent's read ring; the bytes taken. */
size_t fz_peer_write(const uint8_t *p, size_t n);
/* The shim reads everything the agent wrote. */
void fz_peer_read_all(void);
/* The shim sets a shared counter to anything: 0 left.prod, 1 left.cons, 2 right.cons, 3 right.prod. */
void fz_peer_poke(unsigned field, uint32_t v);

#endif
