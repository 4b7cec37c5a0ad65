/*
 * loaded_libcuda.h — tell which libcuda.so.1 this process actually loaded.
 *
 * The GPU runners run every program twice, once against the real driver and
 * once against libvgpu.  A run that silently picked up the wrong library would
 * compare the driver with itself and pass, so each program prints
 *
 *     libcuda: <path of the loaded libcuda.so.1>
 *
 * on stderr, and the runner checks that path (see loaded-libcuda.ts).
 *
 * Include after defining _GNU_SOURCE (dlinfo, RTLD_NOLOAD); link with -ldl on
 * glibc older than 2.34.
 */
#ifndef LOADED_LIBCUDA_H
#define LOADED_LIBCUDA_H

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>

static inline void print_loaded_libcuda(void)
{
    /* RTLD_NOLOAD: find the copy the dynamic linker already mapped for the
     * program's DT_NEEDED entry, never load a second one. */
    void *handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    struct link_map *map = NULL;
    if (handle == NULL || dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == NULL) {
        const char *why = dlerror();
        fprintf(stderr, "libcuda: unknown (%s)\n", why != NULL ? why : "no link map");
    } else {
        fprintf(stderr, "libcuda: %s\n", map->l_name);
    }
    if (handle != NULL)
        dlclose(handle);
}

#endif /* LOADED_LIBCUDA_H */
