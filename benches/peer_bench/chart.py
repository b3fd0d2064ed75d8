"""The chart: memlease ÷ best peer per scenario, throughput and CPU per operation (matplotlib).

The format follows the path's suffix (.svg, .png, ...). Per scenario, two bars: throughput
against the fastest peer (above 1: memlease is faster) and CPU per operation against the peer
that spends the least (below 1: memlease is cheaper); each bar names its peer.
"""

from __future__ import annotations

import math
from pathlib import Path

from .ratios import CPU_BUDGET, BestPeerRatio

BAR_HEIGHT = 0.38
THROUGHPUT_COLOR = "#2f6db3"
CPU_COLOR = "#d07a2b"
LEGEND_STRIP_IN = 0.6  # inches under the axes for the legend and the caption
TICKS = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]


def write_chart(path: Path, ratios: list[BestPeerRatio], caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    shown = [ratio for ratio in ratios if finite(ratio.throughput) or finite(ratio.cpu)]
    if not shown:
        raise ValueError("no scenario with both memlease and a peer measured")
    height = 1.2 + LEGEND_STRIP_IN + 0.55 * len(shown)
    figure, axes = plt.subplots(figsize=(9, height))
    rows = range(len(shown))
    bars = [
        ("throughput ÷ fastest peer (> 1: faster)", THROUGHPUT_COLOR, -BAR_HEIGHT / 2, True),
        ("CPU per op ÷ most frugal peer (< 1: cheaper)", CPU_COLOR, BAR_HEIGHT / 2, False),
    ]
    for label, color, offset, is_throughput in bars:
        values = [r.throughput if is_throughput else r.cpu for r in shown]
        peers = [r.fastest_peer if is_throughput else r.frugal_peer for r in shown]
        positions = [row + offset for row in rows]
        # Bars grow from parity: rightwards where memlease's figure is the larger.
        ends = [value if finite(value) else 1.0 for value in values]
        widths = [end - 1.0 for end in ends]
        axes.barh(positions, widths, height=BAR_HEIGHT, left=1.0, color=color, label=label)
        for y, value, end, peer in zip(positions, values, ends, peers, strict=True):
            text = f"{value:.2f}x vs {peer}" if finite(value) else "not measured"
            right = end >= 1.0
            axes.text(end, y, f" {text} ", va="center", ha="left" if right else "right", fontsize=8)
    axes.set_xscale("log")  # 0.5x and 2x are as far from parity
    axes.axvline(1.0, color="black", linewidth=1)
    axes.axvline(CPU_BUDGET, color=CPU_COLOR, linewidth=1, linestyle="--")
    axes.text(CPU_BUDGET, -0.75, f" CPU budget {CPU_BUDGET:g}x", color=CPU_COLOR, fontsize=8)
    low, high = x_range(shown)
    axes.set_xlim(low, high)
    ticks = [t for t in TICKS if low <= t <= high]
    axes.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    axes.minorticks_off()
    axes.set_yticks(list(rows), [ratio.scenario for ratio in shown], fontsize=9)
    axes.set_ylim(len(shown) - 0.4, -1.0)  # the first scenario on top
    axes.set_xlabel("memlease ÷ peer (log scale)")
    axes.set_title("memlease against the best peer, per scenario", fontsize=11)
    # Legend and caption in a strip of fixed height under the axes, whatever the scenario count.
    strip = LEGEND_STRIP_IN / height
    figure.legend(loc="lower center", bbox_to_anchor=(0.5, strip / 3), ncols=2, fontsize=8)
    figure.text(0.01, 0.005, caption, fontsize=7, color="#555555")
    figure.tight_layout(rect=(0, strip, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def finite(value: float) -> bool:
    return not math.isnan(value) and not math.isinf(value) and value > 0


def x_range(ratios: list[BestPeerRatio]) -> tuple[float, float]:
    """Room for every bar and its label on the log axis, parity and the budget included."""
    values = [v for r in ratios for v in (r.throughput, r.cpu) if finite(v)] + [1.0, CPU_BUDGET]
    return min(values) / 3.0, max(values) * 3.0
