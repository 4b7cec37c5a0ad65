"""Forward passes of one model, outputs kept for comparison, start-up timed.

    python3 forward_check.py --model resnet50 --batch 1 --out out.npz [--iters 20]

Runs the first forward and then --iters more in inference mode; each forward
copies the inputs to the GPU, runs the model and copies the outputs back
(models.Workload.forward). Writes the first forward's outputs (fp16, raw) and
their argmax indices to --out (see common.save_arrays), and prints one JSON
line:
  shapes, sha256 and argmax of the outputs; whether every later forward gave
  the same bytes ("repeatable") and every value is finite;
  startup_s: seconds of each start-up stage (interpreter, imports, driver
  init, CUDA context, model build, first forward) and process start -> first
  result ("first_result"; common.StartupClock);
  steady_ms: latency of the later forwards (p50, p99, mean, ...).
Exit status 0 when the outputs are finite and repeatable, 1 otherwise.
"""

import argparse
import time

from common import StartupClock, emit, fail, run_main, save_arrays, sha256_tensor, summarize_ms, tensor_bytes

CLOCK = StartupClock()  # the interpreter's start-up, before any import of ours


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=["resnet50", "bert-large"])
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--out", required=True, help="output file (.npz; .bin + .json without numpy)")
    p.add_argument("--iters", type=int, default=20, help="forwards after the first (default 20)")
    p.add_argument("--channels-last", action="store_true", help="resnet50 in channels_last layout")
    p.add_argument("--pinned", action="store_true", help="page-locked CPU inputs")
    return p.parse_args()


def main():
    args = parse_args()
    import torch

    import models

    CLOCK.mark("imports")
    if not torch.cuda.is_available():
        fail("forward", "torch.cuda.is_available() is False", torch=torch.__version__)
    CLOCK.mark("driver_init")
    models.configure_determinism()
    libcuda = models.init_cuda()
    CLOCK.mark("cuda_context")
    w = models.build(args.model, args.batch, channels_last=args.channels_last, pinned=args.pinned)
    torch.cuda.synchronize()
    CLOCK.mark("build")

    with torch.inference_mode():
        first = w.forward(w.inputs)
        CLOCK.mark("first_forward")

        first_bytes = {k: tensor_bytes(t) for k, t in first.items()}
        times_ms = []
        repeatable = True
        for _ in range(args.iters):
            t0 = time.perf_counter()
            out = w.forward(w.inputs)
            times_ms.append((time.perf_counter() - t0) * 1e3)
            repeatable = repeatable and all(tensor_bytes(out[k]) == first_bytes[k] for k in first)

    idx = models.argmax(first)
    finite = {k: bool(torch.isfinite(t).all()) for k, t in first.items()}
    arrays = {f"out_{k}": t for k, t in first.items()}
    arrays.update({f"argmax_{k}": t for k, t in idx.items()})
    files, fmt = save_arrays(args.out, arrays)

    ok = all(finite.values()) and repeatable
    emit(
        {
            "check": "forward",
            "pass": ok,
            "model": args.model,
            "batch": args.batch,
            "channels_last": w.channels_last,
            "pinned": args.pinned,
            "device": torch.cuda.get_device_name(),
            "libcuda": libcuda,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "deterministic": True,
            "weights": w.weights_fingerprint,
            "inputs": w.inputs_fingerprint(),
            "outputs": {
                k: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "sha256": sha256_tensor(t)[:16], "finite": finite[k]}
                for k, t in first.items()
            },
            "argmax": {k: models.describe_argmax(t) for k, t in idx.items()},
            "repeatable": repeatable,
            "startup_s": CLOCK.result(),
            "steady_ms": summarize_ms(times_ms) if times_ms else None,
            "out": files,
            "format": fmt,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_main("forward", main)
