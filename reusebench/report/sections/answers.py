"""The claim-level answers (``reusebench.aggregate``) and what would decide each inconclusive cell."""

from __future__ import annotations

from reusebench.aggregate import Answer, answers
from reusebench.claims import claim_key, decide_commands
from reusebench.report.format import _table, fmt
from reusebench.report.outcomes import evidence, status
from reusebench.stats import FAILS, HOLDS, INCONCLUSIVE


def answer_rows(found: list[Answer]) -> list[list]:
    """One row per answer: claim, stratum, the aggregate in words, mean and IQM with intervals,
    the share on the claim's side, the cells' counts."""
    rows = []
    for a in found:
        side = f"{a.op} {a.threshold:g}"
        rows.append([
            a.observation if a.stratum == "all cells" else "",
            a.stratum,
            f"**{a.words}**" if a.stratum == "all cells" else a.words,
            f"{a.mean.interval.text()} ({side})",
            f"{a.iqm.interval.text()}: {a.iqm.outcome}",
            f"{100 * a.share:.0f}% [{100 * a.share_interval[0]:.0f}, {100 * a.share_interval[1]:.0f}]",
            f"{a.counts[HOLDS]} / {a.counts[FAILS]} / {a.counts[INCONCLUSIVE]} of {a.cells}",
        ])
    return rows


ANSWER_HEADERS = ["claim", "cells", "aggregate verdict", "mean [interval] (need)", "IQM [interval]: outcome",
                  "on the claim's side [95%]", "cells: holds / does not hold / inconclusive"]


def answers_section(claims: list[dict], profile: dict) -> list[str]:
    if not claims:
        return []
    found = answers(claims, n_images=profile.get("n_test"))
    if not found:
        return []
    level = found[0].mean.interval.level
    return [
        "## The answer, claim by claim",
        "",
        f"Per claim, its evidence cells together (`reusebench/aggregate.py`): per seed the mean (and the interquartile "
        f"mean, IQM) of the cells' values, then a t interval over the {found[0].seeds} seeds with the shared test-image "
        f"term bounded above (the cells use the same test images), {100 * level:.2f}% two-sided: simultaneous over the "
        f"{sum(a.stratum == 'all cells' for a in found)} claims. The share is of the cells whose mean over seeds lies on "
        "the claim's side of the threshold, with a 95% interval from resampling the seeds jointly across cells "
        "(indicative at few seeds). Rows under a claim split its cells by donor: trained donors sharing the target's "
        "initialisation, trained donors with an independent one, untrained (synthetic) donors.",
        "",
        _table(answer_rows(found), ANSWER_HEADERS),
        "",
    ]


def decided_rows(claims: list[dict]) -> list[list]:
    """Per claim, its evidence cells by what stands between them and a decision: decided (holds or
    does not hold), at the threshold (no affordable n), held by a term the design cannot shrink,
    decidable by more seeds or test images; and the share decided or shown to be at the threshold
    (a cell the design cannot decide is not counted as one)."""
    rows, total = [], [0, 0, 0, 0, 0]
    by_claim: dict[str, list[dict]] = {}
    for c in evidence(claims):
        by_claim.setdefault(c["observation"], []).append(c)
    for name in sorted(by_claim):
        cells = by_claim[name]
        decided = sum(status(c) in (HOLDS, FAILS) for c in cells)
        open_ = [c for c in cells if status(c) == INCONCLUSIVE]
        at = sum(bool((c.get("decide") or {}).get("at_threshold")) for c in open_)
        held = sum(bool((c.get("decide") or {}).get("held_by")) for c in open_)
        more = len(open_) - at - held
        counts_ = [len(cells), decided, at, held, more]
        total = [a + b for a, b in zip(total, counts_)]
        rows.append([name, *counts_, f"{100 * (decided + at) / len(cells):.0f}%"])
    if rows:
        rows.append(["all", *total, f"{100 * (total[1] + total[2]) / total[0]:.0f}%"])
    return rows


DECIDED_HEADERS = ["claim", "cells", "decided", "at the threshold", "held by the design", "more seeds or images would decide",
                   "decided or at the threshold"]


def decide_section(claims: list[dict], profile: dict) -> list[str]:
    """Every inconclusive evidence cell: which term dominates, what would decide it, the command;
    before them, per claim, the share of its cells decided."""
    open_cells = [c for c in evidence(claims) if status(c) == INCONCLUSIVE and c.get("decide")]
    if not open_cells:
        return []
    rows = []
    for c in sorted(open_cells, key=claim_key):
        d = c["decide"]
        iv = c["interval"]
        if d.get("held_by"):
            need = f"held by the {d['held_by']} term: not by more seeds or images"
        elif d["at_threshold"]:
            need = "at the threshold: no affordable n"
        else:
            need = "; ".join(x for x in (
                f"{d['seeds']} seeds" if d.get("seeds") else "",
                f"{d['images']} test images" if d.get("images") else "",
                f"{d['both'][0]} seeds with {d['both'][1]} images" if d.get("both") else "") if x)
        commands = decide_commands(d, c.get("test", ""), profile.get("name", "smoke"))
        rows.append([claim_key(c), f"{fmt(iv['mean'])} [{fmt(iv['low'])}, {fmt(iv['high'])}] ({c['op']} {c['threshold']:g})",
                     d["dominant"], fmt(d["margin"]), need, f"`{commands[0]}`" if commands else "-"])
    at = sum(c["decide"]["at_threshold"] for c in open_cells)
    held = sum(bool(c["decide"].get("held_by")) for c in open_cells)
    return [
        "## What would decide the inconclusive cells",
        "",
        f"{len(open_cells)} evidence cells are inconclusive; {at} of them sit at their threshold (no affordable number of "
        f"seeds or test images would decide them at the measured mean and spreads); {held} are held by a term that neither "
        "seeds nor test images shrink (C1's layers: a network has only so many). For the others: the seeds (at the "
        "profile's test images) or the test images (at its seeds) that would put the interval on one side, if the mean "
        "and the spreads stayed as measured (`reusebench.stats.what_would_decide`; indicative, as any power "
        "calculation from the data). A run with other seeds or test images is not the calibrated profile: its statuses "
        "are reported, none fails.",
        "",
        "Per claim, its evidence cells by what stands between them and a decision (a cell held by the design counts as "
        "undecided):",
        "",
        _table(decided_rows(claims), DECIDED_HEADERS),
        "",
        _table(rows, ["cell", "value [interval] (need)", "dominant term", "|mean - threshold|", "would be decided by", "command"]),
        "",
    ]
