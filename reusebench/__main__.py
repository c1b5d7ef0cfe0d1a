"""``python -m reusebench [pytest options]``: run the installed suite's benchmarks from anywhere.

The same as ``pytest <the suite's benchmarks folder> [options]``, with the rootdir (and so
``results/``) in the current folder rather than beside the installed files. Examples:

    python -m reusebench -n 2 --dist loadgroup                       # the smoke main job
    python -m reusebench -n 4 --reusebench-profile paper --compare-baseline
    python -m reusebench --audit my-network.toml -n 2                # audit your own CNN
"""

from __future__ import annotations

import os
import sys

import pytest

from reusebench.plugin.options import installed_benchmarks


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return int(pytest.main(["--rootdir", os.getcwd(), str(installed_benchmarks()), *args]))


if __name__ == "__main__":
    sys.exit(main())
