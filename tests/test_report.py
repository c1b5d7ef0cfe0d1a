import json
import math

import pytest

from reusebench.profiles import get_profile
from reusebench.report import RunCollector, atomic_write_text


def case(group, donor, dmg):
    return {
        "kind": "case", "test": f"t[{group}-{donor}]", "arch": "unet", "task": "seg", "group": group, "donor": donor,
        "scope": "all", "recalibration": "none", "metric": "dice", "m_target": 0.6, "m_init": 0.0,
        "m_replaced": 0.6 - 0.6 * dmg, "delta": -0.6 * dmg, "damage": dmg,
    }


def test_report_has_tables_and_nan_is_reported_not_hidden(tmp_path):
    collector = RunCollector(get_profile("smoke"), {"torch": "x", "device": "cpu", "device_name": "cpu", "workers": 1})
    collector.add(case("conv.weight", "init", 0.9))
    collector.add(case("conv.bias", "init", math.nan))
    collector.add(
        {
            "kind": "claim", "test": "c", "observation": "O3", "statement": "s", "arch": "unet", "task": "seg",
            "donor": "init", "damages": {"conv.weight": 0.9}, "value": 0.9, "op": ">=", "threshold": 0.5,
            "holds": True, "expected": "holds",
        }
    )
    written = collector.write(tmp_path / "smoke")
    report = written["report"].read_text()
    assert "## Replacement damage: unet / seg" in report and "0.900 (-0.540)" in report
    assert "non-finite" in report
    assert "| O3    | unet   | seg    | init" in report
    doc = json.loads(written["records"].read_text())  # standard JSON despite the NaN
    assert any(r.get("damage") == "nan" for r in doc["records"])
    assert sorted(p.name for p in (tmp_path / "smoke").iterdir()) == ["records.json", "report.md"]


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"], "no temporary file left behind"


def test_a_writer_killed_mid_write_leaves_nothing_valid_and_the_next_run_cleans_up(tmp_path):
    directory = tmp_path / "smoke"
    directory.mkdir()
    stale = directory / ".records.json.x1y2.tmp"
    stale.write_text('{"profile": ')  # what a SIGKILL between write and rename leaves behind
    assert not (directory / "records.json").exists(), "nothing a reader would take as the records"
    collector = RunCollector(get_profile("smoke"), {"torch": "x", "device": "cpu", "device_name": "cpu", "workers": 1})
    collector.add(case("conv.weight", "init", 0.5))
    collector.write(directory)
    assert sorted(p.name for p in directory.iterdir()) == ["records.json", "report.md"]
    json.loads((directory / "records.json").read_text())
