/*
 * image.h — the size of a module image (cubin ELF, fatbin, fatbin wrapper, or
 * PTX text), found from its own headers.
 */
#ifndef VGPU_IMAGE_H
#define VGPU_IMAGE_H

#include <stddef.h>
#include <stdint.h>

enum vgpu_image_kind { VGPU_IMAGE_TEXT, VGPU_IMAGE_CUBIN, VGPU_IMAGE_FATBIN };

/*
 * Bytes of the image at *image, 0 when it cannot be sized.  A fatbin
 * wrapper is followed: *image then points at the fatbin it wraps.
 */
size_t vgpu_image_size(const void **image, enum vgpu_image_kind *kind);

#endif
