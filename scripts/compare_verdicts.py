"""Compare the claim cells of two runs (e.g. two sets of target seeds): flips and moves.

    python scripts/compare_verdicts.py results/smoke/records.json other/smoke/records.json
    python scripts/compare_verdicts.py results/baselines/smoke.json results/smoke/records.json   # a baseline's cells

A flip (holds <-> does not hold) between two runs that differ only in their seeds means a
verdict depends on which networks were drawn; a move into or out of inconclusive is the
interval doing its job. Exit status 1 when any cell flips.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]

from reusebench.claims import claim_key  # noqa: E402


def cells(path: str) -> tuple[dict, dict]:
    """A run's records.json, or a baseline (results/baselines/<profile>.json: its claims by key)."""
    doc = json.loads(Path(path).read_text())
    if "records" not in doc and "claims" in doc:  # a baseline: outcome, value and interval per claim key
        claims = {key: {"outcome": c.get("outcome", "holds" if c.get("holds") else "does not hold"), "value": c["value"],
                        "interval": {"mean": c["value"], "low": c.get("low", float("nan")), "high": c.get("high", float("nan"))}} for key, c in doc["claims"].items()}
        return {"profile": {"seeds": f"baseline of {doc.get('profile')} on {doc.get('machine')}"}}, claims
    return doc, {claim_key(r): r for r in doc["records"] if r["kind"] == "claim"}


def main(a: str, b: str) -> int:
    doc_a, first = cells(a)
    doc_b, second = cells(b)
    print(f"A: {a} (seeds {doc_a['profile']['seeds']})\nB: {b} (seeds {doc_b['profile']['seeds']})")
    moves, flips, rows = Counter(), [], []
    for key in sorted(first.keys() & second.keys()):
        x, y = first[key], second[key]
        moves[(x["outcome"], y["outcome"])] += 1
        if {x["outcome"], y["outcome"]} == {"holds", "does not hold"}:
            flips.append(key)
        if x["outcome"] != y["outcome"]:
            ia, ib = x["interval"], y["interval"]
            tier = x.get("tier") or y.get("tier") or "evidence"  # a baseline keeps no tier: the run's
            rows.append([key, tier, f"{x['outcome']} {ia['mean']:.3f} [{ia['low']:.3f}, {ia['high']:.3f}]",
                         f"{y['outcome']} {ib['mean']:.3f} [{ib['low']:.3f}, {ib['high']:.3f}]"])
    print(tabulate([[f"{p} -> {q}", n] for (p, q), n in sorted(moves.items())], headers=["A -> B", "cells"], tablefmt="github"))
    print()
    print(tabulate(rows, headers=["cell", "tier", "A", "B"], tablefmt="github") if rows else "no cell changed its outcome")
    only = (first.keys() ^ second.keys())
    if only:
        print(f"\n{len(only)} cells in one run only")
    print(f"\nflips between holds and does not hold: {len(flips)}" + (f" ({', '.join(flips)})" if flips else ""))
    return 1 if flips else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
