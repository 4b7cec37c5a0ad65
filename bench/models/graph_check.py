"""PyTorch CUDA graph: capture a forward, replay it, compare with eager.

    python3 graph_check.py [--model resnet50 --batch 1] [--replays 3] [--out FILE]

Captures one forward of the model (models.Workload.forward_gpu) into a
torch.cuda.CUDAGraph after a warm-up on a side stream, as PyTorch's docs do.
Then, for --replays different input sets: runs the model eagerly, copies the
same inputs into the graph's static input tensors, replays the graph, and
compares the two results. Pass when every replay gives exactly the bytes of
the eager forward (--tol allows a difference) and all values are finite.
Writes the graph and eager outputs and their argmax to --out; prints one JSON
line with "pass" and "max_abs_diff".
"""

import argparse
import time

from common import StartupClock, emit, fail, run_main, save_arrays, summarize_ms, tensor_bytes

CLOCK = StartupClock()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50", choices=["resnet50", "bert-large"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--replays", type=int, default=3, help="input sets replayed (default 3)")
    p.add_argument("--tol", type=float, default=0.0, help="largest allowed |graph - eager| (default 0)")
    p.add_argument("--out", default=None, help="output file (.npz; .bin + .json without numpy)")
    return p.parse_args()


def main():
    args = parse_args()
    import torch

    import models

    CLOCK.mark("imports")
    if not torch.cuda.is_available():
        fail("graph", "torch.cuda.is_available() is False")
    CLOCK.mark("driver_init")
    models.configure_determinism()
    libcuda = models.init_cuda()
    CLOCK.mark("cuda_context")
    w = models.build(args.model, args.batch)
    CLOCK.mark("build")

    arrays = {}
    max_diff = 0.0
    identical = True
    finite = True
    replay_ms = []
    with torch.inference_mode():
        static_in = w.to_device(w.inputs)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                w.forward_gpu(static_in)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()

        graph = torch.cuda.CUDAGraph()
        t0 = time.perf_counter()
        with torch.cuda.graph(graph):
            static_out = w.forward_gpu(static_in)
        torch.cuda.synchronize()
        capture_s = time.perf_counter() - t0
        CLOCK.mark("warmup_and_capture")
        startup = None

        for k in range(args.replays):
            inputs = models.make_inputs(args.model, args.batch, index=k)
            eager = w.forward(inputs)
            for key, t in static_in.items():
                t.copy_(inputs[key])
            t0 = time.perf_counter()
            graph.replay()
            replayed = {key: t.to("cpu") for key, t in static_out.items()}
            torch.cuda.synchronize()
            replay_ms.append((time.perf_counter() - t0) * 1e3)
            if startup is None:
                CLOCK.mark("eager_and_first_replay")
                startup = CLOCK.result()
            for key in eager:
                g, e = replayed[key], eager[key]
                identical = identical and tensor_bytes(g) == tensor_bytes(e)
                finite = finite and bool(torch.isfinite(g).all()) and bool(torch.isfinite(e).all())
                max_diff = max(max_diff, float((g.float() - e.float()).abs().max()))
                arrays[f"out_graph{k}_{key}"] = g
                arrays[f"out_eager{k}_{key}"] = e
                arrays[f"argmax_graph{k}_{key}"] = g.float().argmax(dim=-1)

    files, fmt = (save_arrays(args.out, arrays) if args.out else (None, None))
    ok = finite and max_diff <= args.tol
    emit(
        {
            "check": "graph",
            "pass": ok,
            "max_abs_diff": max_diff,
            "identical": identical,
            "finite": finite,
            "model": args.model,
            "batch": args.batch,
            "replays": args.replays,
            "device": torch.cuda.get_device_name(),
            "libcuda": libcuda,
            "torch": torch.__version__,
            "weights": w.weights_fingerprint,
            "capture_s": round(capture_s, 4),
            "replay_ms": summarize_ms(replay_ms),
            "startup_s": startup,
            "out": files,
            "format": fmt,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_main("graph", main)
