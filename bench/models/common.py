"""What every script of bench/models/ shares: process age, which libcuda was
loaded, one-line JSON results, and the output files the runners compare.

Standard library only: imported before torch so that start-up can be timed
from the very start of the process.

Output files (written by save_arrays, read by compare_outputs.py):
  FILE.npz                  numpy present: one array per name (np.savez)
  FILE.bin + FILE.json      numpy absent: raw little-endian bytes, and a
                            manifest {"arrays": [{name, dtype, shape, offset,
                            nbytes}]} saying where each array lies in FILE.bin
Names starting "out_" hold results (compared by value), "argmax_" hold
indices (compared for identity).
"""

import ctypes
import hashlib
import json
import math
import os
import sys
import time


def process_age_s():
    """Seconds since this process was started (exec'd), from the kernel's own
    start time in /proc/self/stat; 10 ms resolution (clock ticks)."""
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    # Field 22 (starttime, in clock ticks since boot) counts from the field
    # after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rindex(b")") + 2:].split()
    start_ticks = int(fields[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")


class StartupClock:
    """Start-up, split into stages that add up: the process age when the clock
    is made ("python": interpreter start-up), then the seconds each stage took
    up to its mark(), and "first_result": the process age at the last mark.

        clock = StartupClock()          # first thing in the script
        import torch; clock.mark("imports")
        ...
        clock.mark("first_forward")
        clock.result() -> {"python": .., "imports": .., ..., "first_result": ..}
    """

    def __init__(self):
        self._last = process_age_s()
        self._stages = {"python": round(self._last, 3)}

    def mark(self, stage):
        now = process_age_s()
        self._stages[stage] = round(now - self._last, 3)
        self._last = now

    def result(self):
        return {**self._stages, "first_result": round(self._last, 3)}


def loaded_libcuda():
    """Path of the libcuda.so.1 mapped into this process (libvgpu.so, when it stands in), or None.

    The runners check it (devkit/loaded-libcuda.ts), so that a run which
    silently picked up the wrong library cannot compare the driver with itself.
    """
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith(("libcuda.so", "libvgpu.so")):
                    return parts[5].strip()
    except OSError:
        pass
    return None


def report_libcuda():
    """Print "libcuda: <path>" on stderr, as the C test programs do; return the path."""
    path = loaded_libcuda()
    print(f"libcuda: {path if path is not None else 'unknown (not mapped)'}", file=sys.stderr, flush=True)
    return path


def emit(result):
    """The one JSON line on stdout that the runners parse (the last line starting with '{')."""
    sys.stdout.write(json.dumps(result, separators=(",", ":"), sort_keys=False) + "\n")
    sys.stdout.flush()


def fail(check, message, **extra):
    """Print a failed result and leave with status 1."""
    emit({"check": check, "pass": False, "error": message, **extra})
    sys.exit(1)


def tensor_bytes(t):
    """The raw bytes of a CPU tensor, without numpy."""
    t = t.contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())


def sha256_tensor(t):
    return hashlib.sha256(tensor_bytes(t)).hexdigest()


_TORCH_TO_NUMPY_NAME = {
    "torch.float16": "float16",
    "torch.float32": "float32",
    "torch.float64": "float64",
    "torch.int64": "int64",
    "torch.int32": "int32",
    "torch.uint8": "uint8",
}


def save_arrays(path, arrays):
    """Write {name: CPU tensor or numpy array} to path; return (files, format).

    With numpy: path itself, an .npz (written through a file object, so numpy
    adds no suffix). Without: path's stem + .bin and .json.
    """
    try:
        import numpy as np
    except ImportError:
        np = None
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    if np is not None:
        plain = {}
        for name, a in arrays.items():
            plain[name] = a.numpy() if hasattr(a, "numpy") and not isinstance(a, np.ndarray) else np.asarray(a)
        with open(path, "wb") as f:
            np.savez(f, **plain)
        return [path], "npz"
    stem = path[:-4] if path.endswith(".npz") else path
    manifest = {"arrays": []}
    offset = 0
    with open(stem + ".bin", "wb") as f:
        for name, t in arrays.items():
            raw = tensor_bytes(t)
            dtype = _TORCH_TO_NUMPY_NAME.get(str(t.dtype))
            if dtype is None:
                raise ValueError(f"save_arrays: {name}: dtype {t.dtype} has no raw format")
            manifest["arrays"].append(
                {"name": name, "dtype": dtype, "shape": list(t.shape), "offset": offset, "nbytes": len(raw)}
            )
            f.write(raw)
            offset += len(raw)
    with open(stem + ".json", "w") as f:
        json.dump(manifest, f)
    return [stem + ".bin", stem + ".json"], "bin"


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = math.ceil(q / 100.0 * len(sorted_values))
    return sorted_values[max(0, min(len(sorted_values), rank) - 1)]


def summarize_ms(values_ms):
    v = sorted(values_ms)
    n = len(v)
    mean = sum(v) / n if n else float("nan")
    var = sum((x - mean) ** 2 for x in v) / (n - 1) if n > 1 else 0.0
    return {
        "p50": percentile(v, 50),
        "p99": percentile(v, 99),
        "mean": mean,
        "std": var ** 0.5,
        "min": v[0] if v else float("nan"),
        "max": v[-1] if v else float("nan"),
        "n": n,
    }


def run_main(check, main):
    """Run main() and exit with its status; an exception prints its traceback
    on stderr and a failed JSON line on stdout (status 1)."""
    try:
        code = main()
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - report anything, then fail
        import traceback

        traceback.print_exc()
        emit({"check": check, "pass": False, "error": f"{type(err).__name__}: {err}"[:2000]})
        code = 1
    sys.exit(code)
