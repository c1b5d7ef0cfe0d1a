"""Replacement damage: all layers of a group replaced at once, per arch / task, group and donor."""

from __future__ import annotations

from reusebench.protocol import DONORS, GROUPS
from reusebench.report.format import _group, _mean, _pairs, _pm, _present, _seeds_text, _table, fmt


def _damage_cell(cases: list[dict] | None) -> str:
    if not cases:
        return "n/a"
    return f"{_pm(c['damage'] for c in cases)} ({fmt(_mean(c['delta'] for c in cases))})"


def cases_section(cases: list[dict], audit: bool = False) -> list[str]:
    out = []
    picked = [c for c in cases if c["scope"] == "all" and c["recalibration"] == "none"]
    for (arch, task), items in _pairs(picked):
        cells = _group(items, "group", "donor")
        donors = _present(DONORS, (d for _, d in cells))
        rows = [[g, *(_damage_cell(cells.get((g, d))) for d in donors)] for g in _present(GROUPS, (g for g, _ in cells))]
        targets = list({c.get("seed"): c for c in items}.values())  # one per seed: T and T0 depend on it
        out += [
            f"## Replacement damage: {arch} / {task}",
            "",
            f"Metric {items[0]['metric']} on the {'validation data' if audit else 'test split'}: trained T = {_pm(c['m_target'] for c in targets)}, "
            f"initialisation T0 = {_pm(c['m_init'] for c in targets)}. All layers of a group replaced at once, no "
            f"recalibration. Each cell: mean damage over {_seeds_text(targets)} ± half the range (max - min) over "
            "seeds, then (mean delta); `n/a`: not measured.",
            "",
            _table(rows, ["group", *donors]),
            "",
        ]
    return out
