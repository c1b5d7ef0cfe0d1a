"""Print ``[[expected_failure]]`` entries for the claims that did not hold in a run.

Usage: python scripts/expected_failures.py results/smoke/records.json >> benchmarks/observations.toml

Review the output before committing it: an expected failure is a statement that the paper's
claim does not reproduce for that configuration, with the measured numbers as evidence.
A claim is judged on its worst seed; the reason lists every seed's value.
"""

from __future__ import annotations

import json
import sys
from datetime import date


def main(path: str) -> int:
    doc = json.loads(open(path).read())
    profile = doc["profile"]["name"]
    torch_version = doc["environment"]["torch"]
    claims = sorted(
        (r for r in doc["records"] if r["kind"] == "claim" and not r["holds"]),
        key=lambda r: (r["observation"], r["arch"], r["task"], r["case"]),
    )
    for c in claims:
        reason = f"{c['observation']} does not reproduce: {c['evidence']} (profile {profile}, torch {torch_version}, {date.today()})"
        print("[[expected_failure]]")
        for key in ("observation", "arch", "task", "case"):
            print(f'{key} = "{c[key]}"')
        print(f'profile = "{profile}"')
        print(f"reason = {json.dumps(reason)}")
        print()
    print(f"# {len(claims)} expected failures", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "results/smoke/records.json"))
