/*
 * memtable.c — what the guest knows of memory without asking: its device
 * allocations (and module globals) and its page-locked host segments, each a
 * sorted array searched by address.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"

struct devmem {
	CUdeviceptr base;
	size_t size;
	struct vgpu_ctx *ctx;
	unsigned long long buffer_id;
	int kind;                 /* VGPU_DEVMEM_* */
};

static pthread_rwlock_t dev_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct devmem *dev;
static size_t dev_n, dev_cap;
static unsigned long long next_buffer_id = 1;

/* Index of the last entry whose base <= p, or -1. */
static long dev_index(CUdeviceptr p)
{
	long lo = 0, hi = (long)dev_n - 1, found = -1;
	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		if (dev[mid].base <= p) {
			found = mid;
			lo = mid + 1;
		} else
			hi = mid - 1;
	}
	return found;
}

void vgpu_devmem_add(CUdeviceptr base, size_t size, struct vgpu_ctx *ctx, int kind)
{
	pthread_rwlock_wrlock(&dev_lock);
	long at = dev_index(base);
	if (at >= 0 && dev[at].base == base) {
		dev[at].size = size;
		dev[at].ctx = ctx;
	} else {
		if (dev_n == dev_cap) {
			size_t cap = dev_cap ? dev_cap * 2 : 256;
			struct devmem *grown = realloc(dev, cap * sizeof(*grown));
			if (!grown) {
				pthread_rwlock_unlock(&dev_lock);
				return; /* Only queries lose this range; copies still work. */
			}
			dev = grown;
			dev_cap = cap;
		}
		size_t pos = (size_t)(at + 1);
		memmove(dev + pos + 1, dev + pos, (dev_n - pos) * sizeof(*dev));
		dev[pos] = (struct devmem){ .base = base, .size = size, .ctx = ctx, .buffer_id = next_buffer_id++, .kind = kind };
		dev_n++;
	}
	pthread_rwlock_unlock(&dev_lock);
}

void vgpu_devmem_remove(CUdeviceptr base)
{
	pthread_rwlock_wrlock(&dev_lock);
	long at = dev_index(base);
	if (at >= 0 && dev[at].base == base) {
		memmove(dev + at, dev + at + 1, (dev_n - (size_t)at - 1) * sizeof(*dev));
		dev_n--;
	}
	pthread_rwlock_unlock(&dev_lock);
}

void vgpu_devmem_remove_range(CUdeviceptr base, size_t size)
{
	pthread_rwlock_wrlock(&dev_lock);
	size_t w = 0;
	for (size_t i = 0; i < dev_n; i++)
		if (dev[i].base + dev[i].size <= base || dev[i].base >= base + size)
			dev[w++] = dev[i];
	dev_n = w;
	pthread_rwlock_unlock(&dev_lock);
}

int vgpu_devmem_find(CUdeviceptr p, CUdeviceptr *base, size_t *size, struct vgpu_ctx **ctx, unsigned long long *buffer_id)
{
	int found = 0;
	pthread_rwlock_rdlock(&dev_lock);
	long at = dev_index(p);
	if (at >= 0 && p < dev[at].base + dev[at].size) {
		found = 1;
		if (base)
			*base = dev[at].base;
		if (size)
			*size = dev[at].size;
		if (ctx)
			*ctx = dev[at].ctx;
		if (buffer_id)
			*buffer_id = dev[at].buffer_id;
	}
	pthread_rwlock_unlock(&dev_lock);
	return found;
}

void vgpu_devmem_drop_ctx(struct vgpu_ctx *ctx)
{
	pthread_rwlock_wrlock(&dev_lock);
	size_t w = 0;
	for (size_t i = 0; i < dev_n; i++)
		if (dev[i].ctx != ctx)
			dev[w++] = dev[i];
	dev_n = w;
	pthread_rwlock_unlock(&dev_lock);
}

/* --- host segments --- */

static pthread_rwlock_t seg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct vgpu_hostseg *segs;
static size_t seg_n, seg_cap;

static long seg_index(const void *p)
{
	long lo = 0, hi = (long)seg_n - 1, found = -1;
	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		if ((const char *)segs[mid].host <= (const char *)p) {
			found = mid;
			lo = mid + 1;
		} else
			hi = mid - 1;
	}
	return found;
}

int vgpu_hostseg_find(const void *p, size_t n, struct vgpu_hostseg *out)
{
	int found = 0;
	pthread_rwlock_rdlock(&seg_lock);
	long at = seg_index(p);
	if (at >= 0) {
		const struct vgpu_hostseg *s = &segs[at];
		size_t off = (size_t)((const char *)p - (const char *)s->host);
		if (off < s->size && n <= s->size - off) {
			*out = *s;
			found = 1;
		}
	}
	pthread_rwlock_unlock(&seg_lock);
	return found;
}

int vgpu_hostseg_add(const struct vgpu_hostseg *seg)
{
	int ok = 0;
	pthread_rwlock_wrlock(&seg_lock);
	if (seg_n == seg_cap) {
		size_t cap = seg_cap ? seg_cap * 2 : 64;
		struct vgpu_hostseg *grown = realloc(segs, cap * sizeof(*grown));
		if (!grown)
			goto out;
		segs = grown;
		seg_cap = cap;
	}
	size_t pos = (size_t)(seg_index(seg->host) + 1);
	memmove(segs + pos + 1, segs + pos, (seg_n - pos) * sizeof(*segs));
	segs[pos] = *seg;
	seg_n++;
	ok = 1;
out:
	pthread_rwlock_unlock(&seg_lock);
	return ok;
}

int vgpu_hostseg_take(const void *host, struct vgpu_hostseg *out)
{
	int found = 0;
	pthread_rwlock_wrlock(&seg_lock);
	long at = seg_index(host);
	if (at >= 0 && segs[at].host == host) {
		*out = segs[at];
		memmove(segs + at, segs + at + 1, (seg_n - (size_t)at - 1) * sizeof(*segs));
		seg_n--;
		found = 1;
	}
	pthread_rwlock_unlock(&seg_lock);
	return found;
}
