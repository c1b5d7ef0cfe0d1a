"""The claims: a summary, one section per family (O, R, C, M, A) and their status across torch versions."""

from __future__ import annotations

from reusebench.protocol import ARCHITECTURES, TASKS
from reusebench.report.format import _by_seed, _group, _rank, _table, fmt_any
from reusebench.claims import claim_key, move
from reusebench.report.outcomes import counts, evidence, expected, is_broken, is_move, is_surprise, outcome, status
from reusebench.stats import FAILS, HOLDS, INCONCLUSIVE

FAMILIES = {"O": "Observations", "R": "Reasons", "C": "Criterion (C1)", "M": "Mechanism (M1)", "A": "Recalibration (A1)"}


def sensitivity_section(claims: list[dict], figures) -> list[str]:
    """One figure per claim: how its counts move with the threshold (evidence cells only)."""
    out = []
    for obs, items in sorted(_group(evidence(claims), "observation").items()):
        intervals = [((c.get("interval") or {}).get("low"), (c.get("interval") or {}).get("high")) for c in items]
        if not any(lo is not None for lo, _ in intervals):
            continue
        out.append(figures.link(
            f"threshold_{obs}", f"{obs}: share of cells by outcome against the threshold", "threshold_sensitivity",
            title=f"{obs}: outcomes as the threshold moves", op=items[0]["op"], threshold=items[0]["threshold"],
            intervals=[(float("nan") if lo is None else lo, float("nan") if hi is None else hi) for lo, hi in intervals],
            unit=str(items[0].get("unit", "value")),
        ))
    if not out:
        return []
    return ["### Threshold sensitivity", "",
            "Whether a count hinges on its threshold: the share of cells whose interval puts them on each side, as the "
            "threshold moves (dashed: the chosen one).", "", *(line for link in out for line in (link, ""))]


def summary_section(claims: list[dict], figures=None, calibrated_on: dict | None = None) -> list[str]:
    if not claims:
        return []
    rows = []
    for obs, items in sorted(_group(evidence(claims), "observation").items()):
        surprises = [f"{claim_key(c, ('arch', 'task', 'case'))} ({outcome(c).split('(')[-1].rstrip(')')})"
                     for c in items if is_surprise(c)]
        n = counts(items)
        rows.append([obs, items[0]["statement"], len(items), n[HOLDS], n[FAILS], n[INCONCLUSIVE], sum(map(is_move, items)),
                     ", ".join(surprises) or "none"])
    machinery = [c for c in claims if c.get("tier") == "machinery"]
    broken = [claim_key(c) for c in machinery if is_broken(c)]
    unsure = [claim_key(c) for c in machinery if status(c) == INCONCLUSIVE]
    moved = sorted((c for c in claims if is_move(c)), key=claim_key)
    where = (f" on {calibrated_on.get('machine')} (torch {calibrated_on.get('torch')}, {calibrated_on.get('date')})"
             if calibrated_on else "")
    return [
        "## Claims summary",
        "",
        "Distinct cells (architecture x task x case; cases that put the same tensors in, or follow the same training "
        "path, are one cell) that are evidence about the paper. A cell holds when its whole interval is on the claim's "
        "side of the threshold, does not hold when it is wholly on the other side, and is inconclusive otherwise; the "
        "intervals are over seeds and test images and simultaneous over each claim's cells in the profile's whole "
        "battery (`reusebench/stats.py`). "
        f"Calibrated statuses come from `benchmarks/observations.toml`, measured{where or ' in a calibration run'}: only a "
        "flip between holds and does not hold against them fails a run; a move into or out of inconclusive (another "
        "CPU model, torch build or GPU trains slightly different networks) is listed under *moved*.",
        "",
        _table(rows, ["claim", "statement", "cells", "holds", "does not hold", "inconclusive", "moved", "flips (fail the run)"]),
        "",
        f"Machinery checks (true by construction; they guard the code and are not counted above): "
        f"{sum(status(c) == HOLDS for c in machinery)}/{len(machinery)} hold"
        + (f"; inconclusive (the interval could not tell; not broken): {', '.join(unsure)}" if unsure else "")
        + (f"; **broken**: {', '.join(broken)}" if broken else "") + ".",
        "",
        *([f"Moved against the calibration (reported, not a failure): "
           + "; ".join(f"{claim_key(c)} {move(expected(c), status(c))}" for c in moved) + ".", ""] if moved else []),
        *ablation_lines(claims),
        *(sensitivity_section(claims, figures) if figures is not None else []),
    ]


def ablation_lines(claims: list[dict]) -> list[str]:
    """The ablation cells (an earlier or weaker design kept for comparison), counted apart."""
    ablation = [c for c in claims if c.get("tier") == "ablation"]
    if not ablation:
        return []
    rows = []
    for obs, items in sorted(_group(ablation, "observation").items()):
        n = counts(items)
        rows.append(f"{obs} {n[HOLDS]} / {n[FAILS]} / {n[INCONCLUSIVE]} of {len(items)}")
    return [f"Ablation cells (an earlier design, kept for comparison; not counted above), holds / does not hold / "
            f"inconclusive: {'; '.join(rows)}.", ""]


def family_section(letter: str, claims: list[dict], data: list[str] = ()) -> list[str]:
    """A family of claims (O, R, C, M, A): its statements and claim rows, then its own data below."""
    items = [c for c in claims if c["observation"].startswith(letter)]
    if not items and not data:
        return []
    out = [f"## {FAMILIES.get(letter, f'Claims {letter}')}", ""]
    if items:
        statements = sorted({(c["observation"], c["statement"]) for c in items})
        statistics = sorted({str(c.get("statistic")) for c in items if c.get("statistic")})
        rows = []
        for c in sorted(items, key=lambda c: (c["observation"], _rank(ARCHITECTURES)(c["arch"]), _rank(TASKS)(c["task"]), str(c["case"]))):
            per_seed = " / ".join(fmt_any(s.get("value")) + ("" if s.get("holds", True) else " ✗") for s in _by_seed(c.get("per_seed") or []))
            iv = c.get("interval") or {}
            rows.append([
                c["observation"], c["arch"], c["task"], c["case"] + (f" ({c['tier']})" if c.get("tier", "evidence") != "evidence" else ""),
                per_seed or "-", f"{fmt_any(c.get('mean'))} [{fmt_any(iv.get('low'))}, {fmt_any(iv.get('high'))}]",
                f"{c['op']} {c['threshold']}", outcome(c),
            ])
        out += [
            *[f"- **{o}**: {s}" for o, s in statements],
            "",
            f"The value tested against the threshold: {'; '.join(statistics) or 'see records'}. A seed whose own value "
            "is on the wrong side is marked ✗ (a single seed decides nothing).",
            "",
            _table(rows, ["claim", "arch", "task", "case", "per seed", "mean [interval]", "threshold", "outcome"]),
            "",
        ]
    return out + list(data)


def history_section(claims: list[dict], env: dict, history: dict[str, dict[str, str]]) -> list[str]:
    """Which claim holds where, per torch version seen (stored baselines and this run)."""
    if not claims:
        return []
    columns = dict(history)
    columns[f"this run: {env['torch']} ({env['device'].split(':')[0]})"] = {claim_key(c): status(c) for c in claims}
    keys = sorted({k for statuses in columns.values() for k in statuses})
    mark = {HOLDS: "holds", FAILS: "-", INCONCLUSIVE: "?", True: "holds", False: "-", None: " "}  # booleans: older baselines
    rows = [[k, *(mark.get(statuses.get(k), str(statuses.get(k))) for statuses in columns.values())] for k in keys]
    flips = [r[0] for r in rows if len({c for c in r[1:] if c != " "}) > 1]
    return [
        "## Claim status across torch versions",
        "",
        "From the stored baselines (`results/baselines/`) and this run; `-` means the claim does not hold, `?` inconclusive.",
        f"Rows whose status differs between versions: {', '.join(flips) if flips else 'none'}.",
        "",
        "<details><summary>the full table</summary>",
        "",
        _table(rows, ["observation/arch/task/case", *columns]),
        "",
        "</details>",
        "",
    ]


def ceilings_section(cases: list[dict]) -> list[str]:
    """How large a damage can get, per task: O1's margin and O3's threshold mean different effect
    sizes where the scales differ. The constant predictor sits at 1 by the damage's definition
    (its floor); the untrained network and the worst whole-group replacement are measured."""
    picked = [c for c in cases if c.get("scope") == "all" and c.get("recalibration", "none") == "none"]
    if not picked:
        return []
    rows = []
    for task, items in sorted(_group(picked, "task").items()):
        finite = [c for c in items if isinstance(c.get("damage"), (int, float)) and c["damage"] == c["damage"]]
        if not finite:
            continue
        worst = max(finite, key=lambda c: c["damage"])
        untrained = []
        for c in finite:
            gain = c["m_target"] - c.get("m_floor", c["m_init"])
            if gain > 0:
                untrained.append((c["m_target"] - c["m_init"]) / gain)
        rows.append([task, finite[0].get("metric", "-"), "1 (by definition: the damage floor)",
                     fmt_any(sum(untrained) / len(untrained)) if untrained else "-",
                     f"{fmt_any(worst['damage'])} ({worst['arch']}, {worst['group']} from {worst['donor']}, seed {worst.get('seed')})"])
    return [
        "### Damage ceilings per task",
        "",
        "The same damage is a different effect size where a task's scale differs: beside O1's margin (0.2) and O3's "
        "threshold (0.5), the damage of the best constant predictor, of the untrained network (mean over its "
        "cases) and of the worst whole-group replacement measured in this run.",
        "",
        _table(rows, ["task", "metric", "constant predictor", "untrained network", "worst replacement measured"]),
        "",
    ]
