"""Spread between runs' records, per task and quantity: the evidence for benchmarks/tolerances.toml.

    python scripts/derive_tolerances.py A/records.json B/records.json [C/records.json ...]

For every pair of runs, prints the largest and the median absolute difference of each
quantity (primary metric of T, T', T0, and damage) over the replacement cases both
measured. Same profile, seed and device type: run-to-run spread. Other seeds (e.g.
``--set seeds=[1,0]``): seed-to-seed spread. The rule used for the committed tolerances
is in benchmarks/tolerances.toml.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tabulate import tabulate  # noqa: E402

from reusebench.baseline import QUANTITIES, from_records  # noqa: E402


def label(path: Path, doc: dict) -> str:
    env = doc["environment"]
    seeds = doc["profile"]["seeds"]
    return f"{path.parent.name}/{path.stem} ({env['device'].split(':')[0]}, torch {env['torch']}, seeds {seeds})"


def main(paths: list[str]) -> int:
    runs = []
    for p in map(Path, paths):
        doc = json.loads(p.read_text())
        runs.append((label(p, doc), from_records(doc)))
    rows = []
    for (name_a, a), (name_b, b) in itertools.combinations(runs, 2):
        for task in ("seg", "ae"):
            for q in QUANTITIES:
                diffs = [
                    abs(a["cases"][k][q] - b["cases"][k][q])
                    for k in a["cases"].keys() & b["cases"].keys()
                    if a["cases"][k]["task"] == task and math.isfinite(a["cases"][k][q]) and math.isfinite(b["cases"][k][q])
                ]
                if diffs:
                    rows.append([name_a, name_b, task, q, len(diffs), f"{max(diffs):.3g}", f"{statistics.median(diffs):.3g}"])
    print(tabulate(rows, headers=["run A", "run B", "task", "quantity", "cases", "max |A-B|", "median |A-B|"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
