"""Layer maps: one layer (or the first k of a group) replaced at a time, as figures and classes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from reusebench.files import num
from reusebench.protocol import GROUPS
from reusebench.report.classes import CRITICAL_MIN, ROBUST_MAX, layer_class
from reusebench.report.format import _first_seed, _pairs, _present, _table, fmt
from reusebench.report.registry import Figures

MAP_DONORS = {"init": "re-initialisation", "rerandom": "re-randomisation", "pretrained": "your pre-trained model"}  # the donors of the layer maps


def _ordered_layers(cases: list[dict], forward_order: Sequence[str]) -> list[str]:
    """The cases' layers in forward order (the inventory's), else by position among their group's layers."""
    rank = {name: i for i, name in enumerate(forward_order)}
    position = {}
    for c in cases:
        position[c["layer"]] = min(position.get(c["layer"], math.inf), num(c.get("position")) or math.inf)
    return sorted(position, key=lambda layer: (rank.get(layer, len(rank)), position[layer], layer))


def layer_maps_section(cases: list[dict], inventories: list[dict], seeds: Sequence[int], figures: Figures) -> list[str]:
    picked = [c for c in cases if c["scope"] in ("layer", "prefix") and c["donor"] in MAP_DONORS
              and c["recalibration"] == "none" and c.get("layer") is not None]
    if not picked:
        return []
    seed = _first_seed(picked, seeds)
    picked = [c for c in picked if c.get("seed") == seed]
    orders = {inv["arch"]: inv.get("forward_order") or [] for inv in inventories}
    out = [
        "## Layer maps",
        "",
        f"One layer (or the first k layers of a group, cumulatively) replaced at a time with its re-initialisation "
        f"(`init`, the target's own step-0 values) or a re-randomisation (`rerandom`, fresh random values), no "
        f"recalibration, seed {seed}. Rows follow the forward order; grey cells do not apply to the layer. Classes after "
        f"Zhang, Bengio, Singer 2019 (\"Are all layers created equal?\"): `robust` damage <= {ROBUST_MAX}, `critical` "
        f">= {CRITICAL_MIN}, else `intermediate`.",
        "",
    ]
    for (arch, task), items in _pairs(picked):
        out += [f"#### {arch} / {task}", ""]
        for scope, suffix in (("layer", ""), ("prefix", "-prefix")):
            subset = [c for c in items if c["scope"] == scope]
            if not subset:
                continue
            layers = _ordered_layers(subset, orders.get(arch, ()))
            cells = {(c["layer"], c["group"], c["donor"]): num(c["damage"]) for c in subset}
            donors = _present(MAP_DONORS, (c["donor"] for c in subset))
            positions = {c["layer"]: c.get("position") for c in subset}
            labels = layers if scope == "layer" else [f"1..{positions[layer]} up to {layer}" for layer in layers]
            what = "one layer at a time" if scope == "layer" else "cumulative: layers 1..k of the group"
            groups = _present(GROUPS, (c["group"] for c in subset))
            out += [figures.link(
                f"layermap-{arch}-{task}{suffix}", f"layer map, {arch} / {task}, {what}", "layer_map",
                title=f"Damage per layer, {arch} / {task} ({what}; seed {seed}, {subset[0].get('metric')})",
                rows=labels, columns=groups,
                panels={f"{d} ({MAP_DONORS[d]})": [[cells.get((layer, g, d)) for g in groups] for layer in layers] for d in donors},
            ), ""]
            if scope == "layer":
                columns = [(g, d) for g in groups for d in donors if any(k[1:] == (g, d) for k in cells)]
                rows = [[layer, *(f"{layer_class(cells[(layer, g, d)])} {fmt(cells[(layer, g, d)], 2)}"
                                  if (layer, g, d) in cells else "" for g, d in columns)] for layer in layers]
                out += [_table(rows, ["layer", *(f"{g} {d}" for g, d in columns)]), ""]
    return out
