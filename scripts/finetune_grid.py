"""Would a cheaper learning-rate search choose what R1's full grid chooses? Successive halving
(Jamieson and Talwalkar 2016) replayed on a run's fine-tunes, exactly.

    python scripts/finetune_grid.py results/smoke/records.json

R1 trains every arm (and scratch) at each of the profile's ``finetune_lrs`` for the whole
budget and keeps the rate whose run ends best on the validation split
(``reusebench.analysis.choose_lr``). Successive halving trains all rates to a rung, keeps the
better ones (by the validation value at the rung; ties to the smaller rate) and trains only
those on. Each fine-tune's schedule (cosine over the whole budget) and batch order do not
depend on when it is stopped, so a halving run's rung values are the full runs' curve values
at that step, and its survivors are the full runs: this script replays every schedule on the
full grid's validation curves (``monitor_curve`` of each fine-tune in the records) and prints,
per schedule, how often it chooses the full grid's rate, the cost of the grid arms' training
steps against the full grid's, and the validation values lost where it does not.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from reusebench.analysis import choose_lr

# (rung steps, rates kept after each rung), for a budget of 60 steps evaluated every 10
SCHEDULES = [((10,), (2,)), ((20,), (2,)), ((30,), (2,)), ((40,), (2,)), ((20,), (1,)), ((30,), (1,)), ((40,), (1,)),
             ((20, 40), (2, 1)), ((10, 30), (2, 1))]


def ranked(values: dict[float, float]) -> list[float]:
    """Best first, as choose_lr orders them (a non-finite value last; ties to the smaller rate)."""
    return sorted(values, key=lambda lr: (math.isfinite(values[lr]), values[lr] if math.isfinite(values[lr]) else 0.0, -lr), reverse=True)


def halving(curves: dict[float, dict[int, float]], rungs: tuple[int, ...], keep: tuple[int, ...], budget: int) -> tuple[float, int]:
    """(the rate successive halving chooses, the training steps it spends)."""
    alive, spent, last = sorted(curves), 0, 0
    for rung, k in zip(rungs, keep):
        spent += len(alive) * (rung - last)
        last = rung
        alive = ranked({lr: curves[lr][rung] for lr in alive})[:k]
    spent += len(alive) * (budget - last)
    return choose_lr({lr: curves[lr][budget] for lr in alive}), spent


def grids(doc: dict) -> tuple[dict[tuple, dict[float, dict[int, float]]], int]:
    """Per (arch, task, seed, arm): each rate's validation curve {step: value}; the budget."""
    lrs = tuple(doc["profile"]["finetune_lrs"])
    budget = doc["profile"]["finetune_steps"]
    out: dict[tuple, dict] = defaultdict(dict)
    for f in doc["fixtures"]:
        s = f["spec"]
        if s.get("start") and f.get("monitor_curve"):
            out[s["arch"], s["task"], s["seed"], s["start"] + ("-frozen" if s["frozen"] else "")][s["lr"]] = {int(k): v for k, v in f["monitor_curve"]}
    return {k: v for k, v in out.items() if set(v) == set(lrs)}, budget


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path)
    args = parser.parse_args()
    doc = json.loads(args.records.read_text())
    grid, budget = grids(doc)
    if not grid:
        sys.exit(f"{args.records}: no fine-tune was trained at every rate of the grid")
    full_cost = sum(len(c) * budget for c in grid.values())
    print(f"{args.records}: {len(grid)} (target, arm) grids of {len(next(iter(grid.values())))} rates, budget {budget} steps")
    print(f"{'schedule (rung steps: rates kept)':<36} {'same rate':>10} {'cost':>6} {'lost where not (median, max)':>30}")
    for rungs, keep in SCHEDULES:
        same, spent, lost = 0, 0, []
        for curves in grid.values():
            full = choose_lr({lr: c[budget] for lr, c in curves.items()})
            chosen, cost = halving(curves, rungs, keep, budget)
            spent += cost
            if chosen == full:
                same += 1
            else:
                lost.append(curves[full][budget] - curves[chosen][budget])
        name = ", ".join(f"{r}: {k}" for r, k in zip(rungs, keep))
        loss = f"{statistics.median(lost):.4f}, {max(lost):.4f}" if lost else "-"
        print(f"{name:<36} {same:>4}/{len(grid):<5} {spent / full_cost:5.2f} {loss:>30}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
