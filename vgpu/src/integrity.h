/*
 * integrity.h — the answer to cudart's integrity check (export table
 * d4082055-bde6-704b-8d34-ba123c66e1f2, slot 1), computed inside the guest.
 *
 * cudart hands the driver a version and the unix time, and compares the
 * 16 bytes it gets back with its own computation.  The answer is
 * HMAC-MD2 (RFC 2104 over RFC 1319, block size 16) under a fixed key, over
 * the guest's own facts: driver and requested versions, process and thread
 * ids, the addresses of libvgpu's CUDART and integrity tables and of the
 * check function, the time, and each device's UUID and PCI location.  None
 * of it may be forwarded: the addresses and ids are this process's.
 *
 * Facts from ZLUDA (dark_api/src/lib.rs, function integrity_check and its
 * tests; zluda/src/impl/driver.rs for where the inputs come from): the
 * key, the two fixed answers for versions ending in 0 and 1, the input
 * layout, and intermediate states recorded from real runs (our unit test
 * checks them).  That the pieces are MD2 and HMAC is our reading of them:
 * the substitution table is RFC 1319's, the pads 0x36/0x5c RFC 2104's.
 */
#ifndef VGPU_INTEGRITY_H
#define VGPU_INTEGRITY_H

#include <stddef.h>
#include <stdint.h>

/*
 * MD2 state, byte for byte as the reference states of our test are
 * recorded: x is MD2's 48-byte X (x[16..31] the block being filled,
 * x[32..47] its xor with x[0..15]), c the running checksum, n the bytes of
 * the current block so far (0..15), l the last checksum byte written.
 */
struct vgpu_md2 {
	uint8_t x[48];
	uint8_t c[16];
	uint8_t n;
	uint8_t l;
};

void vgpu_md2_init(struct vgpu_md2 *s);
/* Adds len bytes, each xored with mask first (0 for plain data). */
void vgpu_md2_update(struct vgpu_md2 *s, const void *data, size_t len, uint8_t mask);
/* Pads, appends the checksum and writes the 16-byte digest. */
void vgpu_md2_final(struct vgpu_md2 *s, uint8_t digest[16]);

/* What the check hashes, in this order (48 bytes, little-endian). */
struct vgpu_integrity_input {
	uint32_t driver_version;  /* what cuDriverGetVersion answers, e.g. 13000 */
	uint32_t version;         /* the version cudart passed */
	uint32_t process;         /* getpid() */
	uint32_t thread;          /* low 32 bits of pthread_self() */
	uint64_t cudart_table;    /* address of the CUDART_INTERFACE table handed out */
	uint64_t integrity_table; /* address of the INTEGRITY_CHECK table handed out */
	uint64_t function;        /* the check function, as slot 1 of that table holds it */
	uint64_t unix_seconds;    /* the time cudart passed */
};

/* Then, for each device cudart can see (28 bytes each, little-endian). */
struct vgpu_integrity_device {
	uint8_t uuid[16];
	int32_t pci_domain, pci_bus, pci_device;
};

/* The bytes hashed for each, as laid out above. */
void vgpu_integrity_input_bytes(const struct vgpu_integrity_input *in, uint8_t out[48]);
void vgpu_integrity_device_bytes(const struct vgpu_integrity_device *dev, uint8_t out[28]);

/* The 16 bytes cudart expects, as two 64-bit words (little-endian halves). */
void vgpu_integrity_answer(const struct vgpu_integrity_input *in, const struct vgpu_integrity_device *devs, unsigned ndevs,
			   uint64_t out[2]);

#endif
