"""M1: why conv biases feeding BN can be reused (their gradients, their drift, and the consequence)."""

from __future__ import annotations

from collections.abc import Sequence

from reusebench.protocol import ARCHITECTURES, DONORS, TASKS
from reusebench.report.format import _first_seed, _group, _pairs, _pm, _rank, _table, sci


def m1_section(records: list[dict], cases: list[dict], seeds: Sequence[int]) -> list[str]:
    picked = [c for c in cases if c["group"] == "conv.bias" and c["scope"] == "all"
              and c["donor"] in ("other_task", "other_task_indep")]
    if not records and not picked:
        return []
    out = ["### M1: why conv biases feeding BN can be reused", ""]
    if records:
        out += [
            "A conv bias that feeds a BN layer is cancelled by BN's mean subtraction in training: its gradient is "
            "zero up to rounding. Whether it then stays at its initial value depends on the optimiser: Adam divides "
            "even a round-off gradient by its own RMS, so such a bias random-walks by about the learning rate per "
            "step. Per layer (first seed): the largest absolute gradient of the bias and of the weight (training "
            "mode, one batch, the larger of init and trained), and the RMS drift of each from its initial value.",
            "",
        ]
        for (arch, task), items in _pairs(records):
            seed = _first_seed(items, seeds)
            layers = [e for r in items if r.get("seed") == seed for e in r.get("layers") or []]
            rows = [[e["layer"], "yes" if e.get("feeds_bn") else "no", sci(e.get("grad_abs_max")), sci(e.get("weight_grad_abs_max")),
                     sci(e.get("drift")), sci(e.get("weight_drift"))] for e in layers]
            out += [
                f"#### {arch} / {task} (seed {seed})",
                "",
                _table(rows, ["layer", "feeds BN", "max abs grad bias", "max abs grad weight", "bias drift", "weight drift"]),
                "",
            ]
    if picked:
        cells = _group(picked, "arch", "task", "donor", "recalibration")
        keys = sorted({k[:3] for k in cells}, key=lambda k: (_rank(ARCHITECTURES)(k[0]), _rank(TASKS)(k[1]), _rank(DONORS)(k[2])))
        rows = [[*k, *(_pm(c["damage"] for c in cells.get((*k, rc), [])) for rc in ("none", "adabn"))] for k in keys]
        out += [
            "**The consequence.** Replacing every conv bias with the other task's: with the same initialisation "
            "(`other_task`) the biases are equal and nothing changes; with an independent one (`other_task_indep`) "
            "every activation is shifted, and re-estimating BN's running statistics (AdaBN) absorbs the shift. "
            "Mean damage over seeds ± half the range.",
            "",
            _table(rows, ["arch", "task", "donor", "damage, no recalibration", "damage, AdaBN"]),
            "",
        ]
    return out
