"""The ``[[expected_failure]]`` entries of a run: every claim cell that does not hold.

    python scripts/expected_failures.py results/smoke/records.json            # print them
    python scripts/expected_failures.py results/smoke/records.json --write    # replace them in observations.toml

Each profile has its own generated block (from its marker line to the next marker or the end
of the file); ``--write`` replaces the block of the run's profile and keeps the others.

Review the result before committing it: an expected failure is a statement that the paper's
claim does not reproduce for that configuration, with the measured numbers as evidence. Only
cells whose whole interval lies on the wrong side of the threshold are entered ("does not
hold"); inconclusive cells are not expectations, they are reported by every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# --- measured on the"  # starts a generated block: one per profile, up to the next marker


def entries(doc: dict) -> list[str]:
    profile = doc["profile"]["name"]
    env = doc["environment"]
    where = f"profile {profile}, torch {env['torch']}, {env.get('device_name', env['device'])}, {date.today()}"
    claims = sorted(
        (r for r in doc["records"] if r["kind"] == "claim" and r.get("outcome") == "does not hold"),
        key=lambda r: (r["observation"], r["arch"], r["task"], r["case"]),
    )
    out = []
    for c in claims:
        reason = f"{c['observation']} does not reproduce: {c['evidence']} ({where})"
        out.append("\n".join(["[[expected_failure]]", *(f'{k} = "{c[k]}"' for k in ("observation", "arch", "task", "case")),
                              f'profile = "{profile}"', f"reason = {json.dumps(reason)}", ""]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="?", default="results/smoke/records.json")
    parser.add_argument("--write", action="store_true", help="replace the generated block of benchmarks/observations.toml")
    parser.add_argument("--observations", default=str(ROOT / "benchmarks" / "observations.toml"))
    args = parser.parse_args()
    doc = json.loads(Path(args.records).read_text())
    found = entries(doc)
    env = doc["environment"]
    seeds = doc["profile"]["seeds"]
    head = (
        f"{MARKER} {doc['profile']['name']} profile (seeds {seeds}); regenerate with scripts/expected_failures.py ---\n"
        f"# {date.today()}: {env.get('device_name', env['device'])}, torch {env['torch']}, -n 2. A cell is entered when its\n"
        "# simultaneous interval (over seeds and test images; reusebench/stats.py) lies wholly on the wrong side.\n\n"
    )
    block = head + "\n".join(found)
    if args.write:
        path = Path(args.observations)
        text = path.read_text()
        mine = f"{MARKER} {doc['profile']['name']} profile "
        if mine in text:
            start = text.index(mine)
            end = text.find(MARKER, start + len(mine))
            text = text[:start] + block + ("\n" + text[end:] if end >= 0 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + block
        tmp = path.with_suffix(".toml.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    else:
        print(block)
    print(f"# {len(found)} expected failures", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
