/*
 * proto.h — the messages between the shim's xen backend (Dom0,
 * shim/sandbox/xen/agent-client.ts) and the guest agent, over the vchan.
 *
 *   frame:  +--------+--------+--------+--------+------------------------------+
 *           | len u32| type   | flags  | id u32 | body: len - 8 bytes          |
 *           | (after | u16    | u16    |        |  key=value\0 ... \0  data... |
 *           |  len)  |        |        |        |  (pairs, an empty one, bytes)|
 *           +--------+--------+--------+--------+------------------------------+
 *   little-endian; len <= AGENT_FRAME_MAX.  Requests carry an id the reply
 *   names; streams and events carry 0.  Keys may repeat (arg, env, mount).
 *
 * The agent trusts the shim (Dom0 is the more privileged side) but checks
 * every frame's shape: a malformed frame ends the connection.
 */
#ifndef AGENT_PROTO_H
#define AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_FRAME_MAX   (1u << 20)
#define AGENT_PROTO_VERSION "1"

enum agent_msg {
	/* shim -> agent: requests, answered by MSG_REPLY with the same id */
	MSG_CREATE = 1,   /* cid, bundle keys (see container.h); the process waits for MSG_START */
	MSG_START = 2,    /* cid */
	MSG_EXEC = 3,     /* cid, eid, process keys; started at once */
	MSG_SIGNAL = 4,   /* cid, eid ("" = init), sig, all=0|1 */
	MSG_STDIN = 5,    /* cid, eid; data (no reply); eof=1 closes it */
	MSG_RESIZE = 6,   /* cid, eid, cols, rows */
	MSG_DELETE = 7,   /* cid: unmounts the rootfs, forgets the container */
	MSG_PIDS = 8,     /* cid -> pids=1,2,... (guest pids) */
	MSG_FILE = 9,     /* cid, name; data: a file the container's mounts name as file:NAME */
	MSG_PING = 10,
	MSG_DELETE_EXEC = 11, /* cid, eid */
	MSG_STATS = 12,   /* cid -> user_ns, kernel_ns (CPU time), rss (bytes), pids (count) */
	/* agent -> shim */
	MSG_REPLY = 100,  /* ok=1, or err=MESSAGE; request-specific keys */
	MSG_OUTPUT = 101, /* cid, eid, fd=1|2; data */
	MSG_EXIT = 102,   /* cid, eid, pid, status (exit code, or 128+signal) */
	MSG_READY = 103,  /* version, booted_ms: the agent is up */
};

struct kv {
	const char *key;
	const char *value;
};

#define KV_MAX 256

struct frame {
	uint16_t type;
	uint16_t flags;
	uint32_t id;
	struct kv kv[KV_MAX];
	int nkv;
	const uint8_t *data;
	size_t data_len;
};

/* Parses body (len bytes, modified in place); 0 or -1 when malformed. */
int frame_parse(struct frame *f, uint16_t type, uint16_t flags, uint32_t id, uint8_t *body, size_t len);
/* The first value of key, or NULL. */
const char *frame_get(const struct frame *f, const char *key);

/* Builds frames: begin, add pairs, add data, then the bytes are buf->data[0..buf->len). */
struct outbuf {
	uint8_t *data;
	size_t len, cap;
};
int ob_begin(struct outbuf *b, uint16_t type, uint32_t id);
int ob_kv(struct outbuf *b, const char *key, const char *value);
int ob_kvf(struct outbuf *b, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ob_end(struct outbuf *b, const void *data, size_t len);

#endif
