"""Compare the outputs two runs wrote (common.save_arrays): native vs libvgpu.

    python3 compare_outputs.py NATIVE LIBVGPU

NATIVE and LIBVGPU are what the scripts printed as "out": an .npz, or the
.json manifest of a .bin (a .bin's path works too). Needs no GPU and no torch;
numpy when present, else the standard library (struct) reads the raw files.

Prints one JSON line:
  identical        every array has the same dtype, shape and bytes
  argmaxIdentical  every "argmax_*" array is identical (null when none)
  maxAbsDiff       largest |a - b| over every "out_*" array (NaN where the
                   two differ in which values are NaN; 0 when identical)
  arrays           {name: {identical, maxAbsDiff | null, mismatch?}}
  problems         array missing on one side, dtype or shape differing
Exit status 0 when identical, 1 when not, 2 when a file cannot be read.
"""

import json
import math
import os
import struct
import sys

_STRUCT = {"float16": "e", "float32": "f", "float64": "d", "int64": "q", "int32": "i", "uint8": "B"}


def _load_manifest(path):
    stem = path[:-5] if path.endswith(".json") else path[:-4] if path.endswith(".bin") else path
    with open(stem + ".json") as f:
        manifest = json.load(f)
    with open(stem + ".bin", "rb") as f:
        raw = f.read()
    arrays = {}
    for a in manifest["arrays"]:
        arrays[a["name"]] = (a["dtype"], tuple(a["shape"]), raw[a["offset"]:a["offset"] + a["nbytes"]])
    return arrays


def load(path):
    """{name: (dtype name, shape, raw little-endian bytes)}."""
    if path.endswith(".npz"):
        import numpy as np

        with np.load(path, allow_pickle=False) as z:
            return {k: (str(z[k].dtype), tuple(z[k].shape), np.ascontiguousarray(z[k]).astype(z[k].dtype.newbyteorder("<")).tobytes()) for k in z.files}
    return _load_manifest(path)


def _values(dtype, raw):
    code = _STRUCT.get(dtype)
    if code is None:
        raise ValueError(f"dtype {dtype} cannot be compared")
    n = len(raw) // struct.calcsize(code)
    return struct.unpack(f"<{n}{code}", raw)


def max_abs_diff(dtype, a, b):
    """Largest |a - b| of two raw arrays; NaN where NaN-ness differs."""
    try:
        import numpy as np

        x = np.frombuffer(a, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.float64)
        y = np.frombuffer(b, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.float64)
        if x.size == 0:
            return 0.0
        if np.any(np.isnan(x) != np.isnan(y)):
            return float("nan")
        both = ~np.isnan(x)
        with np.errstate(invalid="ignore"):
            d = np.abs(x[both] - y[both])
        # inf - inf is NaN: equal infinities count as no difference
        d = np.where(np.isnan(d), np.where(x[both] == y[both], 0.0, np.inf), d)
        return float(d.max()) if d.size else 0.0
    except ImportError:
        pass
    worst = 0.0
    for x, y in zip(_values(dtype, a), _values(dtype, b)):
        if math.isnan(x) or math.isnan(y):
            if math.isnan(x) != math.isnan(y):
                return float("nan")
            continue
        d = 0.0 if x == y else abs(x - y)
        worst = max(worst, d)
    return worst


def compare(native_path, vgpu_path):
    a = load(native_path)
    b = load(vgpu_path)
    problems = []
    arrays = {}
    for name in sorted(set(a) | set(b)):
        if name not in b:
            problems.append(f"{name}: written natively, missing through libvgpu")
            continue
        if name not in a:
            problems.append(f"{name}: written through libvgpu only")
            continue
        (da, sa, ra), (db, sb, rb) = a[name], b[name]
        if da != db or sa != sb:
            problems.append(f"{name}: native {da}{list(sa)}, libvgpu {db}{list(sb)}")
            arrays[name] = {"identical": False, "maxAbsDiff": None, "mismatch": "dtype or shape"}
            continue
        same = ra == rb
        entry = {"identical": same, "maxAbsDiff": None}
        if name.startswith("out_"):
            entry["maxAbsDiff"] = 0.0 if same else max_abs_diff(da, ra, rb)
        arrays[name] = entry
    argmax = [v["identical"] for k, v in arrays.items() if k.startswith("argmax_")]
    diffs = [v["maxAbsDiff"] for k, v in arrays.items() if k.startswith("out_") and v["maxAbsDiff"] is not None]
    worst = None
    if diffs:
        worst = float("nan") if any(math.isnan(d) for d in diffs) else max(diffs)
    return {
        "identical": not problems and all(v["identical"] for v in arrays.values()) and bool(arrays),
        "argmaxIdentical": (all(argmax) and not any(p.startswith("argmax_") for p in problems)) if argmax else None,
        "maxAbsDiff": worst,
        "arrays": arrays,
        "problems": problems,
    }


def _json_safe(v):
    """JSON has no NaN or Infinity: write them as strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    for p in argv[1:]:
        if not (os.path.exists(p) or os.path.exists(p + ".json")):
            print(json.dumps({"error": f"no such output file: {p}"}))
            return 2
    try:
        result = compare(argv[1], argv[2])
    except (OSError, ValueError, KeyError) as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 2
    print(json.dumps(_json_safe(result), separators=(",", ":")))
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
