/*
 * vchan.h — the server end of a libxenvchan channel, with kernel devices only
 * (gntalloc, evtchn, xenbus): the shim in Dom0 connects with Debian's
 * libxenvchan (libxenvchan_client_init), so the wire is libxenvchan's
 * (xen/include/public/io/libxenvchan.h), reproduced here:
 *
 *   page 0 (granted to Dom0):
 *   +-------------------+-------------------+-------------+-------------+---------------------+
 *   | left {cons,prod}  | right {cons,prod} | left_order  | right_order | cli_live srv_live   |
 *   |  client -> server |  server -> client |  u16        |  u16        | cli_notify srv_notify|
 *   +-------------------+-------------------+-------------+-------------+---------------------+
 *   | grants[]: the left ring's pages, then the right ring's (rings of order >= 12)        |
 *
 *   cons/prod: free-running byte counters; the reader owns cons, the writer
 *   prod.  cli_notify: bits the *client* must send an event for (the server
 *   sets them to be told of the client's write 0x1 or read 0x2); srv_notify:
 *   the same for the server.  The side that acts clears the bit and notifies.  cli_live: 2
 *   before the client came, 1 while it is there, 0 once it left (its gntdev
 *   clears the byte when the shim dies).
 *
 * xenstore (written by this side, readable by Dom0 only): <path>/ring-ref,
 * <path>/event-channel.
 */
#ifndef AGENT_VCHAN_H
#define AGENT_VCHAN_H

#include <stddef.h>
#include <stdint.h>

struct vchan;

/* Offers a channel to domain 0 at xenstore path (relative to this domain's home). */
struct vchan *vchan_server(const char *path, int read_order, int write_order, char *err, size_t errlen);
/* The descriptor to poll for events; call vchan_ack after it polled readable. */
int vchan_fd(struct vchan *v);
void vchan_ack(struct vchan *v);
/* Bytes readable now (asks to be told of the peer's next write). */
size_t vchan_readable(struct vchan *v);
/* Bytes writable now (asks to be told of the peer's next read). */
size_t vchan_writable(struct vchan *v);
size_t vchan_read(struct vchan *v, void *buf, size_t len);
size_t vchan_write(struct vchan *v, const void *buf, size_t len);
/* 2: client not yet connected, 1: connected, 0: the client has gone. */
int vchan_client_state(struct vchan *v);
/* -1 when the peer broke the protocol (indices beyond the ring). */
int vchan_broken(struct vchan *v);
void vchan_close(struct vchan *v);

#endif
