/*
 * context_storage.h — context-local storage: values that a library (cudart
 * and the copies of it inside cuBLAS and cuDNN) keeps per context, each
 * under a key of its choosing, with a destructor the driver runs when the
 * context goes away.  Reached through export table
 * c693336e-1121-df11-a8c3-68f355d89593 (see export_tables.c).
 *
 * Pure guest-side state: nothing here goes to the proxy.  Contexts are
 * opaque pointers to this module; export_tables.c resolves and checks them.
 */
#ifndef VGPU_CONTEXT_STORAGE_H
#define VGPU_CONTEXT_STORAGE_H

#include <cuda.h>

/* Called as dtor(ctx, key, value) when ctx is destroyed or reset. */
typedef void (*vgpu_cls_dtor)(CUcontext ctx, void *key, void *value);

/*
 * Stores value under (ctx, key).  A key already stored is refused with
 * CUDA_ERROR_INVALID_HANDLE and keeps its value, as driver 580 does.
 */
CUresult vgpu_cls_put(CUcontext ctx, void *key, void *value, vgpu_cls_dtor dtor);
/* *value for (ctx, key); CUDA_ERROR_INVALID_HANDLE when there is none. */
CUresult vgpu_cls_get(CUcontext ctx, void *key, void **value);
/* Forgets (ctx, key) without running its destructor; CUDA_ERROR_INVALID_HANDLE when there is none. */
CUresult vgpu_cls_delete(CUcontext ctx, void *key);

/*
 * ctx has gone away (destroy, primary reset, last primary release): runs
 * the destructor of each of its entries, oldest first, then forgets them.
 * Driver 580 runs them once the context is torn down, while it is still
 * the caller's current context; api_context.c calls this at that point.
 * Destructors run without the storage's lock held, so they may use the
 * storage (and the driver) themselves; entries they add for ctx are
 * destroyed too.  The hook api_context.c calls.
 */
void vgpu_cls_context_gone(CUcontext ctx);

#endif
