"""scripts/progress_curve.py: each estimate of the training time left beside the truth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_estimates_are_set_beside_the_truth(tmp_path):
    log = tmp_path / "run.log"
    line = "{t:.3f} [gw0] reusebench: worker 1 of 2: network {k} of its 3 ready ({k} of 3 trained, about {d} of training left (in training steps); x)"
    log.write_text("\n".join([
        "1000.000 start",
        line.format(t=1060.0, k=1, d="4m 00s"),  # truth: 1300 - 1060 = 240 s
        line.format(t=1120.0, k=2, d="2m 30s"),  # truth 180 s: ratio 0.83
        "1300.000 [gw0] reusebench: worker 1 of 2: all 3 of its networks ready in 5m 00s (3 trained, 0 loaded); phase 2 of 2",
    ]) + "\n")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "progress_curve.py"), "--read", str(log), "--after", "0"],
                         capture_output=True, text=True, check=True).stdout
    assert "training done 5.0 min into the run" in out
    assert "1.00" in out and "0.83" in out
    assert out.rstrip().endswith("17%")
