"""One torch.compile case (Inductor, Triton kernels) against eager PyTorch.

    python3 compile_check.py [--out FILE] [--keep-cache] [--tol 1e-4]

A small fp32 block (linear, GELU, linear, residual, LayerNorm, softmax) on a
64 x 256 input, run eagerly and through torch.compile with its default
backend, which generates Triton kernels for the fused element-wise and
normalisation parts. Pass when |compiled - eager| <= --tol everywhere (the
fused kernels round differently, so not bit for bit), all values are finite,
and Inductor generated at least one kernel. The runners compare the compiled
outputs of two runs bit for bit.

Inductor's and Triton's caches go to a fresh temporary folder
(TORCHINDUCTOR_CACHE_DIR and TRITON_CACHE_DIR, set here before torch is
imported; they say only where compiled files are kept) unless --keep-cache:
every run compiles, builds its launchers and loads its kernels afresh.
"""

import argparse
import os
import shutil
import tempfile
import time

from common import StartupClock, emit, fail, run_main, save_arrays

CLOCK = StartupClock()
SEED = 20261125


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="output file (.npz; .bin + .json without numpy)")
    p.add_argument("--tol", type=float, default=1e-4, help="largest allowed |compiled - eager| (default 1e-4)")
    p.add_argument("--keep-cache", action="store_true", help="use the usual Inductor and Triton caches")
    return p.parse_args()


def main():
    args = parse_args()
    cache = None
    if not args.keep_cache:
        cache = tempfile.mkdtemp(prefix="compile-check-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(cache, "inductor")
        os.environ["TRITON_CACHE_DIR"] = os.path.join(cache, "triton")
    try:
        return check(args)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def check(args):
    import torch

    import models

    CLOCK.mark("imports")
    if not torch.cuda.is_available():
        fail("compile", "torch.cuda.is_available() is False")
    CLOCK.mark("driver_init")
    models.configure_determinism()
    torch.backends.cuda.matmul.allow_tf32 = False  # the default, stated: eager and compiled both in full fp32
    libcuda = models.init_cuda()
    CLOCK.mark("cuda_context")

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(256, 1024)
            self.fc2 = torch.nn.Linear(1024, 256)
            self.norm = torch.nn.LayerNorm(256)

        def forward(self, x):
            h = self.fc2(torch.nn.functional.gelu(self.fc1(x)))
            return torch.softmax(self.norm(x + h) * 4.0, dim=-1)

    torch.manual_seed(SEED)
    block = Block().eval().to("cuda")
    g = torch.Generator().manual_seed(SEED + 1)
    x = torch.randn(64, 256, generator=g).to("cuda")

    with torch.no_grad():
        eager = block(x).cpu()
        CLOCK.mark("eager")
        compiled_block = torch.compile(block)
        t0 = time.perf_counter()
        compiled = compiled_block(x).cpu()
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - t0
        CLOCK.mark("compile_and_first_run")
        again = compiled_block(x).cpu()

    try:
        from torch._inductor import metrics

        kernels = int(metrics.generated_kernel_count)
    except Exception:  # noqa: BLE001 - the counter is internal; report it missing
        kernels = None

    diff = float((compiled - eager).abs().max())
    finite = bool(torch.isfinite(compiled).all()) and bool(torch.isfinite(eager).all())
    repeatable = bool(torch.equal(compiled, again))
    # A warm cache may serve the whole graph without generating a kernel.
    ok = finite and diff <= args.tol and repeatable and (kernels is None or kernels > 0 or args.keep_cache)

    files, fmt = (None, None)
    if args.out:
        files, fmt = save_arrays(
            args.out, {"out_compiled": compiled, "out_eager": eager, "argmax_compiled": compiled.argmax(dim=-1)}
        )
    emit(
        {
            "check": "compile",
            "pass": ok,
            "max_abs_diff": diff,
            "finite": finite,
            "repeatable": repeatable,
            "generated_kernels": kernels,
            "device": torch.cuda.get_device_name(),
            "libcuda": libcuda,
            "torch": torch.__version__,
            "compile_s": round(compile_s, 3),
            "startup_s": CLOCK.result(),
            "out": files,
            "format": fmt,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_main("compile", main)
