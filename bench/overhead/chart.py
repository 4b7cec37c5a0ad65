"""Draw the chart of one bench:overhead run from its JSON.

    python3 bench/overhead/chart.py bench-overhead-STAMP.json [OUT.png]

run-bench-overhead runs this itself at the end, with the Python that holds
PyTorch (the GPU machine's has matplotlib); anywhere else:
`python3 -m pip install matplotlib` and run it on the JSON.

Left: every ratio libvgpu / native (latency p50 and p99, throughput, the 64 MiB
page-locked copies), green where its target is met, red where missed, grey
where no target is set; a short black bar marks each target, the dashed line
is parity. Right: the synchronous round trip in µs, native and libvgpu, with
the 3 µs target.
"""

import json
import math
import sys


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    src = argv[1]
    dst = argv[2] if len(argv) == 3 else (src[:-5] if src.endswith(".json") else src) + ".png"
    with open(src) as f:
        data = json.load(f)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chart = data["chart"]
    bars = chart["ratios"]
    measured = lambda b: isinstance(b.get("ratio"), (int, float)) and math.isfinite(b["ratio"])  # noqa: E731
    sync = chart.get("syncRoundTrip")

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 0.42 * max(6, len(bars)) + 1.6), gridspec_kw={"width_ratios": [3, 1]})
    labels = [b["label"] for b in bars]
    values = [b["ratio"] if measured(b) else 0.0 for b in bars]
    colors = []
    for b in bars:
        t = b.get("target")
        if not measured(b):
            colors.append("#ffffff")
        elif t is None:
            colors.append("#9e9e9e")
        else:
            ok = b["ratio"] <= t if b["better"] == "lower" else b["ratio"] >= t
            colors.append("#2e7d32" if ok else "#c62828")
    y = list(range(len(bars)))
    ax.barh(y, values, color=colors, height=0.6)
    for i, b in enumerate(bars):
        if b.get("target") is not None:
            ax.plot([b["target"], b["target"]], [i - 0.42, i + 0.42], color="black", linewidth=2.2)
            ax.annotate(
                f"{'≤' if b['better'] == 'lower' else '≥'} {b['target']:g}",
                (b["target"], i - 0.42), xytext=(3, 0), textcoords="offset points", fontsize=7, va="top",
            )
        if measured(b):
            ax.annotate(f"{b['ratio']:.3f}x", (b["ratio"], i), xytext=(-4, 0), textcoords="offset points",
                        fontsize=8, ha="right", va="center", color="white", fontweight="bold")
        else:
            ax.annotate("not measured", (0, i), xytext=(4, 0), textcoords="offset points", fontsize=8, va="center",
                        xycoords=("axes fraction", "data"), color="#c62828" if b.get("target") is not None else "black")
    ax.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    shown = [v for b, v in zip(bars, values) if measured(b)]
    lo = min(shown + [0.9])
    hi = max(shown + [1.05])
    ax.set_xlim(max(0.0, lo - 0.1), hi + 0.12)
    ax.set_xlabel("libvgpu / native")
    ax.set_title("ratio per metric (green: target met, red: missed, grey: no target)", fontsize=10)

    if sync and sync.get("native") is not None:
        names = ["native", "libvgpu"]
        vals = [sync["native"], sync["libvgpu"] if sync.get("libvgpu") is not None else 0.0]
        ok = sync.get("libvgpu") is not None and sync["libvgpu"] <= sync["target"]
        ax2.bar(names, vals, color=["#607d8b", "#2e7d32" if ok else "#c62828"])
        ax2.axhline(sync["target"], color="black", linewidth=1.5)
        ax2.annotate(f"target ≤ {sync['target']:g} µs", (-0.45, sync["target"]), fontsize=8, va="bottom", ha="left")
        for i, v in enumerate(vals):
            ax2.annotate(f"{v:.2f}", (i, v), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8)
        ax2.set_ylabel("µs (p50)")
        ax2.set_title("synchronous round trip", fontsize=10)
    else:
        ax2.text(0.5, 0.5, "bench:calls\nnot run", ha="center", va="center", transform=ax2.transAxes)
        ax2.set_axis_off()

    host = data.get("host") or {}
    title = f"bench:overhead {data.get('date', '')[:19]} - {host.get('gpu') or '?'} (driver {host.get('gpuDriver') or '?'}), {host.get('hostname', '?')}"
    if data.get("rehearsal"):
        title += " - REHEARSAL: both columns native"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
