"""One table of claim verdicts with a column per run (profiles, or the optimiser axis), as Markdown.

    python scripts/verdict_table.py smoke standard paper          # verdicts per profile
    python scripts/verdict_table.py smoke smoke-sgd --label adam sgd \\
        --only M1:drift O4:init O4:other_task O4r:init O4r:other_task R2   # the optimiser axis

Each argument is a profile name (its run's ``results/<name>/records.json``, else the committed
``results/<name>/claims.json``) or a path to a ``records.json`` or ``claims.json``. A column whose records are missing says "not run" in every row, never a
guess. ``--only OBS`` or ``OBS:CASE`` keeps those claims. A cell reads holds / DOES NOT HOLD /
inconclusive / undefined with the value and its interval (reusebench/stats.py, at the
family's level). Machinery checks (true by construction) are left out unless ``--machinery``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from reusebench.report.sections.scale import load_records, run_records, verdict_table  # noqa: E402


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
    docs = [load_records(Path(run)) if run.endswith(".json") else run_records(Path(args.results), run) for run in args.runs]
    current = next((d["definitions"] for d in docs if d and d.get("definitions")), None)  # the first run's, else the checkout's
    print("\n".join(verdict_table(docs, labels, args.only, args.machinery, current)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
