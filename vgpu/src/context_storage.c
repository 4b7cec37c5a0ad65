/*
 * context_storage.c — context-local storage (see context_storage.h).
 *
 * One list for the process, in insertion order, under one lock.  It stays
 * short (one entry per context for each copy of cudart in the process, a
 * handful), and cudart reads it on many runtime calls, so a scan of a few
 * entries under an uncontended mutex is the whole cost.
 */
#include <pthread.h>
#include <stdlib.h>

#include "context_storage.h"
#include "log.h"

struct cls_entry {
	CUcontext ctx;
	void *key;
	void *value;
	vgpu_cls_dtor dtor;
	struct cls_entry *next;
};

static struct cls_entry *cls_head;
static pthread_mutex_t cls_lock = PTHREAD_MUTEX_INITIALIZER;

/* The link that points at (ctx, key)'s entry, or at the list's end. */
static struct cls_entry **cls_find(CUcontext ctx, void *key)
{
	struct cls_entry **link = &cls_head;
	while (*link && ((*link)->ctx != ctx || (*link)->key != key))
		link = &(*link)->next;
	return link;
}

CUresult vgpu_cls_put(CUcontext ctx, void *key, void *value, vgpu_cls_dtor dtor)
{
	struct cls_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->ctx = ctx;
	e->key = key;
	e->value = value;
	e->dtor = dtor;
	pthread_mutex_lock(&cls_lock);
	struct cls_entry **link = cls_find(ctx, key);
	int taken = *link != NULL;
	if (!taken)
		*link = e; /* the end of the list: insertion order is destruction order */
	pthread_mutex_unlock(&cls_lock);
	if (taken)
		free(e);
	return taken ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
}

CUresult vgpu_cls_get(CUcontext ctx, void *key, void **value)
{
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&cls_lock);
	struct cls_entry *e = *cls_find(ctx, key);
	if (e)
		*value = e->value;
	pthread_mutex_unlock(&cls_lock);
	return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult vgpu_cls_delete(CUcontext ctx, void *key)
{
	pthread_mutex_lock(&cls_lock);
	struct cls_entry **link = cls_find(ctx, key), *e = *link;
	if (e)
		*link = e->next;
	pthread_mutex_unlock(&cls_lock);
	free(e);
	return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/*
 * Rounds of destruction: a destructor may store a new value for the dying
 * context (a library re-registering itself); those are destroyed in the
 * next round.  Bounded, so two libraries that keep re-adding each other
 * cannot hold a context teardown forever: what is left after the last
 * round is forgotten without its destructor, and said so.
 */
#define CLS_GONE_ROUNDS 8

void vgpu_cls_context_gone(CUcontext ctx)
{
	for (unsigned round = 0; round <= CLS_GONE_ROUNDS; round++) {
		/* Unlink every entry of ctx, keeping their order, then run them unlocked. */
		struct cls_entry *gone = NULL, **gone_tail = &gone;
		pthread_mutex_lock(&cls_lock);
		for (struct cls_entry **link = &cls_head; *link;) {
			struct cls_entry *e = *link;
			if (e->ctx != ctx) {
				link = &e->next;
				continue;
			}
			*link = e->next;
			e->next = NULL;
			*gone_tail = e;
			gone_tail = &e->next;
		}
		pthread_mutex_unlock(&cls_lock);
		if (!gone)
			return;
		if (round == CLS_GONE_ROUNDS)
			VGPU_WARN("event=context_storage_leftover ctx=%p reason=\"destructors kept storing values for a dying context\"",
				  (void *)ctx);
		while (gone) {
			struct cls_entry *e = gone;
			gone = e->next;
			if (e->dtor && round < CLS_GONE_ROUNDS)
				e->dtor(ctx, e->key, e->value);
			free(e);
		}
	}
}
