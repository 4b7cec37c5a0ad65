/*
 * agent-proto-vchan.c — the agent's real vchan code (agent/vchan.c, included
 * for its private layout) over an in-memory channel, and the peer's side of
 * it for agent-proto.c: the fuzzer writes the shim's bytes and indices.
 */
#include "../../../agent/vchan.c"

#include "agent-proto.h"

/* The Xen devices, replaced (vchan_server, which alone sets up grants and xenstore, is not used). */
int xe_notify(int fd, uint32_t port) { (void)fd, (void)port; return 0; }
int xe_bind_unbound(int fd, uint32_t domid) { (void)fd, (void)domid; return -ENODEV; }
int xg_alloc(int fd, uint16_t domid, int writable, uint32_t count, uint32_t *refs, uint64_t *index)
{
	(void)fd, (void)domid, (void)writable, (void)count, (void)refs, (void)index;
	return -ENODEV;
}
int xg_unmap_notify(int fd, uint64_t byte_index, int clear_byte, int send_event, uint32_t port)
{
	(void)fd, (void)byte_index, (void)clear_byte, (void)send_event, (void)port;
	return -ENODEV;
}
int xs_open(struct xs_conn *c) { (void)c; return -ENODEV; }
void xs_close(struct xs_conn *c) { (void)c; }
int xs_domid(struct xs_conn *c) { (void)c; return -ENODEV; }
int xs_write(struct xs_conn *c, const char *path, const char *value) { (void)c, (void)path, (void)value; return -ENODEV; }
int xs_set_perms(struct xs_conn *c, const char *path, const char *const *perms, int n)
{
	(void)c, (void)path, (void)perms, (void)n;
	return -ENODEV;
}

#define FZ_READ_ORDER 14   /* as agent/main.c offers it */
#define FZ_WRITE_ORDER 16

static uint8_t page[PAGE] __attribute__((aligned(PAGE)));
static uint8_t left[1u << FZ_READ_ORDER], right[1u << FZ_WRITE_ORDER];
static struct vchan chan;

struct vchan *fz_vchan_reset(uint32_t start)
{
	memset(page, 0, sizeof(page));
	chan = (struct vchan){ .gnt_fd = -1, .evt_fd = -1, .ring = (struct vchan_interface *)page };
	chan.rd = (struct ring){ .shr = &chan.ring->left, .buf = left, .size = sizeof(left) };
	chan.wr = (struct ring){ .shr = &chan.ring->right, .buf = right, .size = sizeof(right) };
	chan.ring->left_order = FZ_READ_ORDER;
	chan.ring->right_order = FZ_WRITE_ORDER;
	chan.ring->cli_live = 1;
	chan.ring->srv_live = 1;
	/* Free-running counters may start anywhere: both rings begin at start. */
	chan.ring->left.cons = chan.ring->left.prod = start;
	chan.ring->right.cons = chan.ring->right.prod = start;
	return &chan;
}

size_t fz_peer_write(const uint8_t *p, size_t n)
{
	struct ring_shared *s = &chan.ring->left;
	uint32_t room = chan.rd.size - (s->prod - s->cons);
	if (room > chan.rd.size)
		return 0;
	if (n > room)
		n = room;
	for (size_t i = 0; i < n; i++)
		left[(s->prod + i) & (chan.rd.size - 1)] = p[i];
	s->prod += (uint32_t)n;
	return n;
}

void fz_peer_read_all(void) { chan.ring->right.cons = chan.ring->right.prod; }

void fz_peer_poke(unsigned field, uint32_t v)
{
	switch (field % 4) {
	case 0: chan.ring->left.prod = v; break;
	case 1: chan.ring->left.cons = v; break;
	case 2: chan.ring->right.cons = v; break;
	case 3: chan.ring->right.prod = v; break;
	}
}
