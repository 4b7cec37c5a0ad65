"""LoadGen TestSettings for one model and scenario: MLPerf's rules (the
mlperf.conf built into LoadGen), then the user's user.conf, then what the
calibration measured for the keys the user's file leaves unset, then --quick.

LoadGen reads its built-in mlperf.conf once per process, on the first
FromConfig: hence one process per model and scenario.
"""

import os
import shutil

SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")

# Server: the largest batch whose latency is at most this share of the latency bound. A query
# waits at most for the batch in flight, then runs in the next: about twice a batch's time.
# (Seen on an H100, eager fp16 ResNet-50: 6.2 ms at batch 1, 7.5 ms at 64, against a 15 ms bound.)
SERVER_BATCH_LATENCY_SHARE = 0.5
# Server: the calibrated target is this share of what that batch size sustains.
SERVER_LOAD = 0.5
# Offline: LoadGen issues expected_qps x min_duration x 1.1 samples; over-estimating a little keeps
# min_duration met when a path runs slower than the calibration.
OFFLINE_QPS_MARGIN = 1.1
# SingleStream/MultiStream: LoadGen pre-generates min_duration / expected latency queries and stops
# when both minimums are met, so under-estimating the latency is safe, over-estimating is not.
STREAM_LATENCY_MARGIN = 0.5

QUICK_MIN_DURATION_MS = 5_000
QUICK_MIN_QUERY_COUNT = 100

# The user.conf key that the calibration fills per scenario, when the user's file leaves it unset.
CALIBRATED_KEY = {
    "Offline": "target_qps",
    "Server": "target_qps",
    "SingleStream": "target_latency",
    "MultiStream": "target_latency",
}


def parse_conf(path):
    """user.conf/mlperf.conf lines "model.scenario.key = value" -> [(model, scenario, key, value)]."""
    entries = []
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            name, sep, value = line.partition("=")
            parts = name.strip().split(".")
            if not sep or len(parts) != 3 or not value.strip():
                raise ValueError(f"{path}:{number}: expected 'model.scenario.key = value', got {raw.strip()!r}")
            entries.append((parts[0], parts[1], parts[2], value.strip()))
    return entries


def user_sets(entries, model, scenario, key):
    """Whether the parsed user.conf sets `key` for this model and scenario (wildcards count)."""
    return any(
        k == key and m in (model, "*") and s in (scenario, "*")
        for m, s, k, _ in entries
    )


def derive_targets(batch_ms, server_latency_ns, samples_per_query):
    """From calibrated batch latencies {batch: ms}: the values LoadGen needs per scenario."""
    sizes = sorted(batch_ms)
    if not sizes:
        raise ValueError("calibration measured no batch size")
    offline_batch = max(sizes, key=lambda b: (b / batch_ms[b], b))
    bound_ms = server_latency_ns / 1e6 * SERVER_BATCH_LATENCY_SHARE
    fitting = [b for b in sizes if batch_ms[b] <= bound_ms]
    server_batch = max(fitting) if fitting else sizes[0]

    def latency_of(n):
        # Nearest measured batch size at or above n, else the largest, scaled linearly.
        above = [b for b in sizes if b >= n]
        b = above[0] if above else sizes[-1]
        return batch_ms[b] * (1 if above else n / b)

    return {
        "offline_batch": offline_batch,
        "offline_qps": offline_batch / batch_ms[offline_batch] * 1000,
        "server_batch": server_batch,
        "server_qps": SERVER_LOAD * server_batch / batch_ms[server_batch] * 1000,
        "single_stream_latency_ms": latency_of(1),
        "multi_stream_latency_ms": latency_of(samples_per_query),
    }


def build_settings(lg, model, scenario, mode, out_dir, user_conf=None, batch_ms=None, quick=False, overrides=None):
    """TestSettings for this process, and a record of where each harness-set value came from.

    lg: the mlperf_loadgen module. batch_ms: calibration {batch: ms}, or None (no calibration:
    the user's file or `overrides` must give the rates). overrides: {"target_qps": x,
    "expected_latency_ms": y} from the command line, above calibration, below the user's file.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}")
    # Keep the user.conf this run used beside LoadGen's logs (an empty one when none was given).
    kept = os.path.join(out_dir, "user.conf")
    if user_conf:
        if not os.path.exists(user_conf):
            raise FileNotFoundError(f"user.conf {user_conf} does not exist")
        shutil.copyfile(user_conf, kept)
    else:
        with open(kept, "w") as f:
            f.write("# no user.conf given: MLPerf's rules (mlperf.conf, built into LoadGen) and the calibration apply\n")
    entries = parse_conf(kept)

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    rc = settings.FromConfig(kept, model, scenario)
    if rc != 0:
        raise ValueError(f"LoadGen rejected {user_conf or kept} (FromConfig returned {rc}); see mlperf_log_detail.txt")
    settings.mode = lg.TestMode.AccuracyOnly if mode == "accuracy" else lg.TestMode.PerformanceOnly

    record = {"user_conf": user_conf, "quick": quick, "from_user_conf": [], "from_calibration": {}, "from_flags": {}}
    overrides = overrides or {}
    key = CALIBRATED_KEY[scenario]
    if user_sets(entries, model, scenario, key):
        record["from_user_conf"].append(key)
    else:
        targets = None
        if batch_ms:
            targets = derive_targets(batch_ms, settings.server_target_latency_ns, settings.multi_stream_samples_per_query)
            record["derived"] = targets
        value, source = _target(scenario, targets, overrides)
        if value is None:
            raise ValueError(
                f"no {scenario} {key}: the user.conf does not set {model}.{scenario}.{key}, "
                "and there is neither a calibration nor a command-line value"
            )
        _set_target(settings, scenario, value)
        record["from_flags" if source == "flag" else "from_calibration"][key] = value

    if quick:
        settings.min_duration_ms = QUICK_MIN_DURATION_MS
        settings.max_duration_ms = 4 * QUICK_MIN_DURATION_MS
        settings.min_query_count = 1 if scenario == "Offline" else QUICK_MIN_QUERY_COUNT
        record["quick_overrides"] = {
            "min_duration_ms": settings.min_duration_ms,
            "max_duration_ms": settings.max_duration_ms,
            "min_query_count": settings.min_query_count,
        }
    return settings, record


def _target(scenario, targets, overrides):
    if scenario in ("Offline", "Server"):
        if overrides.get("target_qps"):
            return overrides["target_qps"], "flag"
        if targets:
            return (targets["offline_qps"] * OFFLINE_QPS_MARGIN if scenario == "Offline" else targets["server_qps"]), "calibration"
    else:
        if overrides.get("expected_latency_ms"):
            return overrides["expected_latency_ms"], "flag"
        if targets:
            name = "single_stream_latency_ms" if scenario == "SingleStream" else "multi_stream_latency_ms"
            return targets[name] * STREAM_LATENCY_MARGIN, "calibration"
    return None, None


def _set_target(settings, scenario, value):
    if scenario == "Offline":
        settings.offline_expected_qps = float(value)
    elif scenario == "Server":
        settings.server_target_qps = float(value)
    elif scenario == "SingleStream":
        settings.single_stream_expected_latency_ns = max(1, int(value * 1e6))
    else:
        settings.multi_stream_expected_latency_ns = max(1, int(value * 1e6))
