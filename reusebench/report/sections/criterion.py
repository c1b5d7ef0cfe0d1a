"""C1: the RMSE between donor and target kernels as a criterion for a layer's damage."""

from __future__ import annotations

from collections.abc import Sequence

from reusebench.files import num
from reusebench.protocol import ARCHITECTURES, DONORS, TASKS
from reusebench.report.format import _first_seed, _group, _pairs, _per_seed, _pm, _rank, _table, fmt
from reusebench.report.registry import Figures


def c1_section(records: list[dict], seeds: Sequence[int], figures: Figures) -> list[str]:
    if not records:
        return []
    rows = []
    for (arch, task, donor), items in sorted(
        _group(records, "arch", "task", "donor").items(),
        key=lambda kv: (_rank(ARCHITECTURES)(kv[0][0]), _rank(TASKS)(kv[0][1]), _rank(DONORS)(kv[0][2])),
    ):
        rows.append([arch, task, donor, _per_seed(items, "rho"), _pm(r.get("rho") for r in items), items[0].get("n_layers")])
    out = [
        "### C1: the RMSE criterion",
        "",
        "Per layer: the RMSE between the donor's and the target's convolution kernels, and the damage of "
        "replacing that layer's kernels with the donor's. `rho`: Spearman's rank correlation over layers "
        "(positive: a larger RMSE goes with a larger damage, as C1 says).",
        "",
        _table(rows, ["arch", "task", "donor", "rho per seed", "rho mean ±", "layers"]),
        "",
    ]
    for (arch, task), items in _pairs(records):
        seed = _first_seed(items, seeds)
        first = sorted((r for r in items if r.get("seed") == seed), key=lambda r: _rank(DONORS)(r["donor"]))
        series = [(f"{r['donor']} (ρ = {fmt(r.get('rho'), 2)})", [num(e.get("rmse")) for e in r.get("layers") or []],
                   [num(e.get("damage")) for e in r.get("layers") or []]) for r in first]
        out += [figures.link(f"rmse-damage-{arch}-{task}", f"C1 RMSE vs damage, {arch} / {task}", "rmse_scatter",
                             title=f"C1: kernel RMSE vs layer damage, {arch} / {task} (seed {seed})", series=series), ""]
    return out
