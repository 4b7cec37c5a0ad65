/*
 * vgpu_xen.h — the xen transport's rendezvous: how a guest process in a DomU
 * offers its region (vgpu_wire.h, unchanged) to vgpu-proxy in Dom0.
 *
 * The proxy's TypeScript side (proxy/channel/xen-rendezvous.ts) reads these
 * names from this header (test/xen/wire-names.test.ts checks them).
 *
 *   guest (libvgpu, kernel devices only)            Dom0 (vgpu-proxy)
 *   ------------------------------------            -----------------
 *   /dev/xen/gntalloc: region pages, granted to
 *     Dom0 writable; directory pages (the region's
 *     grant refs, in order) granted read-only
 *   /dev/xen/evtchn: an unbound port for Dom0
 *   xenstore (/dev/xen/xenbus), relative to the
 *   guest's home /local/domain/<domid>:
 *     data/vgpu/<chan>/  perms "n<domid>": only
 *        this DomU (and Dom0) can see it
 *       region-pages    N (4 KiB pages)
 *       gref-dir        "r0 r1 ..." dir page refs
 *       event-channel   port
 *       client          program name
 *       state           "offered" (written last)    watch fires on state
 *                                                   maps dir pages read-only, copies the refs,
 *                                                   checks them (count, range, reserved, duplicates),
 *                                                   maps the region with gntdev, checks the layout,
 *                                                   binds the event channel
 *       proxy           "connected <guest id>"   <- written by Dom0
 *                       or "refused <code>: <why>"
 *   ... rings as with shm ...
 *   state "closed", keys removed                    -> session ends, pages unmapped
 *
 * Only domains that Dom0 marked are served: Dom0 writes XEN_CRI_VGPU_KEY
 * (/local/domain/<domid>/xen-cri/vgpu-memory, the guest may read it, not
 * write it) before the domain runs; its value is the pod's device-memory
 * quota in bytes (0: the proxy's default).
 *
 * Wake-ups: both directions go through the one interdomain event channel.
 * The proxy bumps wake_word before notifying, as with shm; the guest's
 * sleeping threads take turns reading the event channel's device.
 *
 * Liveness: both sides ask the kernel to clear a byte and send an event when
 * their mapping goes away (process death included): the guest's gntalloc
 * clears the low byte of guest_state, the proxy's gntdev the low byte of
 * proxy_state; ALIVE (1) becomes ABSENT (0).  A domain that is destroyed
 * takes its xenstore home with it, which the proxy watches.
 */
#ifndef VGPU_XEN_H
#define VGPU_XEN_H

#define VGPU_XS_DIR            "data/vgpu"      /* relative to the guest's home */
#define VGPU_XS_REGION_PAGES   "region-pages"
#define VGPU_XS_GREF_DIR       "gref-dir"
#define VGPU_XS_EVENT_CHANNEL  "event-channel"
#define VGPU_XS_CLIENT         "client"
#define VGPU_XS_STATE          "state"
#define VGPU_XS_PROXY          "proxy"
#define VGPU_XS_STATE_OFFERED  "offered"
#define VGPU_XS_STATE_CLOSED   "closed"
#define VGPU_XS_CONNECTED      "connected"
#define VGPU_XS_REFUSED        "refused"
#define XEN_CRI_VGPU_KEY       "xen-cri/vgpu-memory" /* relative to the guest's home; written by Dom0 */

#define VGPU_XEN_PAGE          4096u
#define VGPU_XEN_REFS_PER_DIR  1024u             /* uint32 grant refs per directory page */
#define VGPU_XEN_RESERVED_REFS 8u                /* refs below this belong to the toolstack (console, xenstore) */

#endif
