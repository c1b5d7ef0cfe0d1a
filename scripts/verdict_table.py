"""One table of claim verdicts with a column per run (profiles, or the optimiser axis), as Markdown.

    python scripts/verdict_table.py smoke standard paper          # verdicts per profile
    python scripts/verdict_table.py smoke smoke-sgd --only M1:drift O4:init O4:other_task \\
        O4r:init O4r:other_task R2 --label adam sgd                # the optimiser axis

Each argument is a profile name (its run's ``results/<name>/records.json``) or a path to a
``records.json``. A column whose records are missing says "not run" in every row, never a
guess. ``--only OBS`` or ``OBS:CASE`` keeps those claims. A cell reads
``holds / does not hold / inconclusive / undefined`` with the value and its interval
(reusebench/stats.py; the level is the family's). Machinery checks (the suite's own
invariants, true by construction) are left out unless ``--machinery``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHORT = {"holds": "holds", "does not hold": "DOES NOT HOLD", "inconclusive": "inconclusive", "undefined": "undefined"}


def load(source: str, results: Path) -> dict | None:
    path = Path(source) if source.endswith(".json") else results / source / "records.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def cell(claim: dict | None) -> str:
    if claim is None:
        return "-"
    iv = claim.get("interval") or {}
    value = claim.get("mean")
    if value is None or "low" not in iv:
        return SHORT.get(claim.get("outcome"), str(claim.get("outcome")))
    return f"{SHORT.get(claim['outcome'], claim['outcome'])} {value:.2f} [{iv['low']:.2f}, {iv['high']:.2f}]"


def wanted(claim: dict, only: list[str], machinery: bool) -> bool:
    if claim.get("tier") == "machinery" and not machinery:
        return False
    if not only:
        return True
    return any(o == claim["observation"] or o == f"{claim['observation']}:{claim['case']}" for o in only)


def table(docs: list[dict | None], labels: list[str], only: list[str], machinery: bool) -> str:
    rows: dict[tuple, dict[int, dict]] = {}
    for i, doc in enumerate(docs):
        for r in (doc or {}).get("records", []):
            if r.get("kind") == "claim" and wanted(r, only, machinery):
                rows.setdefault((r["observation"], r["arch"], r["task"], r["case"], r.get("threshold"), r.get("op")), {})[i] = r
    head = ["claim", "arch", "task", "cell", "needs", *labels]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (obs, arch, task, case, threshold, op), by_run in sorted(rows.items(), key=lambda kv: tuple(map(str, kv[0]))):
        cells = ["not run" if docs[i] is None else cell(by_run.get(i)) for i in range(len(docs))]
        lines.append("| " + " | ".join([obs, arch, task, case, f"{op} {threshold}", *cells]) + " |")
    runs = []
    for label, doc in zip(labels, docs):
        if doc is None:
            runs.append(f"`{label}`: not run")
            continue
        p, env = doc["profile"], doc["environment"]
        counts = {}
        for claims in rows.values():
            outcome = claims.get(labels.index(label), {}).get("outcome")
            if outcome:
                counts[outcome] = counts.get(outcome, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        runs.append(f"`{label}`: profile {p['name']} (width {p['width']}, {p['image_size']} px, {p.get('optimizer', 'adam')}, "
                    f"seeds {p['seeds']}), torch {env['torch']} on {env.get('device_name', env['device'])}, "
                    f"{doc.get('wall_seconds', 0):.0f} s; {summary}")
    return "\n".join([*lines, "", *[f"- {r}" for r in runs]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="profile names (results/<name>/records.json) or records.json paths")
    parser.add_argument("--label", nargs="+", help="column headings (default: the arguments)")
    parser.add_argument("--only", nargs="+", default=[], metavar="OBS[:CASE]")
    parser.add_argument("--machinery", action="store_true", help="include the machinery checks")
    parser.add_argument("--results", default=str(ROOT / "results"))
    args = parser.parse_args()
    labels = args.label or args.runs
    if len(labels) != len(args.runs):
        parser.error(f"--label names {len(labels)} columns for {len(args.runs)} runs")
    docs = [load(run, Path(args.results)) for run in args.runs]
    print(table(docs, labels, args.only, args.machinery))
    return 0


if __name__ == "__main__":
    sys.exit(main())
