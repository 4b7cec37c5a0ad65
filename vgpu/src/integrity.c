/*
 * integrity.c — MD2 (RFC 1319, with the published erratum: the checksum
 * byte is xored, not replaced) and the HMAC over it that answers cudart's
 * integrity check.  See integrity.h for what is hashed and where the facts
 * come from.  Pure code: no CUDA, no state; the caller gathers the inputs.
 */
#include <string.h>

#include "integrity.h"

/* RFC 1319's substitution table: a permutation of 0..255 built from the digits of pi. */
static const uint8_t md2_s[256] = {
	41, 46, 67, 201, 162, 216, 124, 1, 61, 54, 84, 161, 236, 240, 6, 19,
	98, 167, 5, 243, 192, 199, 115, 140, 152, 147, 43, 217, 188, 76, 130, 202,
	30, 155, 87, 60, 253, 212, 224, 22, 103, 66, 111, 24, 138, 23, 229, 18,
	190, 78, 196, 214, 218, 158, 222, 73, 160, 251, 245, 142, 187, 47, 238, 122,
	169, 104, 121, 145, 21, 178, 7, 63, 148, 194, 16, 137, 11, 34, 95, 33,
	128, 127, 93, 154, 90, 144, 50, 39, 53, 62, 204, 231, 191, 247, 151, 3,
	255, 25, 48, 179, 72, 165, 181, 209, 215, 94, 146, 42, 172, 86, 170, 198,
	79, 184, 56, 210, 150, 164, 125, 182, 118, 252, 107, 226, 156, 116, 4, 241,
	69, 157, 112, 89, 100, 113, 135, 32, 134, 91, 207, 101, 230, 45, 168, 2,
	27, 96, 37, 173, 174, 176, 185, 246, 28, 70, 97, 105, 52, 64, 126, 15,
	85, 71, 163, 35, 221, 81, 175, 58, 195, 92, 249, 206, 186, 197, 234, 38,
	44, 83, 13, 110, 133, 40, 132, 9, 211, 223, 205, 244, 65, 129, 77, 82,
	106, 220, 55, 200, 108, 193, 171, 250, 36, 225, 123, 8, 12, 189, 177, 74,
	120, 136, 149, 139, 227, 99, 232, 109, 233, 203, 213, 254, 59, 0, 29, 57,
	242, 239, 183, 14, 102, 88, 208, 228, 166, 119, 114, 248, 235, 117, 75, 10,
	49, 68, 80, 180, 143, 237, 31, 26, 219, 153, 141, 51, 159, 17, 131, 20,
};

void vgpu_md2_init(struct vgpu_md2 *s)
{
	memset(s, 0, sizeof(*s));
}

/* The 18 rounds over X, once a block is complete. */
static void md2_compress(struct vgpu_md2 *s)
{
	uint8_t t = 0;
	for (unsigned j = 0; j < 18; j++) {
		for (unsigned k = 0; k < 48; k++)
			t = s->x[k] ^= md2_s[t];
		t = (uint8_t)(t + j);
	}
}

/*
 * One byte: it goes into the block (and its xor with the state beside it)
 * and into the checksum at once, so a state between blocks is the same
 * whichever way its bytes arrived.
 */
static void md2_byte(struct vgpu_md2 *s, uint8_t b)
{
	unsigned i = s->n;
	s->x[16 + i] = b;
	s->x[32 + i] = b ^ s->x[i];
	s->l = s->c[i] ^= md2_s[b ^ s->l];
	s->n = (uint8_t)((i + 1) & 15);
	if (s->n == 0)
		md2_compress(s);
}

void vgpu_md2_update(struct vgpu_md2 *s, const void *data, size_t len, uint8_t mask)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++)
		md2_byte(s, p[i] ^ mask);
}

void vgpu_md2_final(struct vgpu_md2 *s, uint8_t digest[16])
{
	/* Pad with 1..16 bytes, each the pad's length; then one block of the checksum. */
	uint8_t pad = (uint8_t)(16 - s->n);
	for (unsigned i = 0; i < pad; i++)
		md2_byte(s, pad);
	uint8_t sum[16];
	memcpy(sum, s->c, sizeof(sum));
	vgpu_md2_update(s, sum, sizeof(sum), 0);
	memcpy(digest, s->x, 16);
}

/* The HMAC key (16 bytes, MD2's block size, so used as it is); from ZLUDA's dark_api/src/lib.rs. */
static const uint8_t integrity_key[16] = {
	0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52, 0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f,
};

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void vgpu_integrity_input_bytes(const struct vgpu_integrity_input *in, uint8_t out[48])
{
	/* Laid out explicitly rather than hashed from memory: no padding, no host byte order. */
	put_le(out + 0, in->driver_version, 4);
	put_le(out + 4, in->version, 4);
	put_le(out + 8, in->process, 4);
	put_le(out + 12, in->thread, 4);
	put_le(out + 16, in->cudart_table, 8);
	put_le(out + 24, in->integrity_table, 8);
	put_le(out + 32, in->function, 8);
	put_le(out + 40, in->unix_seconds, 8);
}

void vgpu_integrity_device_bytes(const struct vgpu_integrity_device *dev, uint8_t out[28])
{
	memcpy(out, dev->uuid, 16);
	put_le(out + 16, (uint32_t)dev->pci_domain, 4);
	put_le(out + 20, (uint32_t)dev->pci_bus, 4);
	put_le(out + 24, (uint32_t)dev->pci_device, 4);
}

void vgpu_integrity_answer(const struct vgpu_integrity_input *in, const struct vgpu_integrity_device *devs, unsigned ndevs,
			   uint64_t out[2])
{
	uint8_t msg[48], dev[28], inner[16], digest[16];
	struct vgpu_md2 s;

	/* HMAC: MD2(key ^ opad, MD2(key ^ ipad, message)). */
	vgpu_md2_init(&s);
	vgpu_md2_update(&s, integrity_key, sizeof(integrity_key), 0x36);
	vgpu_integrity_input_bytes(in, msg);
	vgpu_md2_update(&s, msg, sizeof(msg), 0);
	for (unsigned d = 0; d < ndevs; d++) {
		vgpu_integrity_device_bytes(&devs[d], dev);
		vgpu_md2_update(&s, dev, sizeof(dev), 0);
	}
	vgpu_md2_final(&s, inner);

	vgpu_md2_init(&s);
	vgpu_md2_update(&s, integrity_key, sizeof(integrity_key), 0x5c);
	vgpu_md2_update(&s, inner, sizeof(inner), 0);
	vgpu_md2_final(&s, digest);
	out[0] = get_le64(digest);
	out[1] = get_le64(digest + 8);
}
