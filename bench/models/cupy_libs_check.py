"""CuPy beyond elementwise kernels: a RawKernel, cuBLAS, cuFFT and cuRAND, against numpy.

    python3 cupy_libs_check.py [--out FILE] [--keep-cache]

Inputs from numpy's seeded RNG; each case, and what it must meet:
  rawkernel  saxpy out = a * x + y on float32 (CUDA C source compiled by
             NVRTC, loaded through the driver): within 2e-6 of numpy,
             relative to |a * x| + |y| (the GPU may fuse the multiply-add)
  cublas     512 x 512 GEMM: cupy.matmul and the @ operator on float32
             (cuBLAS; CuPy uses no TF32 unless CUPY_TF32=1) and
             cupy.cublas.gemm (cublasSgemm) when CuPy has it: within 1e-5 of
             numpy's float64 product, as ||gpu - numpy|| / ||numpy||;
             cupy.matmul on float16 (cuBLAS GemmEx): within 1e-2 so measured
  cufft      cupy.fft.fft of a complex64 vector (2**16) and cupy.fft.rfft2 of
             a float32 192 x 256 array (cuFFT C2C and R2C, single precision):
             within 1e-5 of numpy.fft in double precision, so measured
  curand     the legacy API, which is cuRAND (curandGenerateNormal, XORWOW):
             cupy.random.RandomState(SEED).standard_normal, float32, drawn
             twice from fresh states (must be the same bytes), and after
             cupy.random.seed(SEED) the global state's standard_normal; and
             cupy.cuda.curand itself: a generator seeded SEED,
             curandGenerateUniform into a float32 array. The draws must look
             like their distributions (mean, spread; uniform in (0, 1], as
             cuRAND defines it). (cupy.random.default_rng's Generator is not
             used: it draws with CuPy's own kernels, not cuRAND.)
Every value must be finite. Writes every GPU result (complex results as
float32 [..., 2] real/imaginary pairs) and argmax indices to --out; the
runners compare two runs' files bit for bit.

CuPy's kernel cache goes to a fresh temporary folder (CUPY_CACHE_DIR, set
here before CuPy is imported) unless --keep-cache, as in cupy_check.py.
"""

import argparse
import hashlib
import os
import shutil
import tempfile

from common import StartupClock, emit, fail, report_libcuda, run_main, save_arrays

CLOCK = StartupClock()
SEED = 20261125
SAXPY_N = 1 << 20
SAXPY_A = 2.5
GEMM_N = 512
FFT_N = 1 << 16
RFFT2_SHAPE = (192, 256)
RAND_N = 1 << 20  # even: cuRAND's normal generators draw pairs

SAXPY_SOURCE = r"""
extern "C" __global__ void vgpu_saxpy(const float a, const float* x, const float* y, float* out, const unsigned int n)
{
    unsigned int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n)
        out[i] = a * x[i] + y[i];
}
"""

TOL = {"rawkernel": 2e-6, "gemm_fp32": 1e-5, "gemm_fp16": 1e-2, "fft": 1e-5, "rfft2": 1e-5}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="output file (.npz)")
    p.add_argument("--keep-cache", action="store_true", help="use CuPy's usual kernel cache")
    return p.parse_args()


def main():
    args = parse_args()
    cache = None
    if not args.keep_cache:
        cache = tempfile.mkdtemp(prefix="cupy-libs-check-")
        os.environ["CUPY_CACHE_DIR"] = cache
    try:
        return check(args)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def rel_err(got, ref):
    """||got - ref|| / ||ref||, in double precision (complex too)."""
    import numpy as np

    got = np.asarray(got)
    ref = np.asarray(ref)
    wide = np.complex128 if np.iscomplexobj(got) or np.iscomplexobj(ref) else np.float64
    d = np.linalg.norm((got.astype(wide) - ref.astype(wide)).ravel())
    n = np.linalg.norm(ref.astype(wide).ravel())
    return float(d / n) if n > 0 else float(d)


def max_abs(got, ref):
    """Largest |got - ref|, in double precision (complex too)."""
    import numpy as np

    got = np.asarray(got)
    ref = np.asarray(ref)
    wide = np.complex128 if np.iscomplexobj(got) or np.iscomplexobj(ref) else np.float64
    return float(np.max(np.abs(got.astype(wide) - ref.astype(wide))))


def as_pairs(z):
    """A complex64 array as float32 [..., 2] (real, imaginary), for the output file."""
    import numpy as np

    return np.ascontiguousarray(np.stack([z.real, z.imag], axis=-1).astype(np.float32))


def check(args):
    import numpy as np

    try:
        import cupy as cp
    except ImportError as err:
        fail("cupy-libs", f"cupy is not installed: {err}")
    CLOCK.mark("imports")

    rng = np.random.default_rng(SEED)
    sx = rng.standard_normal(SAXPY_N, dtype=np.float32)
    sy = rng.standard_normal(SAXPY_N, dtype=np.float32)
    ga = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    gb = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    ha, hb = ga.astype(np.float16), gb.astype(np.float16)
    fz = (rng.standard_normal(FFT_N, dtype=np.float32) + 1j * rng.standard_normal(FFT_N, dtype=np.float32)).astype(np.complex64)
    fr = rng.standard_normal(RFFT2_SHAPE, dtype=np.float32)
    fingerprint = hashlib.sha256()
    for arr in (sx, sy, ga, gb, fz, fr):
        fingerprint.update(np.ascontiguousarray(arr).tobytes())

    errs = {}
    diffs = {}
    info = {}

    # RawKernel: NVRTC compile, cuModuleLoadData, cuLaunchKernel.
    kernel = cp.RawKernel(SAXPY_SOURCE, "vgpu_saxpy")
    dx, dy = cp.asarray(sx), cp.asarray(sy)
    dout = cp.empty_like(dx)
    block = 256
    kernel(((SAXPY_N + block - 1) // block,), (block,), (np.float32(SAXPY_A), dx, dy, dout, np.uint32(SAXPY_N)))
    saxpy = dout.get()
    CLOCK.mark("first_kernel")  # driver init, context, NVRTC compile, module load, copies
    libcuda = report_libcuda()
    scale = np.abs(np.float64(SAXPY_A) * sx) + np.abs(sy.astype(np.float64))
    saxpy_ref = np.float64(SAXPY_A) * sx.astype(np.float64) + sy.astype(np.float64)
    errs["rawkernel"] = float(np.max(np.abs(saxpy - saxpy_ref) / np.maximum(scale, 1.0)))
    diffs["rawkernel"] = max_abs(saxpy, saxpy_ref)

    # cuBLAS.
    da, db = cp.asarray(ga), cp.asarray(gb)
    mm32 = cp.matmul(da, db).get()
    mm32_op = (da @ db).get()
    gemm_ref = ga.astype(np.float64) @ gb.astype(np.float64)
    errs["gemm_fp32"] = max(rel_err(mm32, gemm_ref), rel_err(mm32_op, gemm_ref))
    diffs["gemm_fp32"] = max(max_abs(mm32, gemm_ref), max_abs(mm32_op, gemm_ref))
    info["matmul_operator_identical"] = mm32.tobytes() == mm32_op.tobytes()
    sgemm = None
    try:
        from cupy import cublas as cupy_cublas
    except ImportError:
        cupy_cublas = None
    if cupy_cublas is not None and hasattr(cupy_cublas, "gemm"):
        sgemm = np.ascontiguousarray(cupy_cublas.gemm("N", "N", da, db).get())
        errs["gemm_fp32"] = max(errs["gemm_fp32"], rel_err(sgemm, gemm_ref))
        diffs["gemm_fp32"] = max(diffs["gemm_fp32"], max_abs(sgemm, gemm_ref))
    info["cublas_gemm"] = sgemm is not None
    mm16 = cp.matmul(cp.asarray(ha), cp.asarray(hb)).get()
    gemm16_ref = ha.astype(np.float64) @ hb.astype(np.float64)
    errs["gemm_fp16"] = rel_err(mm16, gemm16_ref)
    diffs["gemm_fp16"] = max_abs(mm16, gemm16_ref)
    CLOCK.mark("cublas")

    # cuFFT.
    fft = cp.fft.fft(cp.asarray(fz)).get()
    rfft2 = cp.fft.rfft2(cp.asarray(fr)).get()
    fft_ref = np.fft.fft(fz.astype(np.complex128))
    rfft2_ref = np.fft.rfft2(fr.astype(np.float64))
    errs["fft"] = rel_err(fft, fft_ref)
    errs["rfft2"] = rel_err(rfft2, rfft2_ref)
    diffs["fft"] = max_abs(fft, fft_ref)
    diffs["rfft2"] = max_abs(rfft2, rfft2_ref)
    info["fft_dtypes"] = [str(fft.dtype), str(rfft2.dtype)]
    CLOCK.mark("cufft")

    # cuRAND through the legacy API, then directly.
    # The seed as numpy.uint64: CuPy converts it with astype(uint64, casting="safe"),
    # which NumPy 2 (no value-based casting) may refuse for a Python int, an int64.
    seed = np.uint64(SEED)
    normal = cp.random.RandomState(seed).standard_normal(RAND_N, dtype=cp.float32).get()
    normal_again = cp.random.RandomState(seed).standard_normal(RAND_N, dtype=cp.float32).get()
    cp.random.seed(seed)
    normal_global = cp.random.standard_normal(RAND_N, dtype=cp.float32).get()
    from cupy.cuda import curand

    gen = curand.createGenerator(curand.CURAND_RNG_PSEUDO_DEFAULT)
    try:
        curand.setStream(gen, cp.cuda.get_current_stream().ptr)
        curand.setPseudoRandomGeneratorSeed(gen, SEED)
        du = cp.empty(RAND_N, dtype=cp.float32)
        curand.generateUniform(gen, du.data.ptr, du.size)
        uniform = du.get()
    finally:
        curand.destroyGenerator(gen)
    cp.cuda.Device().synchronize()
    CLOCK.mark("curand")

    rand_stats = {
        "normal_mean": float(np.mean(normal, dtype=np.float64)),
        "normal_std": float(np.std(normal, dtype=np.float64)),
        "uniform_mean": float(np.mean(uniform, dtype=np.float64)),
        "uniform_min": float(uniform.min()),
        "uniform_max": float(uniform.max()),
    }
    # Same seed, same generator type, offset 0: the same draw (informational:
    # that is CuPy's bookkeeping, not the driver's).
    info["global_seed_matches"] = normal_global.tobytes() == normal.tobytes()
    normal_repeatable = normal_again.tobytes() == normal.tobytes()
    # Loose: at 2**20 samples the mean's standard error is ~0.001.
    rand_ok = (
        normal_repeatable
        and abs(rand_stats["normal_mean"]) < 0.01
        and abs(rand_stats["normal_std"] - 1.0) < 0.01
        and abs(rand_stats["uniform_mean"] - 0.5) < 0.01
        and rand_stats["uniform_min"] > 0.0
        and rand_stats["uniform_max"] <= 1.0
    )

    results = [saxpy, mm32, mm32_op, mm16, fft, rfft2, normal, normal_global, uniform] + ([sgemm] if sgemm is not None else [])
    finite = all(bool(np.all(np.isfinite(r))) for r in results)
    within = {k: errs[k] <= TOL[k] for k in TOL}

    files, fmt = (None, None)
    if args.out:
        arrays = {
            "out_saxpy": saxpy,
            "out_matmul_fp32": mm32,
            "out_matmul_fp32_operator": mm32_op,
            "out_matmul_fp16": mm16,
            "out_fft": as_pairs(fft),
            "out_rfft2": as_pairs(rfft2),
            "out_curand_normal": normal,
            "out_curand_normal_global": normal_global,
            "out_curand_uniform": uniform,
            "argmax_saxpy": np.asarray([np.argmax(saxpy)], dtype=np.int64),
            "argmax_matmul_fp32": np.argmax(mm32, axis=-1).astype(np.int64),
            "argmax_matmul_fp16": np.argmax(mm16, axis=-1).astype(np.int64),
            "argmax_fft": np.asarray([np.argmax(np.abs(fft))], dtype=np.int64),
            "argmax_curand_normal": np.asarray([np.argmax(normal)], dtype=np.int64),
        }
        if sgemm is not None:
            arrays["out_cublas_sgemm"] = sgemm
        files, fmt = save_arrays(args.out, arrays)
    ok = all(within.values()) and finite and rand_ok
    emit(
        {
            "check": "cupy-libs",
            "pass": ok,
            "max_abs_diff": max(diffs.values()),  # vs numpy; the verdict uses rel_err
            "max_abs_diff_vs_numpy": diffs,
            "rel_err": errs,
            "tol": TOL,
            "within_tol": within,
            "finite": finite,
            "repeatable": normal_repeatable,
            "random": rand_stats,
            **info,
            "inputs": fingerprint.hexdigest()[:16],
            "cupy": cp.__version__,
            "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
            "device": cp.cuda.runtime.getDeviceProperties(0)["name"].decode(errors="replace"),
            "libcuda": libcuda,
            "startup_s": CLOCK.result(),
            "out": files,
            "format": fmt,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_main("cupy-libs", main)
