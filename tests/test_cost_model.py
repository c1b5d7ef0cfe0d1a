"""scripts/cost_model.py: the cold path's split into trainings, validation, measurement and the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_cost_model_splits_a_cold_runs_core_seconds(tmp_path):
    def network(arch, task, seed, start, seconds, evals):
        return {"label": f"{arch}/{task}/shapes/seed{seed}", "trained_now": True, "train_seconds": seconds,
                "monitor_curve": [[25 * i, 0.5] for i in range(evals)],
                "spec": {"arch": arch, "task": task, "dataset": "shapes", "seed": seed, "start": start}}

    doc = {
        "profile": {"name": "smoke", "seeds": [0, 1, 2, 3, 4]},
        "environment": {"workers": 2},
        "wall_seconds": 100.0,
        "fixtures": [network("unet", "seg", 0, "", 60.0, 20), network("pspnet", "ae", 100, "", 20.0, 20),
                     network("unet", "seg", 0, "head", 5.0, 7), {"label": "cached", "trained_now": False}],
        "records": [{"kind": "case", "seconds": 30.0}, {"kind": "claim"}],
    }
    records = tmp_path / "records.json"
    records.write_text(json.dumps(doc))
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "cost_model.py"), str(records)], capture_output=True, text=True, check=True).stdout
    table = out.split("\n\n")[0].splitlines()[2:]  # the rows of the split, before the GFLOP/s lines
    rows = {line[:62].strip(): line[62:].split() for line in table}
    core = {name: float(values[0]) for name, values in rows.items() if values and values[0].replace(".", "").isdigit()}
    assert "3 networks trained, 2 workers, 100 s wall = 200 core-seconds, 5 target seeds" in out
    assert core["replacement measurements (evaluation)"] == 30
    assert abs(sum(v for k, v in core.items() if not k.startswith("(")) - 200) <= 3, core  # the parts add up to wall x workers
    assert core["(of the full trainings: the donor pool, seeds 100 + s)"] == 20
    assert core["full trainings: steps"] + core["full trainings: validation"] == 80
    assert "one core's fp32 peak:" in out and "GFLOP/s" in out


def test_a_summary_written_by_one_run_is_printed_beside_the_next(tmp_path):
    doc = {
        "profile": {"name": "smoke", "seeds": [0, 1]},
        "environment": {"workers": 2, "cpu": "test cpu"},
        "wall_seconds": 50.0,
        "fixtures": [{"label": "u", "trained_now": True, "train_seconds": 40.0, "monitor_curve": [[0, 0.5]],
                      "spec": {"arch": "unet", "task": "seg", "dataset": "shapes", "seed": 0, "start": ""}}],
        "records": [{"kind": "case", "seconds": 10.0}],
    }
    records, summary = tmp_path / "records.json", tmp_path / "before.json"
    records.write_text(json.dumps(doc))
    script = str(ROOT / "scripts" / "cost_model.py")
    subprocess.run([sys.executable, script, str(records), "--write-summary", str(summary), "--label", "before"], capture_output=True, text=True, check=True)
    assert json.loads(summary.read_text())["core_seconds_per_seed"] == 50.0  # 50 s x 2 workers / 2 seeds
    doc["wall_seconds"] = 25.0
    records.write_text(json.dumps(doc))
    out = subprocess.run([sys.executable, script, str(records), "--before", str(summary)], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("all "))
    assert line.split()[1:] == ["50", "25", "2.00x"]
