/*
 * vmm — the virtual memory management API: reservations, physical
 * allocations, mappings and their access flags.
 *
 *   - cuMemGetAllocationGranularity (minimum and recommended) for requested
 *     handle types NONE, POSIX_FILE_DESCRIPTOR and FABRIC|POSIX_FILE_DESCRIPTOR;
 *   - cuMemAddressReserve with the default alignment and with 4 x granularity,
 *     cuMemCreate, cuMemMap, cuMemSetAccess/cuMemGetAccess,
 *     cuMemGetAllocationPropertiesFromHandle, cuMemRetainAllocationHandle;
 *   - one physical allocation at two virtual addresses: a copy in through one
 *     and out through the other, a kernel reading one and writing the other;
 *   - two physical allocations back to back in one reservation: copies,
 *     memsets and device-to-device copies (to and from cuMemAlloc memory)
 *     across the seam, and the second allocation seen alone elsewhere;
 *   - a read-only mapping (only read, never written: a write would fault);
 *   - cuPointerGetAttribute on mapped and on reserved-but-unmapped addresses;
 *   - export to a POSIX file descriptor and import within the process;
 *   - a handle released while still mapped: the memory stays usable;
 *   - error paths (their CUresult codes are printed, the driver's own codes
 *     are the reference): a map onto a freed reservation or onto a mapped
 *     range, offsets beyond the allocation, unmapping half a mapping, a handle
 *     never issued, freeing a reservation with the wrong size, ...;
 *   - teardown: cuMemUnmap, cuMemRelease, cuMemAddressFree.
 *
 * Nothing printed depends on addresses or handle values: only codes, flags,
 * sizes derived from the granularity, yes/no and checksums.
 *
 * Outputs: alias_va1_to_va2.bin, alias_kernel.bin, readonly.bin,
 * two_allocs_copy.bin, two_allocs_memset.bin, two_allocs_dtod.bin,
 * dtod_plain.bin, second_alone.bin, imported.bin, release_early.bin.
 */
#include "common.h"

#include <unistd.h>

#define ADD_C 0x01010101u

static CUfunction g_add;
static size_t g_gran;

static void show(const char *what, CUresult r)
{
    printf("%s: %d %s\n", what, (int)r, cu_name(r));
}

static CUmemAllocationProp device_prop(CUmemAllocationHandleType types)
{
    CUmemAllocationProp p;
    memset(&p, 0, sizeof p);
    p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    p.requestedHandleTypes = types;
    p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    p.location.id = 0;
    return p;
}

static CUmemLocation device0(void)
{
    CUmemLocation l;
    memset(&l, 0, sizeof l);
    l.type = CU_MEM_LOCATION_TYPE_DEVICE;
    l.id = 0;
    return l;
}

static CUresult set_access(CUdeviceptr va, size_t size, CUmemAccess_flags flags)
{
    CUmemAccessDesc d;
    memset(&d, 0, sizeof d);
    d.location = device0();
    d.flags = flags;
    return cuMemSetAccess(va, size, &d, 1);
}

/* "<code> <name>, flags <f>" (the flags only when the call succeeded). */
static void print_access(const char *what, CUdeviceptr va)
{
    CUmemLocation l = device0();
    unsigned long long flags = 0;
    CUresult r = cuMemGetAccess(&flags, &l, va);
    if (r == CUDA_SUCCESS)
        printf("%s: cuMemGetAccess %d %s, flags %llu\n", what, (int)r, cu_name(r), flags);
    else
        printf("%s: cuMemGetAccess %d %s\n", what, (int)r, cu_name(r));
}

static CUdeviceptr reserve(size_t size, size_t alignment)
{
    CUdeviceptr va = 0;
    CHECK(cuMemAddressReserve(&va, size, alignment, 0, 0));
    EXPECT(va != 0, "cuMemAddressReserve gave address 0");
    return va;
}

static CUmemGenericAllocationHandle create(size_t size, CUmemAllocationHandleType types)
{
    CUmemAllocationProp p = device_prop(types);
    CUmemGenericAllocationHandle h = 0;
    CHECK(cuMemCreate(&h, size, &p, 0));
    return h;
}

/* Maps the whole of h at va and makes it read-write for device 0. */
static void map_rw(CUdeviceptr va, size_t size, CUmemGenericAllocationHandle h)
{
    CHECK(cuMemMap(va, size, 0, h, 0));
    CHECK(set_access(va, size, CU_MEM_ACCESS_FLAGS_PROT_READWRITE));
}

static void fill_pattern(unsigned int *p, size_t n, unsigned int seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned int)i * 2654435761u ^ seed;
}

static void fill_u32(unsigned char *p, size_t words, unsigned int v)
{
    for (size_t i = 0; i < words; i++)
        memcpy(p + 4 * i, &v, 4);
}

static void launch_add(CUdeviceptr dst, CUdeviceptr src, unsigned int n, unsigned int c)
{
    void *params[] = { &dst, &src, &n, &c };
    CHECK(cuLaunchKernel(g_add, blocks_for(n, 256), 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    CHECK(cuCtxSynchronize());
}

static int is_pow2(size_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* ---- 1. granularity ------------------------------------------------------ */

static void query_granularity(void)
{
    static const struct {
        const char *name;
        unsigned int types;
    } kinds[] = {
        { "NONE", CU_MEM_HANDLE_TYPE_NONE },
        { "POSIX_FILE_DESCRIPTOR", CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR },
        { "FABRIC|POSIX_FILE_DESCRIPTOR", CU_MEM_HANDLE_TYPE_FABRIC | CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR },
    };
    static const struct {
        const char *name;
        CUmemAllocationGranularity_flags flag;
    } options[] = {
        { "minimum", CU_MEM_ALLOC_GRANULARITY_MINIMUM },
        { "recommended", CU_MEM_ALLOC_GRANULARITY_RECOMMENDED },
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        CUmemAllocationProp p = device_prop((CUmemAllocationHandleType)kinds[k].types);
        for (size_t o = 0; o < sizeof options / sizeof options[0]; o++) {
            size_t g = 0;
            CUresult r = cuMemGetAllocationGranularity(&g, &p, options[o].flag);
            if (r == CUDA_SUCCESS)
                printf("granularity %s, handle types %s: %d %s, %zu bytes\n", options[o].name, kinds[k].name, (int)r,
                       cu_name(r), g);
            else
                printf("granularity %s, handle types %s: %d %s\n", options[o].name, kinds[k].name, (int)r, cu_name(r));
            if (k == 0) {
                check_cu(r, "cuMemGetAllocationGranularity(NONE)", __FILE__, __LINE__);
                EXPECT(is_pow2(g), "granularity %s is %zu, not a power of two", options[o].name, g);
                if (o == 0)
                    g_gran = g;
            }
        }
    }
}

/* ---- 2. reservations, a physical allocation, mapping, access, properties -- */

struct main_objects {
    CUmemGenericAllocationHandle h; /* 2 x granularity, handle types NONE */
    size_t size;
    CUdeviceptr va1;                /* default alignment, read-write */
    CUdeviceptr va2;                /* aligned to 4 x granularity, read-write */
    CUdeviceptr va3;                /* read-only (if the driver allows it) */
    int ro_mapped;
    unsigned int *expect;           /* what h holds now */
};

static void check_handle_at(const char *what, CUdeviceptr addr, CUmemGenericAllocationHandle h)
{
    CUmemGenericAllocationHandle r = 0;
    CHECK(cuMemRetainAllocationHandle(&r, (void *)(uintptr_t)addr));
    printf("%s: cuMemRetainAllocationHandle same handle %s\n", what, yes_no(r == h));
    EXPECT(r == h, "%s: cuMemRetainAllocationHandle returned another handle", what);
    CHECK(cuMemRelease(r));
}

static void basics(struct main_objects *m)
{
    const size_t g = g_gran;
    m->size = 2 * g;
    m->va1 = reserve(m->size, 0);
    m->va2 = reserve(m->size, 4 * g);
    printf("reserve 2 x granularity, alignment 0: aligned to granularity %s\n", yes_no(m->va1 % g == 0));
    printf("reserve 2 x granularity, alignment 4 x granularity: aligned %s\n", yes_no(m->va2 % (4 * g) == 0));
    EXPECT(m->va1 % g == 0, "a reservation with default alignment is not aligned to the granularity");
    EXPECT(m->va2 % (4 * g) == 0, "a reservation asked for 4 x granularity alignment is not aligned");
    EXPECT(m->va1 + m->size <= m->va2 || m->va2 + m->size <= m->va1, "two reservations overlap");

    m->h = create(m->size, CU_MEM_HANDLE_TYPE_NONE);
    CHECK(cuMemMap(m->va1, m->size, 0, m->h, 0));
    printf("cuMemCreate 2 x granularity and cuMemMap: ok\n");
    print_access("mapped, before cuMemSetAccess", m->va1);
    CHECK(set_access(m->va1, m->size, CU_MEM_ACCESS_FLAGS_PROT_READWRITE));
    print_access("after cuMemSetAccess READWRITE, start", m->va1);
    print_access("after cuMemSetAccess READWRITE, inside", m->va1 + g + 100);

    CUmemAllocationProp p;
    memset(&p, 0, sizeof p);
    CHECK(cuMemGetAllocationPropertiesFromHandle(&p, m->h));
    printf("properties: type %d, location type %d id %d, requested handle types %d\n", (int)p.type,
           (int)p.location.type, p.location.id, (int)p.requestedHandleTypes);
    EXPECT(p.type == CU_MEM_ALLOCATION_TYPE_PINNED && p.location.type == CU_MEM_LOCATION_TYPE_DEVICE &&
               p.location.id == 0 && p.requestedHandleTypes == CU_MEM_HANDLE_TYPE_NONE,
           "cuMemGetAllocationPropertiesFromHandle does not give back the properties of cuMemCreate");
    check_handle_at("first mapping, inside", m->va1 + g + 4096, m->h);
}

/* ---- 3. one physical allocation at two virtual addresses ------------------ */

static void aliases(const struct args *args, struct main_objects *m)
{
    const size_t bytes = m->size, n = bytes / 4;
    map_rw(m->va2, bytes, m->h);
    check_handle_at("second mapping, start", m->va2, m->h);

    unsigned int *pat = xmalloc(bytes), *back = xmalloc(bytes);
    fill_pattern(pat, n, 0x5EED0001u);
    CHECK(cuMemcpyHtoD(m->va1, pat, bytes));
    memset(back, 0, bytes);
    CHECK(cuMemcpyDtoH(back, m->va2, bytes));
    int same = memcmp(back, pat, bytes) == 0;
    printf("alias: written through VA1, read through VA2: same %s %016llx\n", yes_no(same), fnv1a64(back, bytes));
    EXPECT(same, "bytes written through one mapping do not show through the other");
    write_file(args->out_dir, "alias_va1_to_va2.bin", back, bytes);

    /* The kernel reads through VA1 and writes through VA2: the same words. */
    launch_add(m->va2, m->va1, (unsigned int)n, ADD_C);
    for (size_t i = 0; i < n; i++)
        m->expect[i] = pat[i] + ADD_C;
    memset(back, 0, bytes);
    CHECK(cuMemcpyDtoH(back, m->va1, bytes));
    same = memcmp(back, m->expect, bytes) == 0;
    printf("alias: kernel read VA1, wrote VA2, read back through VA1: right %s %016llx\n", yes_no(same),
           fnv1a64(back, bytes));
    EXPECT(same, "a kernel's writes through one mapping do not show through the other");
    write_file(args->out_dir, "alias_kernel.bin", back, bytes);
    free(pat);
    free(back);
}

/* ---- 5. a read-only mapping ------------------------------------------------ */

static void read_only(const struct args *args, struct main_objects *m)
{
    const size_t bytes = m->size;
    m->va3 = reserve(bytes, 0);
    CHECK(cuMemMap(m->va3, bytes, 0, m->h, 0));
    CUresult r = set_access(m->va3, bytes, CU_MEM_ACCESS_FLAGS_PROT_READ);
    show("read-only mapping: cuMemSetAccess READ", r);
    m->ro_mapped = 1;
    print_access("read-only mapping", m->va3);
    print_access("read-write mapping of the same allocation", m->va1);
    if (r != CUDA_SUCCESS)
        return;
    unsigned int *back = xmalloc(bytes);
    memset(back, 0, bytes);
    CHECK(cuMemcpyDtoH(back, m->va3, bytes));
    int same = memcmp(back, m->expect, bytes) == 0;
    printf("read-only mapping: cuMemcpyDtoH right %s %016llx\n", yes_no(same), fnv1a64(back, bytes));
    EXPECT(same, "the read-only mapping does not show the allocation's bytes");
    write_file(args->out_dir, "readonly.bin", back, bytes);
    free(back);
}

/* ---- 6. pointer attributes ------------------------------------------------- */

static void print_pointer(const char *what, CUdeviceptr p)
{
    unsigned int type = 0;
    int ordinal = -1;
    unsigned long long mapped = 0; /* a bool: zeroed, wide enough */
    CUresult rt = cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p);
    CUresult ro = cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, p);
    CUresult rm = cuPointerGetAttribute(&mapped, CU_POINTER_ATTRIBUTE_MAPPED, p);
    char vt[32] = "-", vo[32] = "-", vm[32] = "-";
    if (rt == CUDA_SUCCESS)
        snprintf(vt, sizeof vt, "%u", type);
    if (ro == CUDA_SUCCESS)
        snprintf(vo, sizeof vo, "%d", ordinal);
    if (rm == CUDA_SUCCESS)
        snprintf(vm, sizeof vm, "%llu", mapped);
    printf("pointer %s: MEMORY_TYPE %d %s %s, DEVICE_ORDINAL %d %s %s, MAPPED %d %s %s\n", what, (int)rt,
           cu_name(rt), vt, (int)ro, cu_name(ro), vo, (int)rm, cu_name(rm), vm);
}

static void pointer_attributes(const struct main_objects *m)
{
    print_pointer("VA1 start", m->va1);
    print_pointer("VA1 inside", m->va1 + g_gran + 12);
    print_pointer("VA2 start", m->va2);
    if (m->ro_mapped)
        print_pointer("read-only mapping", m->va3);
    unsigned int type = 0;
    CHECK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, m->va1));
    EXPECT(type == CU_MEMORYTYPE_DEVICE, "a mapped VMM address has memory type %u", type);
    CUdeviceptr unmapped = reserve(g_gran, 0);
    print_pointer("reserved, not mapped", unmapped);
    CHECK(cuMemAddressFree(unmapped, g_gran));
}

/* ---- 4. two physical allocations back to back ------------------------------ */

static void back_to_back(const struct args *args)
{
    const size_t g = g_gran, total = 3 * g;
    CUmemGenericAllocationHandle ha = create(g, CU_MEM_HANDLE_TYPE_NONE);
    CUmemGenericAllocationHandle hb = create(2 * g, CU_MEM_HANDLE_TYPE_NONE);
    CUdeviceptr vb = reserve(total, 0);
    CHECK(cuMemMap(vb, g, 0, ha, 0));
    CHECK(cuMemMap(vb + g, 2 * g, 0, hb, 0));
    /* One cuMemSetAccess over both mappings. */
    CHECK(set_access(vb, total, CU_MEM_ACCESS_FLAGS_PROT_READWRITE));
    print_access("two allocations: first", vb);
    print_access("two allocations: second", vb + g);
    check_handle_at("two allocations: first", vb + g - 4, ha);
    check_handle_at("two allocations: second", vb + g, hb);

    unsigned char *model = xmalloc(total), *back = xmalloc(total);

    /* A memset over both, then one odd-sized copy in across the seam. */
    CHECK(cuMemsetD32(vb, 0x11223344u, total / 4));
    fill_u32(model, total / 4, 0x11223344u);
    const size_t off = g / 2 + 3, len = g + 1001;
    unsigned char *src = xmalloc(len);
    for (size_t i = 0; i < len; i++)
        src[i] = (unsigned char)(i * 31u + 7u);
    CHECK(cuMemcpyHtoD(vb + off, src, len));
    memcpy(model + off, src, len);
    memset(back, 0, total);
    CHECK(cuMemcpyDtoH(back, vb, total));
    int same = memcmp(back, model, total) == 0;
    printf("two allocations: memset + copy across the seam: right %s %016llx\n", yes_no(same), fnv1a64(back, total));
    EXPECT(same, "a copy across two physical allocations in one reservation came back wrong");
    write_file(args->out_dir, "two_allocs_copy.bin", back, total);

    /* A memset of 128 words across the seam. */
    CHECK(cuMemsetD32(vb + g - 256, 0xCAFEF00Du, 128));
    fill_u32(model + g - 256, 128, 0xCAFEF00Du);
    const size_t win = 8192;
    memset(back, 0, win);
    CHECK(cuMemcpyDtoH(back, vb + g - win / 2, win));
    same = memcmp(back, model + g - win / 2, win) == 0;
    printf("two allocations: cuMemsetD32 across the seam: right %s %016llx\n", yes_no(same), fnv1a64(back, win));
    EXPECT(same, "a memset across two physical allocations came back wrong");
    write_file(args->out_dir, "two_allocs_memset.bin", back, win);

    /* Device to device: across the seam into cuMemAlloc memory, and back across it elsewhere. */
    const size_t dlen = 10000;
    CUdeviceptr plain;
    CHECK(cuMemAlloc(&plain, dlen));
    CHECK(cuMemsetD8(plain, 0, dlen));
    CHECK(cuMemcpyDtoD(plain, vb + g - 5000, dlen));
    unsigned char *pback = xmalloc(dlen);
    CHECK(cuMemcpyDtoH(pback, plain, dlen));
    same = memcmp(pback, model + g - 5000, dlen) == 0;
    printf("two allocations: cuMemcpyDtoD to cuMemAlloc memory: right %s %016llx\n", yes_no(same),
           fnv1a64(pback, dlen));
    EXPECT(same, "cuMemcpyDtoD from VMM memory into cuMemAlloc memory came back wrong");
    write_file(args->out_dir, "dtod_plain.bin", pback, dlen);
    CHECK(cuMemsetD32(plain, 0x0BADC0DEu, dlen / 4));
    fill_u32(pback, dlen / 4, 0x0BADC0DEu);
    CHECK(cuMemcpyDtoD(vb + g - 3333, plain, dlen));
    memcpy(model + g - 3333, pback, dlen);
    memset(back, 0, total);
    CHECK(cuMemcpyDtoH(back, vb, total));
    same = memcmp(back, model, total) == 0;
    printf("two allocations: cuMemcpyDtoD from cuMemAlloc memory: right %s %016llx\n", yes_no(same),
           fnv1a64(back, total));
    EXPECT(same, "cuMemcpyDtoD from cuMemAlloc memory into VMM memory came back wrong");
    write_file(args->out_dir, "two_allocs_dtod.bin", back, total);

    /* The second allocation alone, at another reservation, holds the bytes past the seam. */
    CUdeviceptr vc = reserve(2 * g, 0);
    map_rw(vc, 2 * g, hb);
    memset(back, 0, 2 * g);
    CHECK(cuMemcpyDtoH(back, vc, 2 * g));
    same = memcmp(back, model + g, 2 * g) == 0;
    printf("two allocations: the second alone through another reservation: same %s %016llx\n", yes_no(same),
           fnv1a64(back, 2 * g));
    EXPECT(same, "the second physical allocation mapped alone does not hold the bytes written past the seam");
    write_file(args->out_dir, "second_alone.bin", back, 2 * g);

    CHECK(cuMemUnmap(vc, 2 * g));
    CHECK(cuMemUnmap(vb, g));
    CHECK(cuMemUnmap(vb + g, 2 * g));
    CHECK(cuMemRelease(ha));
    CHECK(cuMemRelease(hb));
    CHECK(cuMemAddressFree(vc, 2 * g));
    CHECK(cuMemAddressFree(vb, total));
    CHECK(cuMemFree(plain));
    free(model);
    free(back);
    free(src);
    free(pback);
}

/* ---- 7. export to a file descriptor, import in the same process ------------ */

static void export_import(const struct args *args, CUdevice dev)
{
    int supported = 0;
    CHECK(cuDeviceGetAttribute(&supported, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, dev));
    if (!supported) {
        printf("export/import: POSIX file descriptors not supported, skipped\n");
        return;
    }
    const size_t g = g_gran, n = g / 4;
    CUmemGenericAllocationHandle hx = create(g, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    CUmemAllocationProp p;
    memset(&p, 0, sizeof p);
    CHECK(cuMemGetAllocationPropertiesFromHandle(&p, hx));
    printf("exportable allocation: requested handle types %d\n", (int)p.requestedHandleTypes);
    CUdeviceptr vx = reserve(g, 0);
    map_rw(vx, g, hx);
    unsigned int *pat = xmalloc(g), *back = xmalloc(g);
    fill_pattern(pat, n, 0xF00DF00Du);
    CHECK(cuMemcpyHtoD(vx, pat, g));

    int fd = -1;
    CUresult r = cuMemExportToShareableHandle(&fd, hx, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
    printf("cuMemExportToShareableHandle POSIX_FILE_DESCRIPTOR: %d %s, fd valid %s\n", (int)r, cu_name(r),
           yes_no(r == CUDA_SUCCESS && fd >= 0));
    check_cu(r, "cuMemExportToShareableHandle", __FILE__, __LINE__);
    CUmemGenericAllocationHandle h2 = 0;
    r = cuMemImportFromShareableHandle(&h2, (void *)(uintptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    show("cuMemImportFromShareableHandle POSIX_FILE_DESCRIPTOR", r);
    check_cu(r, "cuMemImportFromShareableHandle", __FILE__, __LINE__);
    EXPECT(close(fd) == 0, "close of the exported file descriptor: %s", strerror(errno));
    memset(&p, 0, sizeof p);
    CHECK(cuMemGetAllocationPropertiesFromHandle(&p, h2));
    printf("imported allocation: type %d, location type %d id %d, requested handle types %d\n", (int)p.type,
           (int)p.location.type, p.location.id, (int)p.requestedHandleTypes);

    CUdeviceptr vy = reserve(g, 0);
    map_rw(vy, g, h2);
    memset(back, 0, g);
    CHECK(cuMemcpyDtoH(back, vy, g));
    int same = memcmp(back, pat, g) == 0;
    printf("imported allocation shows the exported one's bytes: %s %016llx\n", yes_no(same), fnv1a64(back, g));
    EXPECT(same, "the imported allocation does not hold the bytes written through the exported one");
    /* And the other way: a kernel through the import, read through the original. */
    launch_add(vy, vy, (unsigned int)n, ADD_C);
    CHECK(cuMemcpyDtoH(back, vx, g));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += back[i] != pat[i] + ADD_C;
    printf("kernel through the import, read through the original: right %s\n", yes_no(bad == 0));
    EXPECT(bad == 0, "%zu of %zu words written through the import are wrong through the original", bad, n);
    write_file(args->out_dir, "imported.bin", back, g);

    CHECK(cuMemUnmap(vy, g));
    CHECK(cuMemUnmap(vx, g));
    CHECK(cuMemRelease(h2));
    CHECK(cuMemRelease(hx));
    CHECK(cuMemAddressFree(vy, g));
    CHECK(cuMemAddressFree(vx, g));
    free(pat);
    free(back);
}

/* ---- a handle released while mapped --------------------------------------- */

static void release_while_mapped(const struct args *args)
{
    const size_t g = g_gran;
    CUmemGenericAllocationHandle h = create(g, CU_MEM_HANDLE_TYPE_NONE);
    CUdeviceptr va = reserve(g, 0);
    map_rw(va, g, h);
    CHECK(cuMemRelease(h));
    CHECK(cuMemsetD32(va, 0x600DF00Du, g / 4));
    unsigned char *back = xmalloc(g), *want = xmalloc(g);
    fill_u32(want, g / 4, 0x600DF00Du);
    CHECK(cuMemcpyDtoH(back, va, g));
    int same = memcmp(back, want, g) == 0;
    printf("released while mapped: still usable %s %016llx\n", yes_no(same), fnv1a64(back, g));
    EXPECT(same, "memory whose handle was released while mapped came back wrong");
    write_file(args->out_dir, "release_early.bin", back, g);
    CHECK(cuMemUnmap(va, g));
    CHECK(cuMemAddressFree(va, g));
    free(back);
    free(want);
}

/* ---- 8. error paths -------------------------------------------------------- */

static void error_paths(struct main_objects *m)
{
    const size_t g = g_gran;
    CUresult r;

    /* cuMemMap where nothing is reserved (any more). */
    CUdeviceptr freed = reserve(2 * g, 0);
    CHECK(cuMemAddressFree(freed, 2 * g));
    r = cuMemMap(freed, g, 0, m->h, 0);
    show("error: cuMemMap onto a freed reservation", r);
    if (r == CUDA_SUCCESS)
        CHECK(cuMemUnmap(freed, g));

    /* cuMemMap onto a range that is mapped already. */
    r = cuMemMap(m->va1, g, 0, m->h, 0);
    show("error: cuMemMap onto a mapped range", r);

    /* Offsets past the allocation (2 x granularity). */
    CUdeviceptr vo = reserve(2 * g, 0);
    r = cuMemMap(vo, g, 4 * g, m->h, 0);
    show("error: cuMemMap offset 4 x granularity into 2 x granularity", r);
    if (r == CUDA_SUCCESS)
        CHECK(cuMemUnmap(vo, g));
    r = cuMemMap(vo, 2 * g, g, m->h, 0);
    show("error: cuMemMap offset + size beyond the allocation", r);
    if (r == CUDA_SUCCESS)
        CHECK(cuMemUnmap(vo, 2 * g));
    CHECK(cuMemAddressFree(vo, 2 * g));

    /* Half of a mapping unmapped; then the whole of it. */
    CUdeviceptr vh = reserve(2 * g, 0);
    map_rw(vh, 2 * g, m->h);
    r = cuMemUnmap(vh, g);
    show("error: cuMemUnmap of half a mapping", r);
    r = cuMemUnmap(vh, 2 * g);
    show("then cuMemUnmap of the whole mapping", r);
    r = cuMemAddressFree(vh, 2 * g);
    show("then cuMemAddressFree", r);

    /* cuMemAddressFree with the wrong size: half, double, then the right one. */
    CUdeviceptr vw = reserve(2 * g, 0);
    r = cuMemAddressFree(vw, g);
    show("error: cuMemAddressFree with half the size", r);
    r = cuMemAddressFree(vw, 4 * g);
    show("error: cuMemAddressFree with twice the size", r);
    r = cuMemAddressFree(vw, 2 * g);
    show("then cuMemAddressFree with the right size", r);

    /* A size that is not a multiple of the granularity. */
    CUmemAllocationProp p = device_prop(CU_MEM_HANDLE_TYPE_NONE);
    CUmemGenericAllocationHandle odd = 0;
    r = cuMemCreate(&odd, g + 4096, &p, 0);
    show("error: cuMemCreate of granularity + 4096 bytes", r);
    if (r == CUDA_SUCCESS)
        CHECK(cuMemRelease(odd));

    /* Queries on an address that is reserved but not mapped. */
    CUdeviceptr vu = reserve(g, 0);
    CUmemGenericAllocationHandle none = 0;
    r = cuMemRetainAllocationHandle(&none, (void *)(uintptr_t)vu);
    show("error: cuMemRetainAllocationHandle on a reserved, unmapped address", r);
    if (r == CUDA_SUCCESS)
        CHECK(cuMemRelease(none));
    print_access("error: reserved, unmapped address", vu);
    CHECK(cuMemAddressFree(vu, g));

    /* A handle value never issued: 0, last of the error paths.  Not any other
     * value: the native driver dereferences it (cuMemRelease(0x1234567)
     * segfaulted inside libcuda on an H200, driver of CUDA 13.0). */
    r = cuMemRelease((CUmemGenericAllocationHandle)0);
    show("error: cuMemRelease of handle 0, never issued", r);

    /* The context is still healthy, the main mappings untouched. */
    r = cuCtxSynchronize();
    show("after the error paths: cuCtxSynchronize", r);
    check_cu(r, "cuCtxSynchronize", __FILE__, __LINE__);
    unsigned int *back = xmalloc(m->size);
    CHECK(cuMemcpyDtoH(back, m->va2, m->size));
    int same = memcmp(back, m->expect, m->size) == 0;
    printf("after the error paths: the main allocation intact %s\n", yes_no(same));
    EXPECT(same, "the main allocation changed during the error paths");
    free(back);
}

/* ---- 9. teardown ----------------------------------------------------------- */

static void teardown(struct main_objects *m)
{
    if (m->ro_mapped)
        CHECK(cuMemUnmap(m->va3, m->size));
    CHECK(cuMemUnmap(m->va2, m->size));
    CHECK(cuMemUnmap(m->va1, m->size));
    CHECK(cuMemRelease(m->h));
    if (m->va3 != 0)
        CHECK(cuMemAddressFree(m->va3, m->size));
    CHECK(cuMemAddressFree(m->va2, m->size));
    CHECK(cuMemAddressFree(m->va1, m->size));
    print_pointer("after teardown, VA1", m->va1);
    printf("teardown: cuMemUnmap, cuMemRelease, cuMemAddressFree ok\n");
}

int main(int argc, char **argv)
{
    struct args args = parse_args(argc, argv);
    CUdevice dev;
    setup_primary(&dev);

    int vmm = 0, posix = 0, fabric = 0;
    CHECK(cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev));
    CHECK(cuDeviceGetAttribute(&posix, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, dev));
    CHECK(cuDeviceGetAttribute(&fabric, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED, dev));
    printf("device 0: virtual memory management %d, POSIX file descriptor handles %d, fabric handles %d\n", vmm, posix,
           fabric);
    EXPECT(vmm == 1, "device 0 does not support virtual memory management");

    CUmodule mod = load_module(&args, "vmm.fatbin");
    CHECK(cuModuleGetFunction(&g_add, mod, "add_const"));

    query_granularity();
    struct main_objects m;
    memset(&m, 0, sizeof m);
    m.expect = xmalloc(2 * g_gran);
    basics(&m);
    aliases(&args, &m);
    back_to_back(&args);
    read_only(&args, &m);
    pointer_attributes(&m);
    export_import(&args, dev);
    release_while_mapped(&args);
    error_paths(&m);
    teardown(&m);
    free(m.expect);

    CHECK(cuModuleUnload(mod));
    CHECK(cuCtxSynchronize());
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("vmm: PASS\n");
    return 0;
}
