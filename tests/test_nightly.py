"""The nightly works on its first and its hundredth night (issue 16, item 5): it records a
baseline, then derives tolerances from two runs, then compares; torch is pinned; the cache,
the figures and the run time are kept."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

from reusebench.baseline import load_tolerances, write_baseline
from conftest import HANG_LIMIT

ROOT = Path(__file__).parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def records(value: float, device: str = "cpu") -> dict:
    case = {
        "kind": "case", "arch": "unet", "task": "seg", "dataset": "shapes", "group": "conv.bias", "donor": "init",
        "scope": "all", "layer": None, "seed": 0, "recalibration": "none", "metric": "dice", "m_target": 0.6, "m_replaced": value,
        "m_init": 0.1, "damage": (0.6 - value) / 0.5,
    }
    return {"profile": {"name": "paper"}, "environment": {"torch": "2.13.0", "device": device}, "records": [case]}


def test_the_first_nights_record_then_derive_then_compare(tmp_path):
    from reusebench.baseline import from_records

    mode = script("nightly_mode").mode
    baselines, tolerances = tmp_path / "baselines", tmp_path / "tolerances.toml"
    baselines.mkdir()
    tolerances.write_text("[smoke.cpu.seg]\ndamage = 1e-9\n")
    assert mode("paper", "cuda", baselines, tolerances, "2.13.0") == "record", "night 1: no baseline"
    write_baseline(baselines, from_records(records(0.5, "cuda")))
    assert mode("paper", "cuda", baselines, tolerances, "2.13.0") == "derive", "night 2: no tolerances for paper on cuda"
    tolerances.write_text(tolerances.read_text() + "\n[paper.cuda.seg]\ndamage = 0.1\n")
    assert mode("paper", "cuda", baselines, tolerances, "2.13.0") == "compare"
    assert mode("paper", "cpu", baselines, tolerances, "2.13.0") == "derive", "tolerances are per device type"
    here = "AMD EPYC (AuthenticAMD family 25 model 17 stepping 1, X86_64)"
    assert mode("paper", "cpu", baselines, tolerances, "2.13.0", machine=here) == "record", "no baseline of this CPU model yet"
    write_baseline(baselines, from_records(records(0.5)), for_machine=True)  # records() carries no CPU model: "unknown"
    assert mode("paper", "cpu", baselines, tolerances, "2.13.0", machine="unknown") == "derive"


def test_tolerances_are_derived_from_the_baseline_and_tonights_records(tmp_path):
    """derive_tolerances.py --toml: 1.5 x the largest spread, floor 1e-9, in the form that
    benchmarks/tolerances.toml and --compare-baseline read."""
    from reusebench.baseline import from_records

    (tmp_path / "b").mkdir()
    with_nan = records(0.5, "cuda")
    with_nan["records"].append(dict(with_nan["records"][0], scope="layer", layer="x", m_replaced=float("nan"), damage=float("nan")))
    baseline = write_baseline(tmp_path / "b", from_records(with_nan))  # NaN kept as "nan" in the file
    tonight = tmp_path / "records.json"
    tonight.write_text(json.dumps(records(0.46, "cuda")))
    done = subprocess.run([sys.executable, "-P", str(ROOT / "scripts" / "derive_tolerances.py"), "--toml", str(baseline), str(tonight)],
                          capture_output=True, text=True, timeout=HANG_LIMIT)
    assert done.returncode == 0, done.stderr
    (tmp_path / "t.toml").write_text(done.stdout)
    got = load_tolerances(tmp_path / "t.toml", "paper", "cuda")
    assert abs(got["seg.m_replaced"] - 1.5 * 0.04) < 1e-6 and abs(got["seg.damage"] - 1.5 * 0.08) < 1e-6
    assert got["seg.m_target"] == 1e-9, "no spread: the floor"


def test_the_nightly_workflow_pins_torch_keeps_cache_figures_and_time_and_never_overlaps():
    text = WORKFLOW.read_text()
    assert "concurrency:" in text and "cancel-in-progress: false" in text
    installs = text.count("pip install -e")
    assert 'TORCH_VERSION: "2.13.0"' in text and text.count('"torch==${TORCH_VERSION}"') == installs >= 4, "torch pinned in every job that installs"
    assert "uses: actions/cache@v4" in text, "the CPU job keeps its fixture cache between nights"
    for profile in ("standard", "paper"):
        assert f"results/{profile}/\n" in text, "the whole results folder: report, records, figures, timings"
        assert f"tolerances-{profile}.toml" in text
    assert text.count("scripts/nightly.sh") == 2
    nightly = (ROOT / "scripts" / "nightly.sh").read_text()
    assert "GITHUB_STEP_SUMMARY" in nightly and "LIMIT_MINUTES" in nightly, "the run time is reported against the limit"


FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for python: the nightly's mode, then the pytest command it runs
if [ "$1" = scripts/nightly_mode.py ]; then echo "$FAKE_MODE"; exit 0; fi
if [ "$1" = -m ] && [ "$2" = pytest ]; then echo "pytest $*" >> "$FAKE_LOG"; exit 0; fi
if [ "$1" = -c ]; then echo results/baselines/paper.json; exit 0; fi
if [ "$1" = scripts/derive_tolerances.py ]; then echo "[paper.cuda.seg]"; exit 0; fi
exit 3
"""


def test_the_nightly_script_runs_each_mode_with_the_right_options(tmp_path):
    """scripts/nightly.sh itself, with a stand-in python: record (per CPU model on the CPU),
    derive (a fresh cache, then the tolerances file), compare; the time in the job summary."""
    import os
    import stat

    import shutil

    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    (tmp_path / "scripts").mkdir()  # a copy: the script works in the folder above its own
    shutil.copy(ROOT / "scripts" / "nightly.sh", tmp_path / "scripts" / "nightly.sh")
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    calls = {}
    for device, mode in (("cpu", "record"), ("cuda", "record"), ("cuda", "derive"), ("cpu", "compare")):
        log, summary = tmp_path / f"{device}-{mode}.log", tmp_path / f"{device}-{mode}.md"
        env = dict(os.environ, PATH=f"{fake.parent}:{os.environ['PATH']}", FAKE_MODE=mode, FAKE_LOG=str(log),
                   PROFILE="paper", LIMIT_MINUTES="240", GITHUB_STEP_SUMMARY=str(summary))
        done = subprocess.run(["bash", str(tmp_path / "scripts" / "nightly.sh"), device, "-n", "2"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=HANG_LIMIT)
        assert done.returncode == 0, done.stderr
        calls[device, mode] = log.read_text()
        assert re.search(rf"nightly: paper \({mode}\) took \d+ min of the 240-minute limit; exit code 0", summary.read_text())
    assert "--update-baseline --machine-baseline" in calls["cpu", "record"]
    assert "--update-baseline" in calls["cuda", "record"] and "--machine-baseline" not in calls["cuda", "record"]
    assert "--cache-dir=" in calls["cuda", "derive"] and "baseline" not in calls["cuda", "derive"]
    assert "--compare-baseline" in calls["cpu", "compare"] and "-n 2" in calls["cpu", "compare"]
    assert (tmp_path / "tolerances-paper.toml").read_text().startswith("[paper.cuda.seg]")
    assert not (ROOT / "tolerances-paper.toml").exists(), "nothing written into the checkout"
