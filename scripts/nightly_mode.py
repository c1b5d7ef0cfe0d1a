"""What tonight's run of a profile does: record, derive or compare (the nightly's first nights).

    python scripts/nightly_mode.py PROFILE DEVICE_TYPE    # prints record, derive or compare

- ``record``: no baseline of PROFILE yet (the first night, or a new torch series): the run
  records it (--update-baseline); a maintainer commits it from the artifact.
- ``derive``: a baseline, but ``benchmarks/tolerances.toml`` has no tolerances for PROFILE on
  DEVICE_TYPE: the run measures again without comparing, and
  ``scripts/derive_tolerances.py --toml`` turns the baseline's run and this one into the
  tolerance tables (1.5 x the spread, floor 1e-9), kept in the artifact to commit.
- ``compare``: both: the run compares with the baseline (--compare-baseline) and fails on drift.

So no night fails for want of a file, and every comparison uses tolerances measured on the
hardware that runs it.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mode(profile: str, device_type: str, baselines: Path, tolerances: Path, torch_version: str, machine: str | None = None) -> str:
    from reusebench.baseline import baseline_path

    if not baseline_path(baselines, profile, torch_version, machine).exists():
        return "record"
    table = tomllib.loads(tolerances.read_text()).get(profile, {}).get(device_type)
    return "compare" if table else "derive"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    import torch

    profile, device_type = argv
    baselines = Path(os.environ.get("REUSEBENCH_BASELINE_DIR", ROOT / "results" / "baselines"))
    print(mode(profile, device_type, baselines, ROOT / "benchmarks" / "tolerances.toml", str(torch.__version__)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
