"""C1: a distance between donor and target kernels as a criterion for a layer's damage."""

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
        by_kind = lambda field, kind: _pm((r.get(field) or {}).get(kind) for r in items)  # noqa: E731
        rows.append([arch, task, donor, _per_seed(items, "rho"), _pm(r.get("rho") for r in items), by_kind("rho_by_distance", "rmse"),
                     by_kind("rho_with_init_scale", "rmse"), by_kind("rho_with_init_scale", items[0].get("distance")), items[0].get("n_layers")])
    kinds = sorted({k for r in records for k in (r.get("rho_with_init_scale") or {})})
    confound = [[k, _pm((r.get("rho_with_init_scale") or {}).get(k) for r in records), _pm((r.get("rho_by_distance") or {}).get(k) for r in records)]
                for k in kinds]
    distance = records[0].get("distance", "rmse")
    out = [
        "### C1: the distance criterion",
        "",
        f"Per layer: a distance between the donor's and the target's convolution kernels, and the damage of "
        f"replacing that layer's kernels with the donor's. `rho`: Spearman's rank correlation over layers (positive: "
        f"a larger distance goes with a larger damage, as C1 says), on `{distance}`. The raw per-scalar RMSE grows "
        f"with a layer's initialisation scale (its fan-in), so it ranks layers by their shape as much as by how far "
        f"apart two kernels are; `rmse_init_scale` divides it by the standard deviation of the target's initial "
        f"kernel, `relative` is ||donor - target|| / ||target||, `cosine` is 1 - cos(donor, target). The claim's "
        f"distance is the scale-free one least rank-correlated with the initialisation scale (table below). The "
        f"power of each verdict (Monte Carlo, in the claim's evidence) is indicative: it draws each seed's layers "
        f"independently, while real seeds share their layers.",
        "",
        _table(rows, ["arch", "task", "donor", f"rho ({distance}) per seed", "rho mean ±", "rho (raw rmse) mean ±",
                      "raw rmse vs init scale", f"{distance} vs init scale", "layers"]),
        "",
        "Each distance over every cell and seed: its rank correlation with the layer's initialisation scale (the "
        "confound) and with the damage (mean ± half-range):",
        "",
        _table(confound, ["distance", "rho with init scale", "rho with damage"]),
        "",
    ]
    for (arch, task), items in _pairs(records):
        seed = _first_seed(items, seeds)
        first = sorted((r for r in items if r.get("seed") == seed), key=lambda r: _rank(DONORS)(r["donor"]))
        series = [(f"{r['donor']} (ρ = {fmt(r.get('rho'), 2)})", [num(e.get(r.get("distance", "rmse"))) for e in r.get("layers") or []],
                   [num(e.get("damage")) for e in r.get("layers") or []]) for r in first]
        out += [figures.link(f"rmse-damage-{arch}-{task}", f"C1 RMSE vs damage, {arch} / {task}", "rmse_scatter",
                             title=f"C1: kernel {first[0].get('distance', 'rmse') if first else 'rmse'} vs layer damage, {arch} / {task} (seed {seed})",
                             series=series, xlabel=f"kernel distance {distance}, donor vs target (per layer)"), ""]
    return out
