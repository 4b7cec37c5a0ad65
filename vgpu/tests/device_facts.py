"""Print what a libcuda.so.1 says of device 0, one key=value per line, so a
native run and a libvgpu run can be diffed (vgpu/tests/pytorch_diag_gpu.sh).
Loads whichever libcuda.so.1 the dynamic linker finds (LD_LIBRARY_PATH)."""

import ctypes

cuda = ctypes.CDLL("libcuda.so.1")


def call(name, *args):
    return getattr(cuda, name)(*args)


print(f"cuInit={call('cuInit', 0)}")
ver = ctypes.c_int()
print(f"cuDriverGetVersion={call('cuDriverGetVersion', ctypes.byref(ver))} version={ver.value}")
dev = ctypes.c_int()
call("cuDeviceGet", ctypes.byref(dev), 0)
name = ctypes.create_string_buffer(256)
call("cuDeviceGetName", name, 256, dev)
print(f"name={name.value.decode()}")
total = ctypes.c_size_t()
call("cuDeviceTotalMem_v2", ctypes.byref(total), dev)
print(f"total_mem={total.value}")
for a in range(1, 160):
    v = ctypes.c_int(-12345)
    r = call("cuDeviceGetAttribute", ctypes.byref(v), a, dev)
    print(f"attr{a}={v.value if r == 0 else f'error {r}'}")
def primary_state(when):
    flags, active = ctypes.c_uint(), ctypes.c_int()
    r = call("cuDevicePrimaryCtxGetState", dev, ctypes.byref(flags), ctypes.byref(active))
    print(f"primary_state_{when}={r} flags={flags.value} active={active.value}")


primary_state("before_retain")
ctx = ctypes.c_void_p()
print(f"cuDevicePrimaryCtxRetain={call('cuDevicePrimaryCtxRetain', ctypes.byref(ctx), dev)}")
print(f"cuCtxSetCurrent={call('cuCtxSetCurrent', ctx)}")
primary_state("after_retain")
for limit in range(0, 8):
    v = ctypes.c_size_t()
    r = call("cuCtxGetLimit", ctypes.byref(v), limit)
    print(f"limit{limit}={v.value if r == 0 else f'error {r}'}")
free, tot = ctypes.c_size_t(), ctypes.c_size_t()
r = call("cuMemGetInfo_v2", ctypes.byref(free), ctypes.byref(tot))
print(f"mem_info={r} total={tot.value} free_is_most={free.value > tot.value // 2}")
cfg = ctypes.c_int()
print(f"cuCtxGetCacheConfig={call('cuCtxGetCacheConfig', ctypes.byref(cfg))} value={cfg.value}")
flags = ctypes.c_uint()
print(f"cuCtxGetFlags={call('cuCtxGetFlags', ctypes.byref(flags))} value={flags.value}")
lo, hi = ctypes.c_int(), ctypes.c_int()
print(f"cuCtxGetStreamPriorityRange={call('cuCtxGetStreamPriorityRange', ctypes.byref(lo), ctypes.byref(hi))} {lo.value} {hi.value}")
