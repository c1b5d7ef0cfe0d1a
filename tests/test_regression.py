"""Determinism and stored baselines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import TINY_RESULTS
from reusebench.baseline import compare, from_records, load_tolerances

VOLATILE = {"seconds", "train_seconds", "created", "started", "wall_seconds", "test", "worker"}


def stable(value):
    """A record with the fields that legitimately differ between runs (timings, dates) removed."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def test_two_cpu_runs_from_scratch_give_identical_records(tmp_path, run_suite):
    """Training included: each run starts from an empty cache."""
    docs = []
    for name, workers in (("first", "0"), ("second", "2")):  # also whatever the worker count
        result = run_suite(tmp_path / name, "-n", workers, "-k", "replacement_case and unet-ae and seed0", "--device", "cpu")
        assert result.returncode == 0, result.stdout[-2000:]
        docs.append(json.loads((tmp_path / name / "results" / TINY_RESULTS / "partial" / "records.json").read_text()))
    first, second = (sorted(stable(d["records"]), key=lambda r: json.dumps(r, sort_keys=True)) for d in docs)
    assert len(first) == (6 * 7 + 2 * 6) * 2  # groups x donors, with and without AdaBN
    assert first == second, "bit-identical metrics, damages and intervals"
    assert stable(docs[0]["fixtures"]) == stable(docs[1]["fixtures"])


def test_baseline_round_trip_and_a_broken_result_is_caught(tmp_path, run_suite):
    baselines = tmp_path / "baselines"
    args = ["-k", "replacement_case and unet-ae and conv and seed0", "--baseline-dir", str(baselines)]
    tolerances = tmp_path / "tolerances.toml"
    tolerances.write_text("[smoke.cpu.ae]\nm_target = 0.0\nm_replaced = 0.0\nm_init = 0.0\ndamage = 0.01\n")
    args += ["--tolerances", str(tolerances), "--device", "cpu"]

    assert run_suite(tmp_path, *args, "--update-baseline").returncode == 0
    stored = json.loads((baselines / "smoke.json").read_text())
    assert len(stored["cases"]) == 12 * 2  # 2 conv groups x 6 donors, with and without AdaBN

    same = run_suite(tmp_path, *args, "--compare-baseline")
    assert same.returncode == 0 and "no drift beyond tolerance" in same.stdout

    partial = run_suite(tmp_path, *args[:1], "replacement_case and unet-ae and conv.bias and seed0", *args[2:], "--update-baseline")
    assert partial.returncode == 0
    assert json.loads((baselines / "smoke.json").read_text())["cases"] == stored["cases"], "a partial update keeps the rest"

    other_profile = run_suite(tmp_path, *args, "--compare-baseline", "--set", "n_test=4")
    assert other_profile.returncode == 1 and "| profile" in other_profile.stdout and "n_test" in other_profile.stdout
    assert "--update-baseline --baseline-dir DIR" in other_profile.stdout, "advice that works, not a refused update"
    assert "the run FAILS (exit code 1) although its tests passed" in other_profile.stdout

    key = "unet/ae/shapes/conv.weight/init/all/none/seed0"
    stored["cases"][key]["damage"] += 0.5  # the baseline now disagrees with what the code measures
    (baselines / "smoke.json").write_text(json.dumps(stored))
    moved = run_suite(tmp_path, *args, "--compare-baseline")
    assert moved.returncode == 1
    assert "drift from the baseline" in moved.stdout and key in moved.stdout
    assert "--update-baseline" in moved.stdout, "the failure says how to update"


def doc(value: float, holds: bool) -> dict:
    case = {
        "kind": "case", "arch": "unet", "task": "seg", "dataset": "shapes", "group": "conv.bias", "donor": "init",
        "scope": "all", "layer": None, "seed": 0, "recalibration": "none", "metric": "dice", "m_target": 0.6, "m_replaced": value,
        "m_init": 0.0, "damage": (0.6 - value) / 0.6,
    }
    claim = {"kind": "claim", "observation": "O4", "arch": "unet", "task": "seg", "case": "init", "holds": holds, "value": 0.1,
             "outcome": "holds" if holds else "does not hold", "interval": {"low": 0.05, "high": 0.15}}
    return {"profile": {"name": "smoke"}, "environment": {"torch": "2.13.0", "device": "cpu"}, "records": [case, claim]}


def test_compare_respects_tolerance_nan_and_status():
    tol = {"seg.m_replaced": 0.01, "seg.damage": 0.02, "seg.m_target": 0.0, "seg.m_init": 0.0}
    base = from_records(doc(0.50, True))
    assert compare(base, from_records(doc(0.505, True)), tol)[0] == []
    drifts, _ = compare(base, from_records(doc(0.40, True)), tol)
    assert {d.quantity for d in drifts} == {"m_replaced (dice)", "damage"}
    drifts, _ = compare(base, from_records(doc(math.nan, True)), tol)
    assert {d.quantity for d in drifts} == {"m_replaced (dice)", "damage"}, "NaN against a number is drift"
    flipped = from_records(doc(0.50, False))
    flipped["claims"]["O4/unet/seg/init"]["value"] = 0.2
    drifts, _ = compare(base, flipped, tol)
    assert [(d.quantity, d.baseline, d.now) for d in drifts] == [("status", "holds", "does not hold")], "a flip is drift"
    unsure = from_records(doc(0.50, True))
    unsure["claims"]["O4/unet/seg/init"]["outcome"] = "inconclusive"
    drifts, notes = compare(base, unsure, tol)
    assert drifts == [] and "holds -> inconclusive" in notes[0], "a move into inconclusive is reported, not failed"
    moved = from_records(doc(0.50, True))
    moved["claims"]["O4/unet/seg/init"].update(value=0.3, low=0.25, high=0.35)
    drifts, _ = compare(base, moved, tol)
    assert [d.quantity for d in drifts] == ["value"], "the baseline's value outside this run's interval"


def test_the_committed_tolerances_cover_the_smoke_profile_on_cpu():
    from pathlib import Path

    tol = load_tolerances(Path(__file__).parents[1] / "benchmarks" / "tolerances.toml", "smoke", "cpu")
    assert set(tol) == {f"{t}.{q}" for t in ("seg", "ae") for q in ("m_target", "m_replaced", "m_init", "damage")}


def test_update_refuses_to_clobber_another_configuration_or_write_nothing(tmp_path):
    from reusebench.baseline import load_baseline, write_baseline
    from reusebench.protocol import ConfigError

    current = from_records(doc(0.5, True))
    current["profile_fields"] = {"steps": 400}
    path = write_baseline(tmp_path, current)
    other = dict(current, profile_fields={"steps": 800})
    # issue 16: the refusal names the differing field and a command that works
    with pytest.raises(ConfigError, match=r"not updating .*differs from it in steps 400 -> 800\. .*--baseline-dir DIR.*delete "):
        write_baseline(tmp_path, other)
    assert load_baseline(path)["profile_fields"] == {"steps": 400}
    with pytest.raises(ConfigError, match="nothing to put in a baseline"):
        write_baseline(tmp_path, dict(current, cases={}, claims={}))


def test_a_tiny_tolerance_is_printed_as_itself():
    from reusebench.baseline import Drift

    assert Drift("case", "damage", 0.5, 0.5000001, 1e-9).row()[2:] == ["0.5", "0.5000001", "1e-09"]


def test_a_baseline_with_non_finite_values_loads_and_compares(tmp_path):
    from reusebench.baseline import load_baseline, write_baseline

    current = from_records(doc(math.nan, False))
    current["claims"]["O4/unet/seg/init"]["value"] = math.nan
    stored = load_baseline(write_baseline(tmp_path, current))
    assert math.isnan(stored["claims"]["O4/unet/seg/init"]["value"])
    flipped = from_records(doc(0.5, True))
    drifts, _ = compare(stored, flipped, {"seg.damage": 0.1, "seg.m_replaced": 0.1})
    assert {d.quantity for d in drifts} >= {"status", "damage"}


def test_baselines_are_kept_per_machine_where_one_was_recorded(tmp_path):
    """CPU numbers are bitwise repeatable on one CPU model only (issue 16, item 8): the run
    records its CPU model, a machine's own baseline wins over the shared one, and a comparison
    with another machine's baseline says so."""
    from reusebench.baseline import baseline_path, load_baseline, write_baseline

    def on(machine: str, value: float = 0.5) -> dict:
        d = doc(value, True)
        d["environment"] |= {"cpu": machine, "device_name": machine.split(" (")[0]}
        return from_records(d)

    here, there = "AMD EPYC (AuthenticAMD family 25 model 17 stepping 1, X86_64)", "Intel Xeon (GenuineIntel family 6 model 143 stepping 8, X86_64)"
    shared = write_baseline(tmp_path, on(there))
    assert load_baseline(shared)["machine"] == there
    assert baseline_path(tmp_path, "smoke", "2.13.0", here) == shared, "no baseline of its own yet: the shared one"
    _, notes = compare(load_baseline(shared), on(here), {})
    assert any(n.startswith(f"the baseline was recorded on {there}, this run is on {here}") for n in notes)
    own = write_baseline(tmp_path, on(here, 0.4), for_machine=True)
    assert own == tmp_path / "machines" / "amd-epyc-authenticamd-family-25-model-17-stepping-1-x86-64" / "smoke.json"
    assert baseline_path(tmp_path, "smoke", "2.13.0", here) == own
    assert baseline_path(tmp_path, "smoke", "2.13.0", there) == shared
    assert compare(load_baseline(own), on(here, 0.4), {}) == ([], [])


def test_on_another_machine_only_a_claim_flip_fails_the_comparison():
    """Verdicts are portable, numbers are not: against another CPU model's baseline a moved
    value is a note; a claim that flips between holds and does not hold is still a drift."""
    def on(machine: str, value: float, holds: bool) -> dict:
        d = doc(value, holds)
        d["environment"] |= {"cpu": machine, "device_name": machine.split(" (")[0]}
        return from_records(d)

    here, there = "AMD EPYC (AuthenticAMD family 25 model 1)", "Intel Xeon (GenuineIntel family 6 model 167)"
    drifts, notes = compare(from_records(doc(0.5, True)) | {"machine": there}, on(here, 0.45, True), {})
    assert drifts == [] and any("moved beyond the same-machine tolerance" in n for n in notes)
    drifts, _ = compare(from_records(doc(0.5, True)) | {"machine": there}, on(here, 0.45, False), {})
    assert [d.quantity for d in drifts] == ["status"]
    same, _ = compare(from_records(doc(0.5, True)) | {"machine": here}, on(here, 0.45, True), {})
    assert same, "on the same machine a moved value is a drift"


def test_compare_verdicts_lists_moves_with_the_runs_tier_and_fails_on_a_flip(tmp_path, capsys):
    """A baseline keeps no tier: a move is named by the run's (a machinery move once read "evidence")."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_verdicts", Path(__file__).parents[1] / "scripts" / "compare_verdicts.py")
    cv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cv)

    def claim(case, tier, outcome, value):
        return {"kind": "claim", "observation": "O4r", "arch": "pspnet", "task": "seg", "case": case, "tier": tier,
                "outcome": outcome, "interval": {"mean": value, "low": value - 0.1, "high": value + 0.1}}

    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"profile": "smoke", "machine": "x", "claims": {
        "O4r/pspnet/seg/other_seed": {"outcome": "inconclusive", "value": 0.0, "low": -0.1, "high": 0.1},
        "O4r/pspnet/seg/init": {"outcome": "holds", "value": 0.0, "low": -0.1, "high": 0.1}}}))
    run = tmp_path / "records.json"
    run.write_text(json.dumps({"profile": {"seeds": [0, 1]}, "records": [
        claim("other_seed", "machinery", "holds", 0.0), claim("init", "evidence", "holds", 0.0)]}))
    assert cv.main(str(baseline), str(run)) == 0
    out = capsys.readouterr().out
    assert "| O4r/pspnet/seg/other_seed | machinery |" in out and "flips between holds and does not hold: 0" in out
    run.write_text(json.dumps({"profile": {"seeds": [0, 1]}, "records": [
        claim("other_seed", "machinery", "holds", 0.0), claim("init", "evidence", "does not hold", 0.5)]}))
    assert cv.main(str(baseline), str(run)) == 1
