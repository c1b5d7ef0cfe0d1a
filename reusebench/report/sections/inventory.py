"""Parameter groups: what each group holds per architecture, and which modules the groups cover."""

from __future__ import annotations

from reusebench.report.format import _table


def inventory_section(inventories: list[dict]) -> list[str]:
    if not inventories:
        return []
    out = ["## Parameter groups", ""]
    for inv in sorted(inventories, key=lambda i: i["arch"]):
        cover = inv.get("group_coverage", {})
        rows = [[g, v["tensors"], v["scalars"], *([f"{cover[g]['held']} of {cover[g]['of']} {cover[g]['kind']}"] if g in cover else [])]
                for g, v in inv["groups"].items()]
        rows += [[g, 0, 0, f"0 of {c['of']} {c['kind']}: not applicable"] for g, c in cover.items() if g not in inv["groups"] and c["of"]]
        feeding = inv["conv_feeding_bn"]
        not_feeding = [c for c in inv["conv_layers"] if c not in feeding]
        out += [
            f"### {inv['arch']}",
            "",
            _table(rows, ["group", "tensors", "scalars", *(["modules holding it"] if cover else [])]),
            "",
            f"{len(feeding)} of {len(inv['conv_layers'])} convs feed a BN layer directly (their bias is cancelled "
            f"by BN's mean subtraction in training). Convs that do not: {', '.join(f'`{c}`' for c in not_feeding) or 'none'}.",
            "",
        ]
        out += _never_called_lines(inv.get("never_called"))
        out += _coverage_lines(inv.get("coverage"))
    return out


def _never_called_lines(never: list | None) -> list[str]:
    """Modules the forward pass never calls: left out of every count above, never measured."""
    if not never:
        return []
    rows = [[f"`{name}`", kind, scalars] for name, kind, scalars in never]
    total = sum(scalars for *_, scalars in never)
    return [f"{len(never)} modules holding {total} scalars are **never called** by the forward pass on the data: "
            "they are left out of every count and verdict here (replacing them would change nothing):", "",
            _table(rows, ["module", "type", "scalars"]), ""]


def _coverage_lines(coverage: dict | None) -> list[str]:
    """Which module types the groups cover, and the modules with tensors they leave out."""
    if not coverage:
        return []
    covered = "; ".join(f"`{t}` ({', '.join(groups)})" for t, groups in coverage["covered"]) or "none"
    out = [f"Covered module types: {covered}.", ""]
    if coverage["uncovered"]:
        rows = [[f"`{name}`", kind, scalars] for name, kind, scalars in coverage["uncovered"]]
        out += ["Modules with parameters or buffers that no group covers (never replaced, kept from the target):", "",
                _table(rows, ["module", "type", "scalars"]), ""]
    else:
        out += ["Every module with parameters or buffers is covered by a group.", ""]
    return out
