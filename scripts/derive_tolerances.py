"""Spread between runs' records, per task and quantity: the evidence for benchmarks/tolerances.toml.

    python scripts/derive_tolerances.py A/records.json B/records.json [C/records.json ...]
    python scripts/derive_tolerances.py --toml A/records.json B/records.json   # the TOML block the rule gives

For every pair of runs, prints the largest and the median absolute difference of each
quantity (primary metric of T, T', T0, and damage) over the replacement cases both
measured. Same profile, seed and device type: run-to-run spread. Other seeds (e.g.
``--set seeds=[1,0]``): seed-to-seed spread. The rule used for the committed tolerances
is in benchmarks/tolerances.toml: 1.5 x the largest spread between runs that should agree,
with a floor of 1e-9; ``--toml`` prints the block that rule gives for the runs' profile and
device type (the nightly's second night, .github/workflows/nightly.yml).
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys
from pathlib import Path


from tabulate import tabulate  # noqa: E402

from reusebench.baseline import QUANTITIES, from_records, load_baseline  # noqa: E402


def label(path: Path, doc: dict) -> str:
    env = doc["environment"]
    seeds = doc["profile"]["seeds"]
    return f"{path.parent.name}/{path.stem} ({env['device'].split(':')[0]}, torch {env['torch']}, seeds {seeds})"


RULE_FACTOR, RULE_FLOOR = 1.5, 1e-9


def tolerance_block(runs: list[dict], stamp: str) -> str:
    """The TOML tables of benchmarks/tolerances.toml for the runs' profile and device type."""
    profiles = {(r["profile"], r["device_type"]) for r in runs}
    if len(profiles) != 1 or len(runs) < 2:
        raise SystemExit(f"--toml needs two or more runs of one profile on one device type, got {sorted(profiles)}")
    (profile, device), = profiles
    lines = [f"# {profile} on {device}: 1.5 x the largest spread of {len(runs)} runs that should agree, floor 1e-9 ({stamp})"]
    for task in ("seg", "ae"):
        spreads = {}
        for a, b in itertools.combinations(runs, 2):
            for k in a["cases"].keys() & b["cases"].keys():
                if a["cases"][k]["task"] != task:
                    continue
                for q in QUANTITIES:
                    x, y = a["cases"][k][q], b["cases"][k][q]
                    if math.isfinite(x) and math.isfinite(y):
                        spreads[q] = max(spreads.get(q, 0.0), abs(x - y))
        if spreads:
            lines.append(f"[{profile}.{device}.{task}]")
            lines += [f"{q} = {max(RULE_FACTOR * spreads[q], RULE_FLOOR):.3g}" for q in QUANTITIES if q in spreads]
            lines.append("")
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    if paths and paths[0] == "--toml":
        # a stored baseline keeps non-finite values as strings: load_baseline reads them back
        docs = [(p, load_baseline(Path(p)) if "cases" in json.loads(Path(p).read_text()) else json.loads(Path(p).read_text()))
                for p in paths[1:]]
        stamp = ", ".join(f"{Path(p).parent.name}/{Path(p).name}: torch {d.get('torch') or d['environment']['torch']}" for p, d in docs)
        # a stored baseline is already in from_records' form (the nightly compares it with tonight's records)
        print(tolerance_block([d if "cases" in d else from_records(d) for _, d in docs], stamp))
        return 0
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
