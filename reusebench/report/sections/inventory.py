"""Parameter groups: what each group holds per architecture, and which modules the groups cover."""

from __future__ import annotations

from reusebench.report.format import _table


def inventory_section(inventories: list[dict]) -> list[str]:
    if not inventories:
        return []
    out = ["## Parameter groups", ""]
    for inv in sorted(inventories, key=lambda i: i["arch"]):
        rows = [[g, v["tensors"], v["scalars"]] for g, v in inv["groups"].items()]
        feeding = inv["conv_feeding_bn"]
        not_feeding = [c for c in inv["conv_layers"] if c not in feeding]
        out += [
            f"### {inv['arch']}",
            "",
            _table(rows, ["group", "tensors", "scalars"]),
            "",
            f"{len(feeding)} of {len(inv['conv_layers'])} convs feed a BN layer directly (their bias is cancelled "
            f"by BN's mean subtraction in training). Convs that do not: {', '.join(f'`{c}`' for c in not_feeding) or 'none'}.",
            "",
        ]
        out += _coverage_lines(inv.get("coverage"))
    return out


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
