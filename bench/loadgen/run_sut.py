#!/usr/bin/env python3
"""One LoadGen test: one model, one scenario, one process.

    python3 bench/loadgen/run_sut.py --model resnet50 --scenario Offline --out DIR [--quick]
        [--mode performance|accuracy] [--user-conf user.conf] [--weights FILE]
        [--dataset DIR [--val-map FILE] | --squad-json FILE --vocab vocab.txt] [--qsl-size N]
        [--calibration FILE] [--target-qps X] [--expected-latency-ms Y]

LoadGen's logs (mlperf_log_summary.txt, mlperf_log_detail.txt, and in accuracy
mode mlperf_log_accuracy.json) go to DIR, with the user.conf used and run.json
(what was run, on what, with which weights and rates). The last stdout line is
one JSON object for the runner. Progress and diagnostics go to stderr.

--calibration FILE: batch latencies measured before the test; read when FILE
exists, else measured and written there. npm run bench:compare measures them
once per model on the native path, so that both paths get the same rates.

Exit status: 0 done, 2 bad arguments or input files, 3 missing GPU or package,
4 the SUT failed during the test.
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

LOADGEN_PIN = "mlcommons-loadgen==6.0.17"


def log(message):
    print(message, file=sys.stderr, flush=True)


def die(code, message):
    log(f"run_sut: {message}")
    print(json.dumps({"ok": False, "error": message}), flush=True)
    sys.exit(code)


def parse_args(argv):
    p = argparse.ArgumentParser(description="One MLPerf LoadGen test of ResNet-50 or BERT-Large.")
    p.add_argument("--model", required=True, choices=["resnet50", "bert"])
    p.add_argument("--scenario", required=True, choices=["SingleStream", "MultiStream", "Server", "Offline"])
    p.add_argument("--mode", default="performance", choices=["performance", "accuracy"])
    p.add_argument("--out", required=True, help="folder for LoadGen's logs")
    p.add_argument("--quick", action="store_true", help="short run for development: NOT a valid MLPerf result")
    p.add_argument("--user-conf", help="the user's user.conf (MLPerf's mlperf.conf is built into LoadGen)")
    p.add_argument("--weights", help="weights file (state dict, .pt/.pth/.safetensors); default: random, performance only")
    p.add_argument("--dataset", help="ImageNet validation folder (with val_map.txt), or a folder with dev-v1.1.json and vocab.txt")
    p.add_argument("--val-map", help="ImageNet val_map.txt (default: DATASET/val_map.txt)")
    p.add_argument("--squad-json", help="SQuAD v1.1 dev-v1.1.json")
    p.add_argument("--vocab", help="BERT uncased vocab.txt for the WordPiece tokenizer")
    p.add_argument("--qsl-size", type=int, default=0, help="samples in the QSL (synthetic default 1024; datasets: all)")
    p.add_argument("--calibration", help="calibration file: read if it exists, else measured and written")
    p.add_argument("--target-qps", type=float, help="Offline expected / Server target QPS (else user.conf, else calibration)")
    p.add_argument("--expected-latency-ms", type=float, help="SingleStream/MultiStream expected latency")
    p.add_argument("--label", default="", help="name of the path (native, libvgpu) for logs")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: fp32, only to test the harness")
    p.add_argument("--tiny", action="store_true", help="tiny BERT, fewer batch sizes: only to test the harness")
    args = p.parse_args(argv)
    if args.qsl_size < 0:
        p.error("--qsl-size must be positive")
    return args


def import_packages():
    try:
        import mlperf_loadgen as lg
    except ImportError as err:
        die(
            3,
            f"LoadGen is not installed ({err}): `python3 -m pip install {LOADGEN_PIN}`; on the GPU machine, "
            "carry .whl (bench/loadgen/prepare-carry.sh) and install it with pip --no-index --target /tmp/site",
        )
    try:
        import torch  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as err:
        die(3, f"PyTorch and numpy are needed ({err})")
    return lg


def loaded_libcuda():
    """Path of the libcuda.so.1 (or libvgpu standing in for it) in this process: bench/models/common.py's."""
    shared = os.path.join(os.path.dirname(HERE), "models")
    if shared not in sys.path:
        sys.path.insert(0, shared)
    from common import loaded_libcuda as shared_loaded_libcuda

    return shared_loaded_libcuda()


def load_calibration(path, model, runner, spec, quick):
    """Batch latencies {batch: ms}: from path when it exists, else measured now (and saved to path)."""
    import sut

    if path and os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("model") != model:
            die(2, f"calibration {path} is for {saved.get('model')}, not {model}")
        log(f"calibration: from {path} (measured on {saved.get('device', '?')})")
        return {int(b): ms for b, ms in saved["batch_ms"].items()}
    started = time.monotonic()
    batch_ms = sut.calibrate(runner, spec.batch_sizes, quick, log)
    log(f"calibration: {time.monotonic() - started:.1f} s")
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"model": model, "batch_ms": batch_ms, "device": runner_device_name(), "quick": quick}, f, indent=2)
    return batch_ms


def runner_device_name():
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"


def main(argv):
    args = parse_args(argv)
    label = f"{args.model} {args.scenario}{' ' + args.label if args.label else ''}"
    lg = import_packages()
    import torch

    import qsl_data
    import model_zoo
    import settings as settings_mod
    import sut

    if args.device == "cuda":
        if not torch.cuda.is_available():
            die(3, "no CUDA GPU visible to PyTorch (torch.cuda.is_available() is False): check the driver, "
                   "CUDA_VISIBLE_DEVICES, and for libvgpu that vgpu-proxy runs and VGPU_PROXY_SOCKET points at it")
        torch.cuda.init()
        libcuda = loaded_libcuda()
        log(f"libcuda: {libcuda or 'unknown (not mapped)'}")
        torch.backends.cudnn.benchmark = False
        dtype = torch.float16
    else:
        libcuda = None
        dtype = torch.float32
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()

    try:
        spec = model_zoo.build(args.model, args.weights, args.device, dtype, tiny=args.tiny)
    except (FileNotFoundError, ValueError) as err:
        die(2, f"model: {err}")
    log(f"[{label}] model {args.model} built in {time.monotonic() - t0:.1f} s; weights: {spec.weights_label}")
    max_batch = max(spec.batch_sizes)
    try:
        data = qsl_data.make(args.model, args, pin=args.device == "cuda", max_batch=max_batch)
    except (FileNotFoundError, ValueError, KeyError) as err:
        die(2, f"dataset: {err}")
    log(f"[{label}] dataset: {data.name}, {data.count} samples")
    runner = sut.Runner(spec, data, args.device, dtype)

    # A calibration runs before LoadGen has loaded any sample: load its samples for it, then drop them.
    warm = list(range(min(max_batch, data.count)))
    measuring = not (args.calibration and os.path.exists(args.calibration))
    if measuring:
        data.load(warm)
    batch_ms = load_calibration(args.calibration, args.model, runner, spec, args.quick)
    if measuring:
        data.unload(warm)
        if args.device == "cuda":
            torch.cuda.empty_cache()  # the test's memory figures should not hold calibration's largest batch

    overrides = {"target_qps": args.target_qps, "expected_latency_ms": args.expected_latency_ms}
    try:
        test_settings, record = settings_mod.build_settings(
            lg, args.model, args.scenario, args.mode, args.out, args.user_conf, batch_ms, args.quick, overrides
        )
    except (FileNotFoundError, ValueError) as err:
        die(2, f"settings: {err}")
    derived = record.get("derived") or settings_mod.derive_targets(
        batch_ms, test_settings.server_target_latency_ns, test_settings.multi_stream_samples_per_query
    )
    min_s = test_settings.min_duration_ms / 1000
    progress = sut.Progress(label, min_s)
    the_sut = sut.LoadGenSUT(
        lg, runner, args.scenario, args.mode == "accuracy", derived["offline_batch"], derived["server_batch"], progress
    )

    qsl = lg.ConstructQSL(data.count, min(data.count, 1024), data.load, data.unload)
    lg_sut = lg.ConstructSUT(the_sut.issue, the_sut.flush)
    out_settings = lg.LogOutputSettings()
    out_settings.outdir = os.path.abspath(args.out)
    out_settings.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = out_settings
    log_settings.enable_trace = False

    quick_note = " (--quick: NOT a valid MLPerf run)" if args.quick else ""
    log(f"[{label}] LoadGen {args.mode} run{quick_note}: min duration {min_s:.0f} s, "
        f"offline batch {derived['offline_batch']}, server batch {derived['server_batch']}")
    the_sut.start()
    progress.start()
    started = time.monotonic()
    lg.StartTestWithLogSettings(lg_sut, qsl, test_settings, log_settings)
    wall = time.monotonic() - started
    progress.stop()
    the_sut.stop()
    lg.DestroySUT(lg_sut)
    lg.DestroyQSL(qsl)
    log(f"[{label}] LoadGen done in {wall:.1f} s: {progress.done} samples, {the_sut.batches} batches")

    run = {
        "ok": True,
        "model": args.model,
        "scenario": args.scenario,
        "mode": args.mode,
        "label": args.label,
        "quick": args.quick,
        "valid_mlperf_run": False if args.quick else None,
        "performance_only": spec.performance_only,
        "weights": spec.weights_label,
        "dataset": data.name,
        "qsl_size": data.count,
        "device": runner_device_name(),
        "dtype": str(dtype).replace("torch.", ""),
        "libcuda": libcuda,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "loadgen": LOADGEN_PIN,
        "calibration_ms": batch_ms,
        "calibration_file": args.calibration,
        "settings": record,
        "derived": derived,
        "samples_done": progress.done,
        "batches": the_sut.batches,
        "test_wall_s": wall,
        "out": os.path.abspath(args.out),
        "tiny": args.tiny,
    }
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(run, f, indent=2)
    print(json.dumps(run), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
