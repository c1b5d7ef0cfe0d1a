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


RECAL_LABEL = {"none": "", "adabn": ", after AdaBN"}


def layer_maps_section(cases: list[dict], inventories: list[dict], seeds: Sequence[int], figures: Figures) -> list[str]:
    picked = [c for c in cases if c["scope"] in ("layer", "prefix") and c["donor"] in MAP_DONORS and c.get("layer") is not None]
    if not picked:
        return []
    seed = _first_seed(picked, seeds)
    picked = [c for c in picked if c.get("seed") == seed]
    orders = {inv["arch"]: inv.get("forward_order") or [] for inv in inventories}
    feeding = {inv["arch"]: inv.get("conv_feeding_bn") or {} for inv in inventories}
    out = [
        "## Layer maps",
        "",
        f"One layer (or the first k layers of a group, cumulatively) replaced at a time with its re-initialisation "
        f"(`init`, the target's own step-0 values) or a re-randomisation (`rerandom`, fresh random values), seed "
        f"{seed}. Each map without recalibration and, beside it, after AdaBN (every BN running statistic "
        f"re-estimated on the target's training data; not drawn for the running-statistics groups, which AdaBN "
        f"overwrites: their AdaBN map is the recalibrated target at every layer). Rows follow the forward order; grey "
        f"cells do not apply to the layer. Classes after Zhang, Bengio, Singer 2019 (\"Are all layers created "
        f"equal?\"): `robust` damage <= {ROBUST_MAX}, `critical` >= {CRITICAL_MIN}, else `intermediate`.",
        "",
    ]
    for (arch, task), items in _pairs(picked):
        out += [f"#### {arch} / {task}", ""]
        for scope, suffix in (("layer", ""), ("prefix", "-prefix")):
            subset = [c for c in items if c["scope"] == scope]
            if not subset:
                continue
            layers = _ordered_layers(subset, orders.get(arch, ()))
            cells = {(c["layer"], c["group"], c["donor"], c.get("recalibration", "none")): num(c["damage"]) for c in subset}
            donors = _present(MAP_DONORS, (c["donor"] for c in subset))
            recals = _present(RECAL_LABEL, (c.get("recalibration", "none") for c in subset))
            positions = {c["layer"]: c.get("position") for c in subset}
            labels = layers if scope == "layer" else [f"1..{positions[layer]} up to {layer}" for layer in layers]
            what = "one layer at a time" if scope == "layer" else "cumulative: layers 1..k of the group"
            groups = _present(GROUPS, (c["group"] for c in subset))
            out += [figures.link(
                f"layermap-{arch}-{task}{suffix}", f"layer map, {arch} / {task}, {what}", "layer_map",
                title=f"Damage per layer, {arch} / {task} ({what}; seed {seed}, {subset[0].get('metric')})",
                rows=labels, columns=groups,
                panels={f"{d} ({MAP_DONORS[d]}){RECAL_LABEL[r]}": [[cells.get((layer, g, d, r)) for g in groups] for layer in layers]
                        for d in donors for r in recals},
            ), ""]
            if scope == "layer":
                columns = [(g, d) for g in groups for d in donors if any(k[1:] == (g, d, "none") for k in cells)]
                rows = [[layer, *(f"{layer_class(cells[(layer, g, d, 'none')])} {fmt(cells[(layer, g, d, 'none')], 2)}"
                                  if (layer, g, d, "none") in cells else "" for g, d in columns)] for layer in layers]
                out += [_table(rows, ["layer", *(f"{g} {d}" for g, d in columns)]), ""]
                out += _bias_table(cells, layers, donors, feeding.get(arch, {}))
    return out


def _bias_table(cells: dict, layers: list[str], donors: list[str], feeds: dict) -> list[str]:
    """conv.bias layer by layer, plain and after AdaBN, with whether the conv feeds a BN layer:
    the measured form of "AdaBN removes the damage wherever the bias feeds a BN"."""
    if not any(k[1] == "conv.bias" and k[3] == "adabn" for k in cells):
        return []
    rows = []
    for layer in layers:
        if not any((layer, "conv.bias", d, "none") in cells for d in donors):
            continue
        row = [layer, f"yes ({feeds[layer]})" if layer in feeds else "no"]
        for d in donors:
            row += [fmt(cells.get((layer, "conv.bias", d, "none")), 2), fmt(cells.get((layer, "conv.bias", d, "adabn")), 2)]
        rows.append(row)
    return ["conv.bias, one layer at a time, without and with AdaBN:", "",
            _table(rows, ["conv", "feeds a BN", *(f"{d} {r}" for d in donors for r in ("plain", "AdaBN"))]), ""]
