"""BN recalibration (AdaBN): damage without and with re-estimated BN statistics."""

from __future__ import annotations

from reusebench.protocol import DONORS, GROUPS
from reusebench.report.format import _group, _mean, _pairs, _present, _table, fmt


def adabn_section(cases: list[dict]) -> list[str]:
    alls = [c for c in cases if c["scope"] == "all"]
    recalibrated = {(c["arch"], c["task"]) for c in alls if c["recalibration"] == "adabn"}
    out = []
    for (arch, task), items in _pairs([c for c in alls if (c["arch"], c["task"]) in recalibrated]):
        cells = _group(items, "group", "donor", "recalibration")
        pairs = {k[:2] for k in cells if k[2] == "adabn"}
        donors = _present(DONORS, (d for _, d in pairs))
        rows = [
            [g, *(f"{fmt(_mean(c['damage'] for c in cells.get((g, d, 'none'), [])))} → "
                  f"{fmt(_mean(c['damage'] for c in cells.get((g, d, 'adabn'), [])))}" if (g, d) in pairs else "n/a"
                  for d in donors)]
            for g in _present(GROUPS, (g for g, _ in pairs))
        ]
        out += [f"#### {arch} / {task}", "", _table(rows, ["group", *donors]), ""]
    if not out:
        return []
    return [
        "### BN recalibration (AdaBN)",
        "",
        "After the replacement, AdaBN (Li et al. 2016) re-estimates every BN layer's running statistics on the "
        "target's training images (no labels, no gradients). Each cell: `damage without → damage with "
        "recalibration`, all layers of the group replaced, means over seeds.",
        "",
        *out,
    ]
