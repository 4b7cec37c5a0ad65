/*
 * image.c — how many bytes a module image has.  The driver API passes images
 * as bare pointers; to send one, the guest must know where it ends.
 */
#include <string.h>

#include "image.h"

#define FATBIN_MAGIC 0xBA55ED50u
#define FATBIN_WRAPPER_MAGIC 0x466243b1u
#define MAX_IMAGE ((size_t)1 << 30)

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* An ELF64 file ends with the last of its header tables or section contents. */
static size_t elf_size(const uint8_t *p)
{
	if (p[4] != 2) /* ELFCLASS64 */
		return 0;
	uint64_t phoff = rd64(p + 0x20), shoff = rd64(p + 0x28);
	uint16_t phentsize = rd16(p + 0x36), phnum = rd16(p + 0x38);
	uint16_t shentsize = rd16(p + 0x3A), shnum = rd16(p + 0x3C);
	if (shoff > MAX_IMAGE || phoff > MAX_IMAGE)
		return 0;
	size_t end = max_sz(64, max_sz(phoff + (size_t)phentsize * phnum, shoff + (size_t)shentsize * shnum));
	for (unsigned i = 0; i < shnum && shentsize >= 0x28; i++) {
		const uint8_t *sh = p + shoff + (size_t)i * shentsize;
		uint32_t type = rd32(sh + 4);
		uint64_t off = rd64(sh + 0x18), size = rd64(sh + 0x20);
		if (type != 8 /* SHT_NOBITS */ && off <= MAX_IMAGE && size <= MAX_IMAGE)
			end = max_sz(end, off + size);
	}
	return end <= MAX_IMAGE ? end : 0;
}

size_t vgpu_image_size(const void **image, enum vgpu_image_kind *kind)
{
	const uint8_t *p = *image;
	if (!p)
		return 0;
	uint32_t magic = rd32(p);
	if (magic == FATBIN_WRAPPER_MAGIC) {
		/* The wrapper cudart registers: { int magic; int version; const void *data; void *filename; } */
		const void *data;
		memcpy(&data, p + 8, sizeof(data));
		*image = data;
		return data ? vgpu_image_size(image, kind) : 0;
	}
	if (magic == FATBIN_MAGIC) {
		*kind = VGPU_IMAGE_FATBIN;
		size_t size = (size_t)rd16(p + 6) + rd64(p + 8);
		return size <= MAX_IMAGE ? size : 0;
	}
	if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F') {
		*kind = VGPU_IMAGE_CUBIN;
		return elf_size(p);
	}
	*kind = VGPU_IMAGE_TEXT;
	size_t n = strnlen((const char *)p, MAX_IMAGE);
	return n < MAX_IMAGE ? n + 1 : 0;
}
