"""What tonight's run of a profile does: record, derive or compare (the nightly's first nights).

    python scripts/nightly_mode.py PROFILE DEVICE_TYPE    # prints record, derive or compare

- ``record``: no baseline of PROFILE yet (the first night, or a new torch series): the run
  records it (--update-baseline); a maintainer commits it from the artifact.
- ``derive``: a baseline, but ``benchmarks/tolerances.toml`` has no tolerances for PROFILE on
  DEVICE_TYPE: the run measures again without comparing, and
  ``scripts/derive_tolerances.py --toml`` turns the baseline's run and this one into the
  tolerance tables (1.5 x the spread, floor 1e-9), kept in the artifact to commit.
- ``compare``: both: the run compares with the baseline (--compare-baseline) and fails on drift.

So no night fails for want of a file. On the CPU every step is per CPU model: a hosted
runner's model varies between nights, and CPU numbers are bitwise repeatable on one model
only, so a night on a model without a baseline records one (``--machine-baseline``, under
``results/baselines/machines/``) and compares from the next night on that model. The GPU's
tolerances come from two runs on the GPU that runs the nightly.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mode(profile: str, device_type: str, baselines: Path, tolerances: Path, torch_version: str, machine: str | None = None) -> str:
    """``machine``: on the CPU, the CPU model: a night compares only with a baseline recorded on
    its own CPU model (bitwise tolerances), recording one first on a model it has not seen."""
    from reusebench.baseline import baseline_path, machine_baseline_dir

    where = machine_baseline_dir(baselines, machine) if machine else baselines
    if not baseline_path(where, profile, torch_version).exists():
        return "record"
    table = tomllib.loads(tolerances.read_text()).get(profile, {}).get(device_type)
    return "compare" if table else "derive"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    import torch

    from reusebench.environment import cpu_model

    profile, device_type = argv
    baselines = Path(os.environ.get("REUSEBENCH_BASELINE_DIR", ROOT / "results" / "baselines"))
    machine = cpu_model() if device_type == "cpu" else None
    print(mode(profile, device_type, baselines, ROOT / "benchmarks" / "tolerances.toml", str(torch.__version__), machine))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
