#!/usr/bin/env python3
"""PNG charts for compare.json, with matplotlib (Agg backend, no display).

    python3 bench/loadgen/charts.py results/DATE/compare.json

Writes throughput.png (samples/s per model and scenario, native beside libvgpu)
and latency.png (p50, p90, p99 per model and scenario) next to compare.json,
and prints their paths, one a line. Exit status 3 when matplotlib is missing.
"""

import json
import math
import os
import sys

PATHS = ("native", "libvgpu")
COLOURS = {"native": "#4c72b0", "libvgpu": "#dd8452"}


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        print(f"charts: matplotlib is not installed ({err}): python3 -m pip install matplotlib", file=sys.stderr)
        return 3
    with open(argv[0]) as f:
        report = json.load(f)
    out_dir = os.path.dirname(os.path.abspath(argv[0]))
    runs = [r for r in report["runs"] if r.get("native")]
    if not runs:
        print("charts: no run with results", file=sys.stderr)
        return 1
    title_note = " (--quick: not a valid MLPerf run)" if report.get("quick") else ""
    # Column names: native/libvgpu, or "baseline (DIR)"/"other (DIR)" when two folders were compared.
    names = dict(zip(PATHS, [label.split(" ")[0] for label in report.get("labels", PATHS)]))
    versus = f"{names['native']} vs {names['libvgpu']}"
    written = []

    def grid(n):
        cols = min(3, n)
        return math.ceil(n / cols), cols

    # Throughput: one panel per run, since Offline and SingleStream differ by orders of magnitude.
    rows, cols = grid(len(runs))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, run in zip(axes.flat, runs):
        values = [(run.get(p) or {}).get("metrics", {}).get("samplesPerSecond") for p in PATHS]
        bars = ax.bar([names[p] for p in PATHS], [v or 0 for v in values], color=[COLOURS[p] for p in PATHS])
        for bar, v in zip(bars, values):
            ax.annotate("not run" if v is None else f"{v:,.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
        overhead = (run.get("verdict") or {}).get("overheads", {}).get("throughputPct")
        suffix = f"\noverhead {overhead:+.2f} %" if overhead is not None else ""
        ax.set_title(f"{run['model']} {run['scenario']}{suffix}", fontsize=9)
        ax.set_ylabel("samples/s")
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    fig.suptitle(f"Throughput, {versus}{title_note}", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out_dir, "throughput.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    # Latency percentiles, where latency is the metric (not Offline).
    lat_runs = [r for r in runs if r["scenario"] != "Offline"]
    if lat_runs:
        rows, cols = grid(len(lat_runs))
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
        keys = ("p50Ms", "p90Ms", "p99Ms")
        width = 0.38
        for ax, run in zip(axes.flat, lat_runs):
            for k, p in enumerate(PATHS):
                m = (run.get(p) or {}).get("metrics", {})
                values = [m.get(n) for n in keys]
                xs = [i + (k - 0.5) * width for i in range(len(keys))]
                ax.bar(xs, [v or 0 for v in values], width, label=names[p], color=COLOURS[p])
            ax.set_xticks(range(len(keys)))
            ax.set_xticklabels(["p50", "p90", "p99"])
            ax.set_ylabel("ms")
            ax.set_title(f"{run['model']} {run['scenario']}", fontsize=9)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(lat_runs):]:
            ax.axis("off")
        fig.suptitle(f"Latency percentiles, {versus}{title_note}", fontsize=10)
        fig.tight_layout()
        path = os.path.join(out_dir, "latency.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
