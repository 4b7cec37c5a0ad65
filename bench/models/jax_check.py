"""JAX on the GPU: a jitted matmul, a small MLP and jax.random, against numpy.

    python3 jax_check.py [--out FILE] [--n 1024] [--tol 1e-4]

Three cases, float32 throughout, inputs and weights from numpy's seeded RNG:
  matmul   jax.jit(a @ b), --n x --n by --n x --n
  mlp      jax.jit of three dense layers (512 -> 1024 -> 1024 -> 128, ReLU
           after the first two) on a 256 x 512 batch
  random   jax.random.normal and jax.random.uniform (--random elements each)
           from jax.random.key(SEED), split in two
The matmuls run at full float32 precision (jax_default_matmul_precision
"highest": no TF32), so matmul and mlp must agree with numpy's float64 result
to --tol, measured as ||gpu - numpy|| / ||numpy|| (Frobenius; TF32 would miss
it by about 4x). The uniform draw must equal the CPU backend's bit for bit
(threefry and the bits -> [0, 1) conversion are exact integer and float
operations; skipped, not failed, when the CPU backend cannot be used); the
normal draw (erfinv, which may round differently on the CPU) is only compared
informally. Both draws must look like their distributions (mean, spread,
range). Every value must be finite, and a second call of each jitted function
must give the same bytes. Writes every GPU result and their argmax to --out;
the runners compare two runs' files bit for bit.

The JAX default device must be the GPU: JAX silently falls back to the CPU
when its CUDA plugin fails to initialise (no driver, a driver call refused),
which here is a failure whose message carries the plugin's own error text.
JAX's GPU memory allocator is left as installed (no XLA_PYTHON_CLIENT_*
variable is set): it preallocates most of the device memory, through libvgpu
as natively.

XLA_FLAGS gets --xla_gpu_autotune_level=0, set here before JAX is imported:
XLA otherwise times the candidate GEMM algorithms (cuBLAS/cuBLASLt, Triton
configurations) when it compiles and keeps the fastest, and timings differ
from one run to the next (and through libvgpu), so two runs could pick
different algorithms and round differently. Without autotuning XLA takes its
heuristic's first choice, the same in every run on one GPU model.
"""

import argparse
import hashlib
import logging
import os

from common import StartupClock, emit, fail, report_libcuda, run_main, save_arrays

CLOCK = StartupClock()
SEED = 20261125
AUTOTUNE_FLAG = "--xla_gpu_autotune_level=0"
MLP_SIZES = (512, 1024, 1024, 128)
MLP_BATCH = 256


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="output file (.npz)")
    p.add_argument("--n", type=int, default=1024, help="matmul size (default 1024)")
    p.add_argument("--random", type=int, default=1 << 20, help="elements of each random draw (default 1048576)")
    p.add_argument("--tol", type=float, default=1e-4, help="largest ||gpu - numpy|| / ||numpy|| (default 1e-4)")
    return p.parse_args()


class BackendLog(logging.Handler):
    """Keeps what jax's backend set-up logs ("Unable to initialize backend
    'cuda': ..." is logged at INFO level and otherwise not shown)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a message that cannot be formatted is not ours to fix
            pass


def set_xla_flags():
    """Append AUTOTUNE_FLAG to XLA_FLAGS (kept otherwise; a later flag wins in XLA)."""
    flags = os.environ.get("XLA_FLAGS", "").split()
    if AUTOTUNE_FLAG not in flags:
        flags.append(AUTOTUNE_FLAG)
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return os.environ["XLA_FLAGS"]


def versions_of(jax):
    """jax, jaxlib and the CUDA plugin packages' versions."""
    from importlib import metadata

    out = {"jax": jax.__version__, "jaxlib": None, "jax_cuda_plugin": {}}
    try:
        out["jaxlib"] = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        try:
            from jaxlib import version as jaxlib_version

            out["jaxlib"] = jaxlib_version.__version__
        except Exception:  # noqa: BLE001 - report it unknown
            pass
    for dist in metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower().replace("_", "-")
        if name.startswith("jax-cuda"):
            out["jax_cuda_plugin"][name] = dist.version
    return out


def gpu_device(jax, log, versions):
    """The default device, which must be a GPU; otherwise fail with every
    error JAX kept from its GPU backend's set-up."""
    errors = []
    devices = []
    try:
        devices = jax.devices()
    except Exception as err:  # noqa: BLE001 - reported below
        errors.append(f"jax.devices(): {type(err).__name__}: {err}")
    if devices and devices[0].platform in ("gpu", "cuda"):
        return devices[0]
    # jax.devices('gpu') raises when no GPU backend came up; 'cuda' names the
    # plugin's own error ("Backend 'cuda' failed to initialize: ...").
    for name in ("gpu", "cuda"):
        try:
            jax.devices(name)
        except Exception as err:  # noqa: BLE001 - that is the point
            errors.append(f"jax.devices({name!r}): {type(err).__name__}: {err}")
    try:
        from jax._src import xla_bridge  # private: where JAX keeps each failed backend's error

        for attr in ("_backend_errors", "_backends_errors"):
            for platform, text in (getattr(xla_bridge, attr, None) or {}).items():
                errors.append(f"backend {platform!r}: {text}")
    except Exception:  # noqa: BLE001 - the public calls above said enough
        pass
    errors.extend(log.lines)
    seen = []
    for e in errors:
        if e not in seen:
            seen.append(e)
    platform = devices[0].platform if devices else None
    fail(
        "jax",
        f"JAX is not on the GPU: jax.devices()[0].platform is {platform!r} (JAX falls back to the CPU when its "
        f"CUDA plugin fails); " + (" | ".join(seen)[:4000] or "JAX kept no error text"),
        platform=platform,
        xla_flags=os.environ.get("XLA_FLAGS"),
        **versions,
    )


def rel_err(got, ref):
    """||got - ref|| / ||ref||, in float64."""
    import numpy as np

    ref = np.asarray(ref, dtype=np.float64)
    d = np.linalg.norm(np.asarray(got, dtype=np.float64) - ref)
    n = np.linalg.norm(ref)
    return float(d / n) if n > 0 else float(d)


def main():
    args = parse_args()
    xla_flags = set_xla_flags()  # before jax is imported: XLA reads XLA_FLAGS once
    import numpy as np

    try:
        import jax
        import jax.numpy as jnp
    except ImportError as err:
        fail("jax", f"jax is not installed: {err}")
    CLOCK.mark("imports")

    log = BackendLog()
    bridge_log = logging.getLogger("jax._src.xla_bridge")
    bridge_log.addHandler(log)
    if bridge_log.getEffectiveLevel() > logging.INFO:
        bridge_log.setLevel(logging.INFO)  # kept by our handler only: the root logger shows no INFO
    jax.config.update("jax_default_matmul_precision", "highest")
    versions = versions_of(jax)
    device = gpu_device(jax, log, versions)  # the backends come up here: driver, plugin, context
    CLOCK.mark("backend_init")

    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((args.n, args.n), dtype=np.float32)
    b = rng.standard_normal((args.n, args.n), dtype=np.float32)
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0]), dtype=np.float32)
    layers = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        w = (rng.standard_normal((fan_in, fan_out), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))).astype(np.float32)
        bias = (rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.1)).astype(np.float32)
        layers.append((w, bias))
    fingerprint = hashlib.sha256()
    for arr in [a, b, x] + [t for layer in layers for t in layer]:
        fingerprint.update(np.ascontiguousarray(arr).tobytes())

    def mlp_forward(params, h):
        for i, (w, bias) in enumerate(params):
            h = h @ w + bias
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return h

    matmul = jax.jit(lambda p, q: p @ q)
    mlp = jax.jit(mlp_forward)

    ga, gb, gx = (jax.device_put(t, device) for t in (a, b, x))
    gparams = [(jax.device_put(w, device), jax.device_put(bias, device)) for w, bias in layers]
    mm_dev = matmul(ga, gb)
    mm = np.asarray(mm_dev)  # compile (PTX -> module load), run, copy back
    CLOCK.mark("first_jit")
    libcuda = report_libcuda()
    mlp_dev = mlp(gparams, gx)
    mlp_out = np.asarray(mlp_dev)
    repeatable = np.asarray(matmul(ga, gb)).tobytes() == mm.tobytes() and np.asarray(mlp(gparams, gx)).tobytes() == mlp_out.tobytes()

    on_gpu = True
    for arr in (mm_dev, mlp_dev):
        placed = getattr(arr, "devices", None)
        if placed is not None:
            on_gpu = on_gpu and set(placed()) == {device}

    key = jax.random.key(SEED)
    k_normal, k_uniform = jax.random.split(key)
    normal = np.asarray(jax.random.normal(k_normal, (args.random,), dtype=jnp.float32))
    uniform = np.asarray(jax.random.uniform(k_uniform, (args.random,), dtype=jnp.float32))
    CLOCK.mark("random")

    # The same draws on the CPU backend: uniform must match bit for bit.
    uniform_matches_cpu = None
    normal_max_abs_diff_cpu = None
    cpu_reference_error = None
    try:
        cpu = jax.devices("cpu")[0]
        ck_normal, ck_uniform = (jax.device_put(k, cpu) for k in (k_normal, k_uniform))
        uniform_cpu = np.asarray(jax.random.uniform(ck_uniform, (args.random,), dtype=jnp.float32))
        normal_cpu = np.asarray(jax.random.normal(ck_normal, (args.random,), dtype=jnp.float32))
        uniform_matches_cpu = uniform_cpu.tobytes() == uniform.tobytes()
        normal_max_abs_diff_cpu = float(np.max(np.abs(normal_cpu.astype(np.float64) - normal)))
    except Exception as err:  # noqa: BLE001 - no CPU reference is no GPU failure
        cpu_reference_error = f"{type(err).__name__}: {err}"[:500]

    ref_mm = a.astype(np.float64) @ b.astype(np.float64)
    h = x.astype(np.float64)
    for i, (w, bias) in enumerate(layers):
        h = h @ w.astype(np.float64) + bias.astype(np.float64)
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    ref_mlp = h

    errs = {"matmul": rel_err(mm, ref_mm), "mlp": rel_err(mlp_out, ref_mlp)}
    max_abs = {"matmul": float(np.max(np.abs(mm - ref_mm))), "mlp": float(np.max(np.abs(mlp_out - ref_mlp)))}
    finite = bool(np.all(np.isfinite(mm)) and np.all(np.isfinite(mlp_out)) and np.all(np.isfinite(normal)) and np.all(np.isfinite(uniform)))
    random_stats = {
        "normal_mean": float(np.mean(normal, dtype=np.float64)),
        "normal_std": float(np.std(normal, dtype=np.float64)),
        "uniform_mean": float(np.mean(uniform, dtype=np.float64)),
        "uniform_min": float(uniform.min()),
        "uniform_max": float(uniform.max()),
    }
    # Loose: at 2**20 samples the mean's standard error is ~0.001.
    random_ok = (
        abs(random_stats["normal_mean"]) < 0.01
        and abs(random_stats["normal_std"] - 1.0) < 0.01
        and abs(random_stats["uniform_mean"] - 0.5) < 0.01
        and random_stats["uniform_min"] >= 0.0
        and random_stats["uniform_max"] < 1.0
        and uniform_matches_cpu is not False
    )
    numerics_ok = all(e <= args.tol for e in errs.values())

    files, fmt = (None, None)
    if args.out:
        files, fmt = save_arrays(
            args.out,
            {
                "out_matmul": mm,
                "out_mlp": mlp_out,
                "out_normal": normal,
                "out_uniform": uniform,
                "argmax_matmul": np.argmax(mm, axis=-1).astype(np.int64),
                "argmax_mlp": np.argmax(mlp_out, axis=-1).astype(np.int64),
                "argmax_normal": np.asarray([np.argmax(normal)], dtype=np.int64),
            },
        )
    ok = numerics_ok and finite and repeatable and random_ok and on_gpu
    emit(
        {
            "check": "jax",
            "pass": ok,
            "max_abs_diff": max(max_abs.values()),
            "rel_err": errs,
            "max_abs_diff_vs_numpy": max_abs,
            "tol": args.tol,
            "finite": finite,
            "repeatable": repeatable,
            "on_gpu": on_gpu,
            "random": random_stats,
            "uniform_matches_cpu": uniform_matches_cpu,
            "normal_max_abs_diff_cpu": normal_max_abs_diff_cpu,
            "cpu_reference_error": cpu_reference_error,
            "inputs": fingerprint.hexdigest()[:16],
            "platform": device.platform,
            "device": getattr(device, "device_kind", str(device)),
            "matmul_precision": "highest",
            "xla_flags": xla_flags,
            **versions,
            "libcuda": libcuda,
            "startup_s": CLOCK.result(),
            "out": files,
            "format": fmt,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_main("jax", main)
