"""C1's distance, chosen with evidence: how each kernel distance relates to the layer's
initialisation scale (the confound) and to the layer's damage, over a run's C1 records.

    python scripts/c1_distances.py results/smoke/records.json

Per distance (``reusebench.analysis.KERNEL_DISTANCES``): the mean over cells (arch x task x
donor) and seeds of Spearman's rho between the distance and the standard deviation of the
target's initial kernel, and between the distance and the damage, per arch x task and over
all. The rule fixed before looking at the damage column: C1 uses the scale-free distance with
the smallest mean |rho with the initialisation scale|; the damage column is shown, never used
to choose.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from tabulate import tabulate


from reusebench.analysis import C1_DISTANCE, KERNEL_DISTANCES  # noqa: E402
from reusebench.files import num  # noqa: E402


def _mean(values) -> float:
    finite = [v for v in map(num, values) if v is not None and math.isfinite(v)]
    return statistics.fmean(finite) if finite else math.nan


def _abs(value) -> float:
    v = num(value)
    return math.nan if v is None else abs(v)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="?", default="results/smoke/records.json")
    args = parser.parse_args()
    records = [r for r in json.loads(Path(args.records).read_text())["records"] if r["kind"] == "rmse_damage"]
    if not records or "rho_with_init_scale" not in records[0]:
        print(f"{args.records}: no C1 records with per-distance correlations", file=sys.stderr)
        return 1
    pairs = sorted({(r["arch"], r["task"]) for r in records})
    rows = []
    for kind in KERNEL_DISTANCES:
        row = [kind]
        for arch, task in pairs:
            mine = [r for r in records if (r["arch"], r["task"]) == (arch, task)]
            row.append(f"{_mean(r['rho_with_init_scale'][kind] for r in mine):+.2f} / {_mean(r['rho_by_distance'][kind] for r in mine):+.2f}")
        row.append(f"{_mean(_abs(r['rho_with_init_scale'][kind]) for r in records):.2f}")
        row.append(f"{_mean(r['rho_by_distance'][kind] for r in records):+.2f}")
        rows.append(row)
    headers = ["distance", *(f"{a}/{t}: rho with init scale / with damage" for a, t in pairs), "mean |rho with init scale|", "mean rho with damage"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    scale_free = [k for k in KERNEL_DISTANCES if k != "rmse"]
    best = min(scale_free, key=lambda k: _mean(_abs(r["rho_with_init_scale"][k]) for r in records))
    print(f"\n{len(records)} C1 measurements (cells x seeds). Least confounded scale-free distance: {best}; "
          f"C1 uses {C1_DISTANCE}" + ("" if best == C1_DISTANCE else " (DIFFERENT: revisit reusebench.analysis.C1_DISTANCE)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
