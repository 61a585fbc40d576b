"""bench/plot.py RESULTS.md OUT.png — draws nw0-bench's table: networkzero next to its
baseline from the same run. Top: times (discovery, round trips), log scale. Bottom:
news throughput without loss (k items/s), against raw libzmq and Python."""
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def first_time(text):
    """The first 'N ms|µs|s' in text, in milliseconds."""
    m = re.search(r"([\d.]+) (ms|µs|s)\b", text)
    if not m:
        return None
    return float(m.group(1)) * {"s": 1000.0, "ms": 1.0, "µs": 0.001}[m.group(2)]


def first_rate(text):
    """The first 'N k msg/s' in text."""
    m = re.search(r"([\d.]+) k msg/s", text)
    return float(m.group(1)) if m else None


times, rates = [], []
for line in open(sys.argv[1], encoding="utf-8"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) != 4 or cells[0] in ("measurement", "---"):
        continue
    what, ours, base, _ = cells
    if "flow-controlled" in what:
        a, b = first_rate(ours), first_rate(base)
        who = "Python networkzero" if "Python" in what else "raw libzmq"
        if a is not None and b is not None:
            rates.append((f"news, nothing lost: vs {who}", a, b))
        continue
    a, b = first_time(ours), first_time(base)
    if a is not None and b is not None:
        times.append((what, a, b))

fig, (top, bottom) = plt.subplots(
    2, 1, figsize=(10, 0.7 * (len(times) + len(rates)) + 2.5),
    gridspec_kw={"height_ratios": [max(len(times), 1), max(len(rates), 1) + 0.6]},
)


def bars(ax, rows, xlabel, legend_at=None):
    ys = range(len(rows))
    ax.barh([y + 0.2 for y in ys], [r[1] for r in rows], height=0.4, label="networkzero (Rust)")
    ax.barh([y - 0.2 for y in ys], [r[2] for r in rows], height=0.4, label="baseline (same run)")
    ax.set_yticks(list(ys))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    if legend_at:
        ax.legend(loc=legend_at, fontsize=8)


bars(top, times, "milliseconds, median (log scale; shorter is better)", "lower right")
# The same colours as above; bars start at 1 k/s so Python's shows.
bars(bottom, rates, "thousand news items per second, median (log scale; longer is better)")
bottom.set_xlim(left=1)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print("written to", sys.argv[2])
