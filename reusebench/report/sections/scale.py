"""Verdicts side by side across runs: the scale ladder (smoke, decisive, standard, paper) in every report,
and any set of runs (e.g. the optimiser axis) through ``scripts/verdict_table.py``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from reusebench.profiles import load_profiles
from reusebench.protocol import ConfigError
from reusebench.report.format import _table, fmt

# the profiles whose verdicts every report sets side by side: the scale ladder, and `decisive`
# (smoke's networks at 20 seeds) beside smoke
LADDER = ("smoke", "decisive", "standard", "paper")
CLAIMS_FILE = "claims.json"  # a run's claim records alone (python -m reusebench.merge --claims-out): committed
SHORT = {"holds": "holds", "does not hold": "DOES NOT HOLD", "inconclusive": "inconclusive", "undefined": "undefined"}


def load_records(path: Path) -> dict | None:
    """A run's records.json, or None when it is missing or unreadable (that column reads "not run")."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def run_records(results_root: Path, name: str) -> dict | None:
    """The latest run of profile ``name`` under ``results_root``: its records.json, else the
    committed claims.json (the claim records alone, which is all a verdict table reads)."""
    folder = Path(results_root) / name
    return load_records(folder / "records.json") or load_records(folder / CLAIMS_FILE)


def _cell(claim: dict | None) -> str:
    if claim is None:
        return "-"
    iv, value = claim.get("interval") or {}, claim.get("mean")
    outcome = SHORT.get(claim.get("outcome"), str(claim.get("outcome")))
    if value is None or "low" not in iv:
        return outcome
    return f"{outcome} {fmt(value, 2)} [{fmt(iv['low'], 2)}, {fmt(iv['high'], 2)}]"


def _wanted(claim: dict, only: Sequence[str], machinery: bool) -> bool:
    if claim.get("tier") == "machinery" and not machinery:
        return False
    return not only or any(o in (claim["observation"], f"{claim['observation']}:{claim['case']}") for o in only)


def current_statements() -> dict[str, str]:
    """Each claim's statement as the suite defines it now: the observations.toml beside the code
    (installed: reusebench/benchmarks/; a checkout: benchmarks/ beside reusebench/)."""
    from reusebench.claims import load_observations

    here = Path(__file__).resolve().parents[2]  # the reusebench package
    for path in (here / "benchmarks" / "observations.toml", here.parent / "benchmarks" / "observations.toml"):
        if path.is_file():
            return {oid: o.statement for oid, o in load_observations(path).observations.items()}
    raise ConfigError(f"no observations.toml beside {here}: cannot tell current claim definitions from earlier ones")


def counted(claim: dict, current: dict[str, str]) -> bool:
    """Whether a cell enters a run's tally: evidence (no ablation, no machinery) under the claim's current definition."""
    if claim.get("tier", "evidence") != "evidence":
        return False
    return claim["observation"] not in current or claim.get("statement") == current[claim["observation"]]


def verdict_rows(
    docs: Sequence[dict | None], only: Sequence[str] = (), machinery: bool = False, current: dict[str, str] | None = None
) -> tuple[list[list[str]], list[dict], list[str]]:
    """One row per distinct claim cell found in any run; a run without records reads "not run".
    Also the outcome counts per run: evidence cells under the current definitions only (ablation
    and superseded cells are rows, but not counted; their number is under "apart")."""
    current = current_statements() if current is None else current
    cells: dict[tuple, dict[int, dict]] = {}
    statements: dict[str, list[str]] = {}  # a claim's definitions, first seen first: cells of two definitions never share a row
    for i, doc in enumerate(docs):
        for r in (doc or {}).get("records", []):
            if r.get("kind") == "claim" and _wanted(r, only, machinery):
                said = statements.setdefault(r["observation"], [])
                if r.get("statement") not in said:
                    said.append(r.get("statement"))
                label = r["observation"] if said.index(r.get("statement")) == 0 else f"{r['observation']} [definition {said.index(r.get('statement')) + 1}]"
                if r["observation"] in current:  # the suite's definition now is the claim; any other is an earlier one
                    label = r["observation"] if r.get("statement") == current[r["observation"]] else f"{r['observation']} [earlier definition]"
                case = r["case"] + (f" ({r['tier']})" if r.get("tier", "evidence") != "evidence" else "")
                cells.setdefault((label, r["arch"], r["task"], case, f"{r.get('op')} {r.get('threshold')}"), {})[i] = r
    counts: list[dict] = [{} for _ in docs]
    rows = []
    for key, by_run in sorted(cells.items(), key=lambda kv: tuple(map(str, kv[0]))):
        rows.append([*key, *("not run" if docs[i] is None else _cell(by_run.get(i)) for i in range(len(docs)))])
        for i, claim in by_run.items():
            key_ = claim["outcome"] if counted(claim, current) else "apart"
            counts[i][key_] = counts[i].get(key_, 0) + 1
    notes = [f"{obs} [definition {k + 1}]: {text}" for obs, said in sorted(statements.items()) if len(said) > 1
             for k, text in enumerate(said) if k > 0]
    return rows, counts, notes


def overrides(profile: dict) -> list[str]:
    """The fields in which a run's profile differs from the committed profile of that name."""
    try:
        committed = load_profiles().get(profile.get("name"))
    except ConfigError:
        committed = None
    if committed is None:
        return []
    def plain(value: object) -> object:  # seeds: a tuple in memory, a list in JSON
        return list(value) if isinstance(value, (list, tuple)) else value

    fields = dataclasses.asdict(committed)
    return [f"{k}={profile[k]}" for k in sorted(fields) if k in profile and plain(profile[k]) != plain(fields[k])]


def run_line(label: str, doc: dict | None, counts: dict) -> str:
    """What a column is: the profile (and any --set overrides), the targets' dataset, torch and device."""
    if doc is None:
        return f"`{label}`: not run"
    p, env = doc["profile"], doc["environment"]
    tally = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k != "apart") or "no claims"
    if counts.get("apart"):
        tally += f" (evidence cells, current definitions; {counts['apart']} ablation or earlier-definition rows apart)"
    datasets = sorted({r["dataset"] for r in doc.get("records", []) if r.get("kind") == "case" and r.get("dataset")})
    changed = overrides(p)
    return (f"`{label}`: profile {p['name']}{' with --set ' + ' '.join(changed) if changed else ''} (width {p['width']}, "
            f"{p['image_size']} px, {p.get('optimizer', 'adam')}, {len(p['seeds'])} seeds; targets on {', '.join(datasets) or '-'}), "
            f"torch {env['torch']} on {env['device']} ({env.get('device_name', '-')}), {fmt(doc.get('wall_seconds'), 0)} s: {tally}")


def verdict_table(docs: Sequence[dict | None], labels: Sequence[str], only: Sequence[str] = (), machinery: bool = False,
                  current: dict[str, str] | None = None) -> list[str]:
    rows, counts, notes = verdict_rows(docs, only, machinery, current)
    redefined = ["A claim whose statement differs between runs is a different claim: its cells under the other "
                 "definition have rows of their own, never compared with the first:", "", *(f"- {n}" for n in notes), ""] if notes else []
    return [_table(rows, ["claim", "arch", "task", "cell", "needs", *labels]), "",
            *(f"- {run_line(label, doc, c)}" for label, doc, c in zip(labels, docs, counts)), "", *redefined]


def ladder_section(doc: dict, results_root: Path | None) -> list[str]:
    """This run's verdicts beside the other ladder profiles' latest runs in ``results_root``."""
    if doc.get("audit") or results_root is None:
        return []
    own = doc["profile"]["name"]
    names = [*LADDER, *([own] if own not in LADDER else [])]
    docs = [doc if name == own else run_records(results_root, name) for name in names]
    current = doc.get("definitions") or None  # the run's own observations file (--observations), else the installed one
    return [
        "## Verdicts across the scale ladder",
        "",
        f"This run (`{own}`) beside the latest run of each other profile found in `{Path(results_root).name}/` "
        "(evidence claims only; each cell: outcome, value and interval at its family's level). A profile "
        "never run here reads \"not run\"; a cell a run did not judge reads \"-\". Read a verdict as stable "
        "with scale only where every column that ran agrees.",
        "",
        *verdict_table(docs, names, current=current),
    ]
