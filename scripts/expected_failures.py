"""The calibrated statuses of a run: every claim cell's outcome as an ``[[expected]]`` entry.

    python scripts/expected_failures.py results/smoke/records.json            # print them
    python scripts/expected_failures.py results/smoke/records.json --write    # replace them in observations.toml

Each profile has its own generated block (from its marker line to the next marker or the end
of the file); ``--write`` replaces the block of the run's profile and keeps the others. The
block names the machine it was measured on (``[calibrated.<profile>]``), which the report
quotes beside every move.

Review the result before committing it. A "does not hold" entry is a statement that the
paper's claim does not reproduce for that configuration (a strict xfail, with the measured
numbers as its reason); "holds" is the reverse; "inconclusive" says the calibration could not
decide. Only a contradiction (holds <-> does not hold) fails a later run; a move into or out of
inconclusive is reported. Machinery cells hold by construction and get no entry.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# --- measured on the"  # starts a generated block: one per profile, up to the next marker


STATUSES = ("holds", "does not hold", "inconclusive")


def entries(doc: dict) -> list[str]:
    profile = doc["profile"]["name"]
    env = doc["environment"]
    where = f"profile {profile}, torch {env['torch']}, {env.get('cpu') or env.get('device_name', env['device'])}, {date.today()}"
    claims = sorted(
        (r for r in doc["records"] if r["kind"] == "claim" and r.get("tier", "evidence") != "machinery" and r.get("outcome") in STATUSES),
        key=lambda r: (r["observation"], r["arch"], r["task"], r["case"]),
    )
    out = []
    for c in claims:
        if c["outcome"] == "does not hold":  # the strict xfail's reason: the whole evidence
            reason = f"{c['observation']} does not reproduce: {c['evidence']} ({where})"
        else:
            iv = c["interval"]
            reason = f"{c['outcome']}: {iv['mean']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}] ({where})"
        out.append("\n".join(["[[expected]]", *(f'{k} = "{c[k]}"' for k in ("observation", "arch", "task", "case")),
                              f'profile = "{profile}"', f'status = "{c["outcome"]}"', f"reason = {json.dumps(reason)}", ""]))
    return out


def calibrated_table(doc: dict) -> str:
    env = doc["environment"]
    machine = env.get("cpu") or env.get("device_name") or env["device"]
    return (f'[calibrated.{json.dumps(doc["profile"]["name"])}]\nmachine = {json.dumps(machine)}\n'
            f'torch = {json.dumps(env["torch"])}\ndate = "{date.today()}"\n')


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
        f"# {date.today()}: {env.get('cpu') or env.get('device_name', env['device'])}, torch {env['torch']}. Every evidence\n"
        "# cell's outcome by its simultaneous interval (over seeds and test images; reusebench/stats.py).\n\n"
    )
    block = head + calibrated_table(doc) + "\n" + "\n".join(found)
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
    tally = {status: sum(f'status = "{status}"' in e for e in found) for status in STATUSES}
    print(f"# {len(found)} calibrated cells: " + ", ".join(f"{n} {k}" for k, n in tally.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
