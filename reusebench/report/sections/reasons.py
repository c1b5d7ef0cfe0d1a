"""R1 (features are general: transfer with the head re-initialised, fine-tuned or frozen) and R2 (a donor's kernels against the trained target's)."""

from __future__ import annotations

from collections.abc import Sequence

from reusebench.files import num
from reusebench.protocol import ABLATION_ARMS, DONORS, FINETUNE_ARMS
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


def _arm_text(arm: str) -> str:
    start, frozen = FINETUNE_ARMS.get(arm, (arm, False))
    what = {"scratch": "the target's own init", "head": "donor, head re-initialised", "half": "donor, top half re-initialised",
            "all": "whole donor, head kept", "conv": "donor convs, head kept", "conv+bn.affine": "donor convs + BN affine, head kept"}
    return what.get(start, start) + (", frozen" if frozen else "") + (" (ablation, training lr)" if arm in ABLATION_ARMS else "")


def _lrs(records: list[dict]) -> str:
    return " / ".join(f"{num(r.get('lr')):g}" if num(r.get("lr")) is not None else "-" for r in _by_seed(records))


def _mean_curve(runs: list[dict]) -> list[tuple[float, float]]:
    """The validation curve averaged over seeds, at the steps every seed's curve has."""
    curves = [{num(step): num(value) for step, value in r.get("curve") or []} for r in runs]
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    return [(step, _mean(c[step] for c in curves)) for step in steps]


def r1_section(runs: list[dict], figures: Figures) -> list[str]:
    if not runs:
        return []
    out = [
        "### R1: features are general",
        "",
        "Each arm fine-tunes the target task for the same step budget on a slice of the training split, from a "
        "start made of the `other_task` network (same seed): its lower layers with the top conv (`head`) or the top "
        "half of the convs (`half`) back at the target's initialisation (Yosinski et al. 2014), fine-tuned or "
        "`frozen` (only the re-initialised top trains; frozen BN layers keep the donor's statistics); `kept`: the "
        "whole donor, head included. Every one of these arms, and `scratch`, trains at each learning rate of the "
        "profile's grid and keeps the one whose final validation value is best. The ablation arms are the earlier "
        "design (the donor's head kept, the training lr, compared with scratch at the training lr). `advantage = "
        "(m_test - m_test(scratch)) / (m(T) - m_floor)` at the end of the budget (test split); `area`: the same gap "
        "averaged over the budget along the validation curves.",
        "",
    ]
    for (arch, task), items in _pairs(runs):
        arms = _group(items, "arm")
        rows = [
            [a, _arm_text(a), _lrs(arms[a]), _pm(r["m_test"] for r in arms[a]),
             _pm(r.get("advantage") for r in arms[a]), _pm(r.get("advantage_area") for r in arms[a])]
            for a in _present(FINETUNE_ARMS, arms)
        ]
        metric = items[0]["metric"]
        shown = [a for a in _present(FINETUNE_ARMS, arms) if a not in ABLATION_ARMS]
        link = figures.link(
            f"curves-{arch}-{task}", f"R1 learning curves, {arch} / {task}", "learning_curves",
            title=f"R1: fine-tuning {arch} / {task} ({items[0].get('steps')} steps, {items[0].get('n_slice')} images, lr chosen per arm)",
            metric=metric, target=_mean(r.get("m_target") for r in items),
            runs=[(a, f"mean of {len(arms[a])}", _mean_curve(arms[a])) for a in shown],
            legend="arm (seeds), each seed at its chosen lr",
        )
        grid = items[0].get("lr_grid") or []
        out += [
            f"#### {arch} / {task}",
            "",
            f"Metric {metric}; {items[0].get('steps')} steps on {items[0].get('n_slice')} training images; learning-rate "
            f"grid {', '.join(f'{num(x):g}' for x in grid)}; {_seeds_text(items)}. Fully trained target T = "
            f"{_pm(r.get('m_target') for r in items)}, floor {_pm(r.get('m_floor') for r in items)} (test split).",
            "",
            _table(rows, ["arm", "start", "lr chosen per seed", "m_test mean ±", "advantage (end) mean ±", "advantage (area) mean ±"]),
            "",
            link,
            "",
        ]
    return out


def r2_section(distances: list[dict], runs: list[dict], seeds: Sequence[int]) -> list[str]:
    if not distances and not runs:
        return []
    out = [
        "### R2: close to ideal",
        "",
        "Per conv layer, `ratio = rmse(donor, trained target) / rmse(target's init, trained target)`: how close the "
        "donor's kernel is to the one training found, against how close the target's own starting point was; R2 "
        "is judged on the median over layers. Context (the earlier design): `fine-tune ratio = rmse(start, "
        "fine-tuned) / rmse(init, trained)`, how far the R1 fine-tunes moved their start; with Adam it mostly "
        "measures the step budget (the scratch arm moves as far).",
        "",
    ]
    for (arch, task), items in _pairs(distances):
        donors = _group(items, "donor")
        rows = [[d, _per_seed(donors[d], "median_ratio"), _pm(r["median_ratio"] for r in donors[d])] for d in _present(DONORS, donors)]
        seed = _first_seed(items, seeds)
        first = {r["donor"]: r for r in sorted((r for r in items if r.get("seed") == seed), key=lambda r: _rank(DONORS)(r["donor"]))}
        layers = list(dict.fromkeys(e["layer"] for r in first.values() for e in r["layers"]))
        per_layer = {(d, e["layer"]): e for d, r in first.items() for e in r["layers"]}
        detail = [[layer, fmt(next((per_layer[(d, layer)]["init_to_target"] for d in first if (d, layer) in per_layer), None), 4),
                   *(fmt(per_layer.get((d, layer), {}).get("ratio")) for d in first)] for layer in layers]
        out += [f"#### {arch} / {task}", "", _table(rows, ["donor", "median ratio per seed", "mean ±"]), ""]
        if detail:
            out += [f"<details><summary>per-layer ratios, seed {seed}</summary>", "",
                    _table(detail, ["layer", "rmse(init, trained)", *(f"ratio {d}" for d in first)]), "", "</details>", ""]
    if runs:
        rows = []
        for (arch, task), items in _pairs(runs):
            arms = _group(items, "arm")
            rows += [[arch, task, a, _pm(r.get("median_ratio") for r in arms[a])] for a in _present(FINETUNE_ARMS, arms)]
        out += ["#### Context: how far the fine-tunes moved their start", "",
                _table(rows, ["arch", "task", "arm", "median fine-tune ratio mean ±"]), ""]
    return out
