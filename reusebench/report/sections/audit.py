"""The verdict of an audit of the user's own network: what it can reuse from its pre-trained model."""

from __future__ import annotations

from reusebench.report.format import _table, fmt


def verdict_section(verdicts: list[dict]) -> list[str]:
    """An audit's answer on one screen: per group and per layer, reuse, reuse after AdaBN, or retrain."""
    if not verdicts:
        return []
    v = verdicts[0]
    def iv(value, ci) -> str:
        return fmt(value) if not ci else f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]"

    def held(g) -> str:  # "3 of 27 convs"; older records carry the count alone
        return f"{g['layers']} of {g['of']} {g['kind']}" if "of" in g else str(g["layers"])

    def verdict(g) -> str:
        text = f"**{g['verdict']}**"
        if g["verdict"] == "not applicable":
            return f"{text} (no {g['kind']})" if not g.get("of") else f"{text} (none of its {g['of']} {g['kind']} holds it)"
        if g.get("of") and g["layers"] < g["of"] / 2:  # a small part of the network: the verdict is about that part
            return f"{text} (only {held(g)})"
        return text

    rows = [[g["group"], held(g), iv(g["damage"], g.get("damage_ci95")) if g["damage"] is not None else "-",
             iv(g["damage_adabn"], g.get("damage_adabn_ci95")) if g["damage_adabn"] is not None else "-", verdict(g)]
            for g in v["groups"]]
    groups = [g["group"] for g in v["groups"] if g["verdict"] != "not applicable"]
    cells = {(r["layer"], r["group"]): r for r in v["layers"]}
    layers = list(dict.fromkeys(r["layer"] for r in v["layers"]))
    short = {"reuse": "reuse", "reuse + AdaBN": "AdaBN", "re-estimate (AdaBN)": "re-est.", "retrain": "RETRAIN",
             "inconclusive": "unsure", "undefined": "?", "not applicable": "n/a"}
    layer_rows = [[f"`{layer}`", *(f"{short[c['verdict']]} {fmt(c['damage'], 2)}" if (c := cells.get((layer, g))) else ""
                                   for g in groups)] for layer in layers]
    counts = {k: sum(1 for g in v["groups"] if g["verdict"] == k) for k in short}
    return [
        f"## Verdict: what `{v['name']}` can reuse from your pre-trained model",
        "",
        f"Target metric `{v['metric']}` {fmt(v['m_target'])} (its initialisation {fmt(v['m_init'])}). Each parameter group "
        f"replaced by the pre-trained model's values: **reuse** if damage <= {v['reusable_max']} as is (the whole 95% "
        "interval over your validation images), **reuse + AdaBN** "
        "if re-estimating the BN statistics on your training data brings it there (for the running statistics "
        "themselves: **re-estimate (AdaBN)**, do not reuse them), **retrain** when the interval is above it either way, "
        "**inconclusive** when an interval straddles it. Groups overlap (weight, bias, "
        "affine); counts: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ".",
        "",
        _table(rows, ["group", "modules holding it (of those called)", "damage", "damage after AdaBN", "verdict"]),
        "",
        "Layer by layer (one layer's group replaced at a time; cell: verdict and damage without AdaBN):",
        "",
        _table(layer_rows, ["layer", *groups]),
        "",
        "Counts are over the modules the forward pass calls; modules it never calls, and those no group covers, "
        "are listed under *Parameter groups*; neither is replaced.",
        "",
    ]
