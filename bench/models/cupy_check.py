"""One small CuPy case: an elementwise kernel and a reduction, against numpy.

    python3 cupy_check.py [--n 1048576] [--out FILE] [--keep-cache]

CuPy compiles both kernels at run time (NVRTC) and loads them through the
driver (cuModuleLoadData...). float64 throughout:
  elementwise  z = x * y + 2 * x - y      (ElementwiseKernel)
  reduction    s = sum(x * x)              (ReductionKernel)
Pass when |z - numpy| <= 1e-12 * max(1, |numpy|) everywhere and the sum agrees
with numpy's to 1e-12 relative (the two sum in different orders, and the GPU
may fuse a multiply-add, hence no exact comparison with numpy); the runners
compare the GPU results of two runs bit for bit.

CuPy's kernel cache goes to a fresh temporary folder (CUPY_CACHE_DIR, set
here before CuPy is imported) unless --keep-cache: every run then compiles and
loads its kernels afresh, natively and through libvgpu alike.
"""

import argparse
import os
import shutil
import tempfile

from common import StartupClock, emit, fail, report_libcuda, run_main, save_arrays

CLOCK = StartupClock()
SEED = 20261125


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1 << 20, help="elements (default 1048576)")
    p.add_argument("--out", default=None, help="output file (.npz)")
    p.add_argument("--keep-cache", action="store_true", help="use CuPy's usual kernel cache")
    return p.parse_args()


def main():
    args = parse_args()
    cache = None
    if not args.keep_cache:
        cache = tempfile.mkdtemp(prefix="cupy-check-")
        os.environ["CUPY_CACHE_DIR"] = cache
    try:
        return check(args)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def check(args):
    import numpy as np

    try:
        import cupy as cp
    except ImportError as err:
        fail("cupy", f"cupy is not installed: {err}")
    CLOCK.mark("imports")

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(args.n)
    y = rng.standard_normal(args.n)

    axpy = cp.ElementwiseKernel("float64 x, float64 y", "float64 z", "z = x * y + 2.0 * x - y", "vgpu_check_axpy")
    sumsq = cp.ReductionKernel("float64 x", "float64 y", "x * x", "a + b", "y = a", "0", "vgpu_check_sumsq")

    gx, gy = cp.asarray(x), cp.asarray(y)
    z = axpy(gx, gy).get()
    CLOCK.mark("first_kernel")  # driver init, context, NVRTC compile, module load, copies
    s = sumsq(gx).get()
    cp.cuda.Device().synchronize()
    libcuda = report_libcuda()

    ref_z = x * y + 2.0 * x - y
    ref_s = np.sum(x * x)
    elem_diff = float(np.max(np.abs(z - ref_z)))
    elem_ok = bool(np.all(np.abs(z - ref_z) <= 1e-12 * np.maximum(1.0, np.abs(ref_z))))
    red_diff = float(abs(float(s) - float(ref_s)))
    red_ok = red_diff <= 1e-12 * abs(float(ref_s))
    finite = bool(np.all(np.isfinite(z))) and bool(np.isfinite(s))

    files, fmt = (None, None)
    if args.out:
        files, fmt = save_arrays(
            args.out,
            {"out_elementwise": z, "out_reduction": np.asarray(s).reshape(1), "argmax_elementwise": np.asarray([np.argmax(z)])},
        )
    ok = elem_ok and red_ok and finite
    emit(
        {
            "check": "cupy",
            "pass": ok,
            "max_abs_diff": max(elem_diff, red_diff),
            "elementwise_max_abs_diff": elem_diff,
            "reduction_abs_diff": red_diff,
            "reduction": float(s),
            "n": args.n,
            "cupy": cp.__version__,
            "device": cp.cuda.runtime.getDeviceProperties(0)["name"].decode(errors="replace"),
            "libcuda": libcuda,
            "startup_s": CLOCK.result(),
            "out": files,
            "format": fmt,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_main("cupy", main)
