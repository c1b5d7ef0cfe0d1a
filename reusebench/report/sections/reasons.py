"""R1 (features are general: fine-tuning from a donor's groups) and R2 (the fine-tune stays close to the donor)."""

from __future__ import annotations

from collections.abc import Sequence

from reusebench.files import num
from reusebench.protocol import REUSE_VARIANTS
from reusebench.report.format import (
    _by_seed,
    _first_seed,
    _group,
    _mean,
    _pairs,
    _per_seed,
    _pm,
    _present,
    _rank,
    _seeds_text,
    _table,
    fmt,
)
from reusebench.report.registry import Figures


def r1_section(runs: list[dict], figures: Figures) -> list[str]:
    if not runs:
        return []
    out = [
        "### R1: features are general",
        "",
        "Each variant fine-tunes the target task from a start (`scratch`: the target's own initialisation; "
        "otherwise the donor's groups named by the variant) on a slice of the training split, with the same step "
        "budget. `m_test`: the primary metric on the test split after the fine-tune. `advantage = (m_test - "
        "m_test(scratch)) / (m(T) - m(T0))`: the head start, in units of what full training gains over "
        "initialisation (same seed).",
        "",
    ]
    for (arch, task), items in _pairs(runs):
        variants = _group(items, "variant")
        rows = [
            [v, variants[v][0].get("donor") or "-", _per_seed(variants[v], "m_test"), _pm(r["m_test"] for r in variants[v]),
             _per_seed(variants[v], "advantage"), _pm(r.get("advantage") for r in variants[v])]
            for v in _present(REUSE_VARIANTS, variants)
        ]
        metric = items[0]["metric"]
        link = figures.link(
            f"curves-{arch}-{task}", f"R1 learning curves, {arch} / {task}", "learning_curves",
            title=f"R1: fine-tuning {arch} / {task} ({items[0].get('steps')} steps, {items[0].get('n_slice')} images)",
            metric=metric, target=_mean(r.get("m_target") for r in items),
            runs=[(r["variant"], r.get("seed"), [(num(s), num(v)) for s, v in r.get("curve") or []])
                  for v in _present(REUSE_VARIANTS, variants) for r in _by_seed(variants[v])],
        )
        out += [
            f"#### {arch} / {task}",
            "",
            f"Metric {metric}; {items[0].get('steps')} steps on {items[0].get('n_slice')} training images; "
            f"{_seeds_text(items)}. Fully trained target T = {_pm(r.get('m_target') for r in items)}, "
            f"untrained T0 = {_pm(r.get('m_init') for r in items)} (test split).",
            "",
            _table(rows, ["variant", "donor", "m_test per seed", "m_test mean ±", "advantage per seed", "advantage mean ±"]),
            "",
            link,
            "",
        ]
    return out


def r2_section(runs: list[dict], seeds: Sequence[int]) -> list[str]:
    if not runs:
        return []
    out = [
        "### R2: close to ideal",
        "",
        "Per layer, `ratio = rmse(donor, fine-tuned) / rmse(init, trained)`: how far the fine-tune moved the "
        "donor's weights, in units of how far full training moves the initialisation; the median over layers "
        "is shown. `control`: the same ratio for the scratch run, `rmse(init, fine-tuned from scratch) / "
        "rmse(init, trained)` (how far the same budget moves weights from the initialisation). `donor to "
        "target`: median over layers of `rmse(donor, trained target) / rmse(init, trained target)`.",
        "",
    ]
    for (arch, task), items in _pairs(runs):
        ordered = sorted(items, key=lambda r: (_rank(REUSE_VARIANTS)(r["variant"]), num(r.get("seed")) or 0))
        rows = [[r["variant"], r.get("seed"), fmt(r.get("median_ratio")), fmt(r.get("control_median_ratio")),
                 fmt(r.get("donor_to_target_median_ratio"))] for r in ordered]
        seed = _first_seed(items, seeds)
        reused = [r for r in ordered if r.get("seed") == seed and r.get("rmse_layers")]
        per_layer = {(r["variant"], e["layer"]): e for r in reused for e in r["rmse_layers"]}
        layers = list(dict.fromkeys(e["layer"] for r in reused for e in r["rmse_layers"]))
        detail = [
            [layer, fmt(next((per_layer[(r["variant"], layer)]["init_to_trained"] for r in reused
                              if (r["variant"], layer) in per_layer), None), 4),
             *(fmt(per_layer.get((r["variant"], layer), {}).get("ratio")) for r in reused)]
            for layer in layers
        ]
        out += [
            f"#### {arch} / {task}",
            "",
            _table(rows, ["variant", "seed", "median ratio", "control (scratch)", "donor to target"]),
            "",
        ]
        if detail:
            out += [
                f"<details><summary>per-layer ratios, seed {seed}</summary>",
                "",
                _table(detail, ["layer", "rmse(init, trained)", *(f"ratio {r['variant']}" for r in reused)]),
                "",
                "</details>",
                "",
            ]
    return out
