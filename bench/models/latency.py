"""Forward latency and throughput of one model: one scenario, one process.

    python3 latency.py --model resnet50 --batch 1 --iters 500 --warmup 50

Each timed forward copies the inputs to the GPU, runs the model, copies every
output back and synchronises (models.Workload.forward), as cuda-surface.md
measured; forwards run one after another. Prints one JSON line:
  latency_ms: p50, p99, mean, std, min, max over --iters forwards
  throughput_per_s: samples per second (batch x iters / time of the timed loop)
  startup_s: as forward_check.py's (process start -> first result included)

PyTorch runs with its default settings here, as a server would (cuDNN picks
kernels by heuristics, no benchmark mode); --deterministic applies the
settings of the checks instead (models.configure_determinism), which cost
time: use_deterministic_algorithms also fills every new tensor's memory, an
extra kernel per allocation.
"""

import argparse
import time

from common import StartupClock, emit, fail, run_main, summarize_ms

CLOCK = StartupClock()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=["resnet50", "bert-large"])
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--iters", type=int, default=200, help="timed forwards (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed forwards first (default 20)")
    p.add_argument("--channels-last", action="store_true", help="resnet50 in channels_last layout")
    p.add_argument("--pinned", action="store_true", help="page-locked CPU inputs")
    p.add_argument("--deterministic", action="store_true", help="the checks' deterministic settings")
    args = p.parse_args()
    if args.iters < 1 or args.warmup < 0:
        p.error("--iters must be at least 1 and --warmup at least 0")
    return args


def main():
    args = parse_args()
    import torch

    import models

    CLOCK.mark("imports")
    if not torch.cuda.is_available():
        fail("latency", "torch.cuda.is_available() is False", torch=torch.__version__)
    CLOCK.mark("driver_init")
    if args.deterministic:
        models.configure_determinism()
    libcuda = models.init_cuda()
    CLOCK.mark("cuda_context")
    w = models.build(args.model, args.batch, channels_last=args.channels_last, pinned=args.pinned)
    torch.cuda.synchronize()
    CLOCK.mark("build")

    times_ms = []
    with torch.inference_mode():
        w.forward(w.inputs)
        CLOCK.mark("first_forward")
        for _ in range(args.warmup):
            w.forward(w.inputs)
        loop0 = time.perf_counter()
        for _ in range(args.iters):
            t0 = time.perf_counter()
            w.forward(w.inputs)
            times_ms.append((time.perf_counter() - t0) * 1e3)
        loop_s = time.perf_counter() - loop0

    emit(
        {
            "check": "latency",
            "pass": True,
            "model": args.model,
            "batch": args.batch,
            "channels_last": w.channels_last,
            "pinned": args.pinned,
            "deterministic": args.deterministic,
            "iters": args.iters,
            "warmup": args.warmup,
            "device": torch.cuda.get_device_name(),
            "libcuda": libcuda,
            "torch": torch.__version__,
            "latency_ms": summarize_ms(times_ms),
            "throughput_per_s": args.batch * args.iters / loop_s,
            "loop_s": loop_s,
            "startup_s": CLOCK.result(),
        }
    )
    return 0


if __name__ == "__main__":
    run_main("latency", main)
