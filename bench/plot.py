"""bench/plot.py RESULTS.md OUT.png — draws the discovery and messaging rows of
nw0-bench's table: networkzero next to its baseline from the same run, log scale."""
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def first_number(text, unit):
    """The first 'N unit' in text, converted to milliseconds."""
    m = re.search(r"([\d.]+) (ms|µs|s)\b", text)
    if not m:
        return None
    value, found = float(m.group(1)), m.group(2)
    return value * {"s": 1000.0, "ms": 1.0, "µs": 0.001}[found]


rows = []
for line in open(sys.argv[1], encoding="utf-8"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) != 4 or cells[0] in ("measurement", "---"):
        continue
    what, ours, base, _ = cells
    a, b = first_number(ours, "ms"), first_number(base, "ms")
    if a is not None and b is not None:
        rows.append((what, a, b))

fig, ax = plt.subplots(figsize=(10, 0.7 * len(rows) + 1.5))
ys = range(len(rows))
ax.barh([y + 0.2 for y in ys], [r[1] for r in rows], height=0.4, label="networkzero (Rust)")
ax.barh([y - 0.2 for y in ys], [r[2] for r in rows], height=0.4, label="baseline (same run)")
ax.set_yticks(list(ys))
ax.set_yticklabels([r[0] for r in rows], fontsize=8)
ax.set_xscale("log")
ax.set_xlabel("milliseconds, median (log scale; shorter is better)")
ax.invert_yaxis()
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print("written to", sys.argv[2])
