"""PyTorch's expandable segments under a guest memory quota: allocations stop at the quota, and the memory comes back.

    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python3 quota_check.py --quota BYTES [--step BYTES] [--max-bytes BYTES]

Meant to run through libvgpu, with a vgpu-proxy started with
--guest-mem-quota BYTES (test/gpu/isolation-checks.ts). With expandable
segments PyTorch's caching allocator maps physical memory into one reserved
address range with the driver's virtual memory calls (cuMemAddressReserve,
cuMemCreate, cuMemMap, cuMemSetAccess) instead of cuMemAlloc, so this checks
that the quota holds for those calls too.

Allocates --step byte tensors (default 256 MiB; torch.empty on the GPU, each
touched with fill_(1) and synchronised) until PyTorch raises
torch.cuda.OutOfMemoryError, or until --max-bytes (default quota + 4 steps)
would be passed without one. Then frees them all (del, torch.cuda.empty_cache,
which unmaps and releases the physical memory) and allocates one tensor as
large as everything held before the refusal (rounded down to whole steps).
Pass when the refusal came and was an out-of-memory error, the bytes allocated
before it (torch.cuda.memory_allocated) are <= --quota and >=
--quota - 2 steps - 1 GiB (most of the quota was usable), and the allocation
after freeing succeeded (and, where torch.cuda.memory_snapshot says, the
segments were expandable ones). Prints one JSON line (also torch.cuda.mem_get_info
before, at the refusal and after freeing; "reasons" says what failed). Exit
status 0 on a pass, 1 otherwise. No output file: nothing here is compared
with a native run.
"""

import argparse
import os
import re

from common import StartupClock, emit, fail, run_main

CLOCK = StartupClock()
MIB = 1 << 20
GIB = 1 << 30


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quota", type=int, required=True, help="the proxy's --guest-mem-quota, bytes")
    p.add_argument("--step", type=int, default=256 * MIB, help="bytes per tensor (default 256 MiB)")
    p.add_argument("--max-bytes", type=int, default=None, help="stop without a refusal past this (default quota + 4 steps)")
    return p.parse_args()


def mem_info(torch):
    free, total = torch.cuda.mem_get_info()
    return {"free": int(free), "total": int(total)}


def gib(n):
    return round(n / GIB, 3)


def main():
    args = parse_args()
    if args.quota <= 0 or args.step <= 0:
        fail("quota", f"--quota {args.quota} and --step {args.step} must be positive")
    max_bytes = args.max_bytes if args.max_bytes is not None else args.quota + 4 * args.step
    conf = os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "")
    if not re.search(r"(^|,)\s*expandable_segments\s*:\s*True\s*(,|$)", conf):
        fail("quota", f"PYTORCH_CUDA_ALLOC_CONF is {conf!r}: this check needs expandable_segments:True", alloc_conf=conf)

    import torch

    import models

    CLOCK.mark("imports")
    if not torch.cuda.is_available():
        fail("quota", "torch.cuda.is_available() is False", torch=torch.__version__)
    libcuda = models.init_cuda()
    CLOCK.mark("cuda_context")
    before = mem_info(torch)

    tensors = []
    refused = False
    refusal = None
    while torch.cuda.memory_allocated() + args.step <= max_bytes:
        try:
            t = torch.empty(args.step, dtype=torch.uint8, device="cuda")
            t.fill_(1)
            torch.cuda.synchronize()
        except torch.cuda.OutOfMemoryError as err:
            refused = True
            refusal = str(err).strip()[:600]
            break
        except RuntimeError as err:  # a refusal that is not an out-of-memory error, or a fault
            fail(
                "quota",
                f"tensor {len(tensors) + 1} ({args.step} bytes) failed with a {type(err).__name__} that is not "
                f"torch.cuda.OutOfMemoryError: {str(err).strip()[:600]}",
                allocated=torch.cuda.memory_allocated(),
                tensors=len(tensors),
                quota=args.quota,
                libcuda=libcuda,
            )
        tensors.append(t)
        del t
    allocated = int(torch.cuda.memory_allocated())
    reserved = int(torch.cuda.memory_reserved())
    at_refusal = mem_info(torch)
    expandable = None
    try:
        segments = torch.cuda.memory_snapshot()
        flags = [s["is_expandable"] for s in segments if "is_expandable" in s]
        expandable = any(flags) if flags else None
    except Exception:  # noqa: BLE001 - the snapshot's keys are not a stable API; report unknown
        pass
    CLOCK.mark("fill")

    count = len(tensors)
    del tensors
    torch.cuda.empty_cache()
    torch.cuda.synchronize()
    after_free_allocated = int(torch.cuda.memory_allocated())
    after_free_reserved = int(torch.cuda.memory_reserved())
    after_free = mem_info(torch)

    again_bytes = max(args.step, allocated // args.step * args.step)
    came_back = False
    again_error = None
    try:
        t = torch.empty(again_bytes, dtype=torch.uint8, device="cuda")
        t.fill_(1)
        torch.cuda.synchronize()
        came_back = int(t[-1].item()) == 1
        del t
        torch.cuda.empty_cache()
    except RuntimeError as err:
        again_error = f"{type(err).__name__}: {str(err).strip()[:600]}"
    CLOCK.mark("again")

    floor = args.quota - 2 * args.step - GIB
    reasons = []
    if not refused:
        reasons.append(f"no out-of-memory refusal up to {allocated} bytes ({gib(allocated)} GiB) with a {gib(args.quota)} GiB quota")
    if allocated > args.quota:
        reasons.append(f"{allocated} bytes allocated, more than the quota {args.quota}")
    if allocated < floor:
        reasons.append(f"only {allocated} bytes ({gib(allocated)} GiB) allocated before the refusal, under {floor} (quota - 2 steps - 1 GiB)")
    if expandable is False:
        reasons.append("PyTorch's memory snapshot shows no expandable segment: PYTORCH_CUDA_ALLOC_CONF was not applied")
    if not came_back:
        reasons.append(f"after freeing, {again_bytes} bytes could not be allocated again" + (f": {again_error}" if again_error else " (wrong contents)"))
    ok = not reasons
    emit(
        {
            "check": "quota",
            "pass": ok,
            "reasons": reasons,
            "quota": args.quota,
            "step": args.step,
            "max_bytes": max_bytes,
            "refused": refused,
            "refusal": refusal,
            "tensors": count,
            "allocated": allocated,
            "allocated_gib": gib(allocated),
            "reserved": reserved,
            "mem_get_info": {"before": before, "at_refusal": at_refusal, "after_free": after_free},
            "total_is_quota": before["total"] == args.quota,
            "after_free_allocated": after_free_allocated,
            "after_free_reserved": after_free_reserved,
            "again_bytes": again_bytes,
            "came_back": came_back,
            "alloc_conf": conf,
            "is_expandable": expandable,
            "device": torch.cuda.get_device_name(),
            "libcuda": libcuda,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "startup_s": CLOCK.result(),
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    run_main("quota", main)
