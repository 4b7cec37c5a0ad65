/*
 * common.h — shared helpers of the driver-API test programs.
 *
 * Every program is run as   <program> OUT_DIR [KERNEL_DIR]
 *   OUT_DIR     existing folder that receives the result buffers (binary files)
 *   KERNEL_DIR  folder holding the kernel images (.fatbin/.cubin/.ptx);
 *               default: the folder of the program itself.
 *
 * stdout carries a short deterministic summary (CUresult codes, checksums,
 * stable device facts) that the runner compares between the native driver and
 * libvgpu; anything that may differ between runs (pointers, timings, free
 * memory) goes to stderr or nowhere.  Exit status 0 means every check passed.
 *
 * Include this header first: it defines _GNU_SOURCE for the POSIX and glibc
 * parts (pthread barriers, clock_gettime, dlinfo) under -std=c11.
 */
#ifndef GPU_TEST_COMMON_H
#define GPU_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <cuda.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loaded_libcuda.h"

/* ---- failing ----------------------------------------------------------- */

static inline void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stdout);
    printf("FAIL\n");
    exit(1);
}

static inline const char *cu_name(CUresult r)
{
    const char *name = NULL;
    if (cuGetErrorName(r, &name) != CUDA_SUCCESS || name == NULL)
        return "unknown CUresult";
    return name;
}

static inline void check_cu(CUresult r, const char *call, const char *file, int line)
{
    if (r == CUDA_SUCCESS)
        return;
    const char *desc = NULL;
    if (cuGetErrorString(r, &desc) != CUDA_SUCCESS || desc == NULL)
        desc = "no description";
    die("%s:%d: %s returned %d %s (%s)", file, line, call, (int)r, cu_name(r), desc);
}

/* CHECK(call): the call must return CUDA_SUCCESS, else the program fails. */
#define CHECK(call) check_cu((call), #call, __FILE__, __LINE__)

/* EXPECT(cond, fmt, ...): a result check; fails the program with the message. */
#define EXPECT(cond, ...) \
    do { if (!(cond)) die(__VA_ARGS__); } while (0)

static inline const char *yes_no(int b) { return b ? "yes" : "no"; }

/* ---- memory and files ---------------------------------------------------- */

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);
    if (p == NULL)
        die("out of host memory allocating %zu bytes", n);
    return p;
}

/* Reads a whole file; the buffer has one extra NUL byte so a PTX image is a
 * valid C string. */
static inline unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open %s: %s (build the kernels first, or pass KERNEL_DIR)", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0)
        die("cannot seek %s: %s", path, strerror(errno));
    long len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0)
        die("cannot size %s: %s", path, strerror(errno));
    unsigned char *buf = xmalloc((size_t)len + 1);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len)
        die("short read of %s", path);
    buf[len] = 0;
    fclose(f);
    *size = (size_t)len;
    return buf;
}

static inline void write_file(const char *dir, const char *name, const void *buf, size_t size)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        die("output path too long: %s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        die("cannot create %s: %s (does OUT_DIR exist?)", path, strerror(errno));
    if (size != 0 && fwrite(buf, 1, size, f) != size)
        die("short write to %s: %s", path, strerror(errno));
    if (fclose(f) != 0)
        die("cannot close %s: %s", path, strerror(errno));
}

/* FNV-1a, 64 bit: the checksum printed in the summaries. */
static inline unsigned long long fnv1a64(const void *data, size_t size)
{
    const unsigned char *p = data;
    unsigned long long h = 14695981039346656037ull;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- arguments and kernel images ---------------------------------------- */

struct args {
    const char *out_dir;
    char kernel_dir[4096];
};

static inline struct args parse_args(int argc, char **argv)
{
    /* Line-buffered so a crash still leaves the summary printed so far. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct args a;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s OUT_DIR [KERNEL_DIR]\n", argc > 0 ? argv[0] : "program");
        exit(2);
    }
    a.out_dir = argv[1];
    const char *src = argc == 3 ? argv[2] : argv[0];
    snprintf(a.kernel_dir, sizeof a.kernel_dir, "%s", src);
    if (argc != 3) {
        char *slash = strrchr(a.kernel_dir, '/');
        if (slash != NULL)
            *slash = 0;
        else
            snprintf(a.kernel_dir, sizeof a.kernel_dir, ".");
    }
    print_loaded_libcuda();
    return a;
}

static inline unsigned char *read_kernel_image(const struct args *a, const char *file, size_t *size)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", a->kernel_dir, file);
    return read_file(path, size);
}

/* A kernel image from KERNEL_DIR, loaded as a module (cuModuleLoadData). */
static inline CUmodule load_module(const struct args *a, const char *file)
{
    size_t size = 0;
    unsigned char *image = read_kernel_image(a, file, &size);
    CUmodule mod = NULL;
    CHECK(cuModuleLoadData(&mod, image));
    free(image);
    return mod;
}

/* ---- context ----------------------------------------------------------- */

/* cuInit, device 0, its primary context retained and made current. */
static inline CUcontext setup_primary(CUdevice *dev)
{
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(dev, 0));
    CUcontext ctx = NULL;
    CHECK(cuDevicePrimaryCtxRetain(&ctx, *dev));
    CHECK(cuCtxSetCurrent(ctx));
    return ctx;
}

static inline unsigned int blocks_for(size_t n, unsigned int block)
{
    return (unsigned int)((n + block - 1) / block);
}

#endif /* GPU_TEST_COMMON_H */
