"""The pytest wiring end to end: options and start-up errors in process (pytester); xdist, records,
report and strict xfails in a subprocess."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import HANG_LIMIT, TINY_RESULTS


@pytest.mark.parametrize(
    "args, message",
    [
        (["--reusebench-profile", "huge"], "unknown profile 'huge'; valid choices: smoke, decisive, smoke-sgd, standard, paper"),
        (["--set", "steps=-3"], "'steps' must be >= 1, got -3"),
        (["--set", "steps"], "--set expects FIELD=VALUE, got 'steps'"),
        (["--arch", "unet,resnet"], "unknown architecture 'resnet' (from --arch); valid choices: unet, pspnet"),
        (["--task", "cls"], "unknown task 'cls' (from --task); valid choices: seg, ae"),
        (["--donor", "imagenet"], "unknown donor 'imagenet' (from --donor); valid choices: other_task"),
        (["--param-group", "bn.gamma"], "unknown parameter group 'bn.gamma' (from --param-group); valid choices: bn.running_mean"),
        (["--dataset", "mnist"], "unknown dataset 'mnist' (from --dataset); valid choices: shapes, nuclei"),
        (["--device", "tpu"], "unknown device 'tpu'; valid choices: auto, cpu, cuda, cuda:N"),
        (["--set", "batch_size=1"], "'batch_size' must be >= 2, got 1"),
        (["--arch", ","], "--arch ',' names no architecture; valid choices: unet, pspnet (leave it out for all)"),
        (["--reuse-memory", "-1"], "--reuse-memory must be >= 0 MiB (0 turns reuse off), got -1"),
        (["--precision", "bf16", "--device", "cpu"], "--precision bf16: GPU paths, but the device is cpu"),
        (["--compile", "--device", "cpu"], "--compile: GPU paths, but the device is cpu"),
        (["--workers-per-device", "0"], "--workers-per-device must be >= 1, got 0"),
        (["--param-group", "conv.bias", "--donor", "defaults"], "--donor defaults with --param-group conv.bias selects no replacement"),
    ],
)
def test_bad_input_is_a_usage_error_before_anything_trains(tmp_path, inline_suite, args, message):
    result = inline_suite(tmp_path, *args)
    stderr = "\n".join(result.errlines)
    assert result.ret == 4, "\n".join(result.outlines) + stderr
    assert message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir()), "nothing trained"


def test_bad_observations_file_is_a_usage_error(tmp_path, inline_suite):
    bad = tmp_path / "observations.toml"
    bad.write_text('[observation.X]\nstatement = "s"\nterms = { "conv.bias" = 1.0 }\nop = ">="\nthreshold = 0.1\ncases = ["defaults"]\nwhy = "w"\n')
    result = inline_suite(tmp_path, "--observations", str(bad))
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*observations.toml [[]observation.X[]]: donor 'defaults' makes no sense for group 'conv.bias'*"])


def test_unwritable_directories_are_usage_errors(tmp_path, inline_suite):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = inline_suite(tmp_path, "--results-dir", str(blocker / "results"))
    stderr = "\n".join(result.errlines)
    assert result.ret == 4
    assert f"the results directory '{blocker / 'results' / TINY_RESULTS}' is not writable" in stderr
    assert "choose another with --results-dir" in stderr


def test_collection_works_without_xdist(tmp_path, run_suite):
    """Issue 16: `-p no:xdist` must not fail on the xdist_group marker (strict markers). A
    subprocess: in process, the outer session's plugins would register the marker."""
    plain = run_suite(tmp_path, "--co", "-p", "no:xdist", "--arch", "unet", "--task", "seg", "--param-group", "conv.bias")
    assert plain.returncode == 0, plain.stdout[-2000:] + plain.stderr[-2000:]


def test_selection_options_narrow_the_run(tmp_path, inline_suite):
    result = inline_suite(tmp_path, "--co", "--arch", "pspnet", "--task", "ae", "--param-group", "conv.bias", "--donor", "init,other_seed")
    assert result.ret == 0, "\n".join(result.errlines)
    ids = [line for line in result.outlines if "::" in line]
    assert ids and all("pspnet" in i and "unet" not in i and "-seg" not in i for i in ids)
    assert "benchmarks/test_observations.py::test_observation[O4-pspnet-ae-init]" in ids
    assert not any("O1" in i or "O3" in i for i in ids), "observations on unselected groups are left out"
    maps = [i for i in ids if "test_layer_map[" in i]
    assert {i.rsplit("-", 1)[-1].rstrip("]") for i in maps} == {"none", "adabn"}, "layer maps without and with AdaBN"
    running = inline_suite(tmp_path, "--co", "--arch", "unet", "--task", "seg", "--param-group", "bn.running", "--donor", "init")
    assert not any("test_layer_map[" in line and "adabn" in line for line in running.outlines), \
        "AdaBN overwrites the running statistics: their AdaBN maps hold by construction and are not drawn"


def test_run_under_xdist_records_reports_and_shows_progress(tmp_path, run_suite):
    result = run_suite(tmp_path, "-n", "2", "-vv", "-k", "replacement_case and unet-seg")  # -vv: -q is passed too
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reusebench: training unet/seg/shapes/seed0: step" in result.stderr, "live step lines from the workers, with -v"
    # each worker counts its share (labelled, of the whole) up front, then k of its N with the time left
    counts = re.findall(r"\[(gw\d)\] reusebench: phase 1 of 2, the networks: worker (\d) of 2 gets (\d+) of the (\d+) ready "
                        r"\((\d+) in the cache, (\d+) to train\)", result.stderr)
    assert sorted(worker for worker, *_ in counts) == ["gw0", "gw1"], result.stderr[-3000:]
    # unet seg targets (2 seeds), their other-task, other-data and donor-pool (seg and ae, seeds 100 + s) networks: 10, 5 a worker
    assert sorted((index, total, every, cached, to_train) for _, index, total, every, cached, to_train in counts) == [
        ("1", "5", "10", "0", "5"), ("2", "5", "10", "0", "5")]
    took = r"(\d+h \d+m|(\d+m )?\d+s)"  # 45s, 1m 05s, 2h 03m on a busy machine
    assert re.search(rf"\[gw\d\] reusebench: worker \d of 2: network 1 of its 5 ready \(1 of 5 trained, about {took} of training left \(in training steps\)", result.stderr)
    assert re.search(rf"\[gw\d\] reusebench: worker \d of 2: all 5 of its networks ready in {took} \(5 trained, 0 loaded\); "
                     "phase 2 of 2", result.stderr)
    records = json.loads((tmp_path / "results" / TINY_RESULTS / "partial" / "records.json").read_text())
    cases = [r for r in records["records"] if r["kind"] == "case"]
    # (BN groups x 7 donors + conv groups x 6 donors) x (none, adabn) x 2 seeds
    assert len(cases) == (6 * 7 + 2 * 6) * 2 * 2
    trained = {f["label"] for f in records["fixtures"] if f["trained_now"]}
    assert {"unet/seg/shapes/seed0", "unet/ae/shapes/seed0"} <= trained
    assert not any(label.startswith("pspnet") for label in trained), "only what the selected tests need"
    report = (tmp_path / "results" / TINY_RESULTS / "partial" / "report.md").read_text()
    assert "## Replacement damage: unet / seg" in report
    last = result.stdout.rstrip().splitlines()[-1]  # -k: a partial run, in its own folder, said so (issue 16)
    assert last.startswith("reusebench report (PARTIAL: -k 'replacement_case and unet-seg'): ")
    assert f"{tmp_path / 'results' / TINY_RESULTS / 'partial' / 'report.md'}" in last
    assert not (tmp_path / "results" / TINY_RESULTS / "report.md").exists(), "a partial run never writes the complete run's report"
    assert not (tmp_path / "results" / "smoke" / "records.json").exists(), "a --set run never writes the committed profile's files"
    assert "**PARTIAL RUN** (-k 'replacement_case and unet-seg')" in report


@pytest.mark.parametrize("expect_failure, outcome", [(False, "1 passed"), (True, "1 failed")])
def test_an_expected_failure_that_holds_fails_the_run(tmp_path, run_suite, tiny_overrides, expect_failure, outcome):
    """A claim that holds by construction (threshold far below any damage) under a strict xfail."""
    obs = tmp_path / "observations.toml"
    text = (
        '[observation.T]\nstatement = "always"\nterms = { "conv.weight" = 1.0 }\nop = ">="\n'
        'threshold = -100.0\ncases = ["init"]\nwhy = "test"\n'
    )
    text += f'[calibration]\ndataset = "shapes"\ndevice = "cpu"\noverrides = {json.dumps(tiny_overrides)}\n'
    if expect_failure:
        text += '[[expected]]\nobservation = "T"\nprofile = "smoke"\narch = "unet"\ntask = "ae"\ncase = "init"\nstatus = "does not hold"\nreason = "r"\n'
    obs.write_text(text)
    result = run_suite(tmp_path, "--observations", str(obs), "-k", "test_observation and unet-ae", "--device", "cpu")
    assert outcome in result.stdout, result.stdout[-3000:]
    if expect_failure:
        assert "XPASS(strict)" in result.stdout


@pytest.mark.parametrize(
    "calibrated, op, outcome, code",
    [
        ("inconclusive", ">=", "1 passed", 0),  # decided where the calibration was not (another CPU model): a move, reported
        ("inconclusive", "<=", "1 xfailed", 0),  # ... either way
        ("holds", "<=", "1 failed", 1),  # a contradiction of the calibrated status: the one outcome that fails
    ],
)
def test_only_a_contradiction_of_the_calibrated_status_fails_the_run(tmp_path, run_suite, tiny_overrides, calibrated, op, outcome, code):
    """The calibration file differs from what this run measures only by moves into or out of
    inconclusive: the run is green (no retraining needed to show it: the threshold decides)."""
    obs = tmp_path / "observations.toml"
    text = (
        f'[observation.T]\nstatement = "s"\nterms = {{ "conv.weight" = 1.0 }}\nop = "{op}"\n'
        'threshold = -100.0\ncases = ["init"]\nwhy = "test"\n'
        f'[calibration]\ndataset = "shapes"\ndevice = "cpu"\noverrides = {json.dumps(tiny_overrides)}\n'
        '[calibrated.smoke]\nmachine = "Some Other CPU (family 25 model 17)"\ntorch = "x"\ndate = "2026-12-01"\n'
        f'[[expected]]\nobservation = "T"\nprofile = "smoke"\narch = "unet"\ntask = "ae"\ncase = "init"\nstatus = "{calibrated}"\nreason = "r"\n'
    )
    obs.write_text(text)
    result = run_suite(tmp_path, "--observations", str(obs), "-k", "test_observation and unet-ae", "--device", "cpu", "-rxX")
    assert result.returncode == code and outcome in result.stdout, result.stdout[-3000:]
    if calibrated == "inconclusive":
        moved = "holds" if op == ">=" else "does not hold"
        assert f"moved into or out of inconclusive against the calibration (Some Other CPU (family 25 model 17), torch x, 2026-12-01)" in result.stdout
        assert f"T/unet/ae/init (inconclusive -> {moved})" in result.stdout
        report = (tmp_path / "results" / TINY_RESULTS / "partial" / "report.md").read_text()
        assert f"T/unet/ae/init inconclusive -> {moved}" in report and "Some Other CPU" in report
    else:
        assert "FLIPS against the calibration" in result.stdout


def test_a_cells_level_and_interval_do_not_depend_on_the_selection(tmp_path, run_suite):
    """The family is the profile's whole battery: one cell selected on its own gets the level and
    interval it gets in a wider run (every donor of O3 on the UNet auto-encoder; the tiny profile's
    other networks learn too little for a defined damage on its 8 test images, beside the point here)."""
    def claim_of(results, *args):
        result = run_suite(tmp_path, "-k", "test_observation and O3-unet-ae", "--results-dir", str(tmp_path / results), *args)
        assert result.returncode == 0, result.stdout[-3000:]
        records = json.loads((tmp_path / results / TINY_RESULTS / "partial" / "records.json").read_text())["records"]
        return next(r for r in records if r["kind"] == "claim" and r["observation"] == "O3" and r["arch"] == "unet"
                    and r["task"] == "ae" and r["case"] == "init")

    alone = claim_of("one", "--arch", "unet", "--task", "ae", "--donor", "init", "--param-group", "conv.weight")
    full = claim_of("all")
    assert alone["family_size"] == full["family_size"] == 24  # O3: 2 archs x 2 tasks x 6 donors, whatever was selected
    assert alone["interval"] == full["interval"] and alone["outcome"] == full["outcome"]


@pytest.mark.parametrize("xdist, measured_by", [([], "pytest-benchmark"), (["-n", "2"], "reusebench")])
def test_timings_are_recorded_with_and_without_xdist(tmp_path, run_suite, xdist, measured_by):
    import subprocess
    import sys

    wanted = tmp_path / "asked.json"  # pytest-benchmark's own option, honoured under xdist too (issue 16)
    result = run_suite(tmp_path, *xdist, "-m", "timing", "--arch", "pspnet", "--benchmark-json", str(wanted))
    assert result.returncode == 0, result.stdout[-2000:]
    bench = tmp_path / "results" / TINY_RESULTS / "partial" / "benchmark.json"
    doc = json.loads(bench.read_text())
    assert len(json.loads(wanted.read_text())["benchmarks"]) == 4
    assert len(doc["benchmarks"]) == 4 and all(b["stats"]["rounds"] == 10 for b in doc["benchmarks"])
    assert all(b["extra_info"]["torch"] and b["extra_info"]["workers"] == (2 if xdist else 1) for b in doc["benchmarks"])
    records = json.loads((tmp_path / "results" / TINY_RESULTS / "partial" / "records.json").read_text())["records"]
    assert {r["measured_by"] for r in records if r["kind"] == "timing"} == {measured_by}
    compare = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(bench)], capture_output=True, text=True)
    assert compare.returncode == 0 and "test_evaluate[pspnet]" in compare.stdout, compare.stderr


def test_xdist_gateways_with_a_shared_cache_train_each_network_once(tmp_path, run_suite):
    """What a user who outgrows one machine does: xdist's own gateways (--tx), one cache."""
    result = run_suite(tmp_path, "--tx", "2*popen", "--dist", "load", "-k", "replacement_case and unet")
    assert result.returncode == 0, result.stdout[-2000:]
    doc = json.loads((tmp_path / "results" / TINY_RESULTS / "partial" / "records.json").read_text())
    labels = [t["label"] for t in doc["trainings"]]
    assert len(labels) == len(set(labels)) == 12, labels  # unet: 2 tasks x 2 seeds x 2 datasets, + the donor pool (2 tasks x seeds 100, 101), each trained once
    assert {t["worker"] for t in doc["trainings"]} == {"gw0", "gw1"}, "both gateways trained their share"


def test_calibrated_statuses_do_not_apply_outside_their_calibration(tmp_path, run_suite):
    """The same calibrated "does not hold", but the run's overrides differ from the calibration's:
    not the calibrated experiment, so every outcome is reported and none fails."""
    obs = tmp_path / "observations.toml"
    obs.write_text(
        '[observation.T]\nstatement = "always"\nterms = { "conv.weight" = 1.0 }\nop = ">="\n'
        'threshold = -100.0\ncases = ["init"]\nwhy = "test"\n'
        '[[expected]]\nobservation = "T"\nprofile = "smoke"\narch = "unet"\ntask = "ae"\ncase = "init"\nstatus = "does not hold"\nreason = "r"\n'
    )
    result = run_suite(tmp_path, "--observations", str(obs), "-k", "test_observation and unet-ae", "-rX")
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-2000:]
    assert "calibrated statuses not applied: this run's --set / --dataset differ from the calibration" in result.stdout


@pytest.mark.parametrize("machinery, outcome", [(True, "1 failed"), (False, "1 failed")])
def test_a_broken_machinery_check_fails_the_run(tmp_path, run_suite, tiny_overrides, machinery, outcome):
    """A machinery check is left out of the claims summary, not out of the verdict: when the
    identity it guards breaks (here: a threshold no damage can meet), the run fails."""
    obs = tmp_path / "observations.toml"
    text = (
        '[observation.T]\nstatement = "never"\nterms = { "conv.weight" = 1.0 }\nop = "<="\n'
        'threshold = -100.0\ncases = ["init"]\nwhy = "test"\n' + ('machinery = ["init"]\n' if machinery else "")
    )
    text += f'[calibration]\ndataset = "shapes"\ndevice = "cpu"\noverrides = {json.dumps(tiny_overrides)}\n'
    if not machinery:  # an evidence cell fails the run only against a calibrated "holds"
        text += '[[expected]]\nobservation = "T"\nprofile = "smoke"\narch = "unet"\ntask = "ae"\ncase = "init"\nstatus = "holds"\nreason = "r"\n'
    obs.write_text(text)
    result = run_suite(tmp_path, "--observations", str(obs), "-k", "test_observation and unet-ae", "--device", "cpu")
    assert result.returncode == 1 and outcome in result.stdout, result.stdout[-3000:]
    records = json.loads((tmp_path / "results" / TINY_RESULTS / "partial" / "records.json").read_text())
    claim = next(r for r in records["records"] if r["kind"] == "claim")
    assert claim["tier"] == ("machinery" if machinery else "evidence") and claim["outcome"] == "does not hold"
    assert ("machinery checks" in result.stdout) == machinery


USER_MODEL = '''
import torch
from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def data():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 2, (16,), generator=g)
    return (x, y), (x[:8], y[:8])
'''


def user_repository(root):
    """A user's repository: a package of its own named `models`, a test, an audit file, and a
    conftest with pytest-profiling's `--profile` and pytest-split's `--group`."""
    (root / "models").mkdir(parents=True)
    (root / "models" / "__init__.py").write_text("")
    (root / "models" / "mynet.py").write_text(USER_MODEL)
    (root / "test_mine.py").write_text("def test_mine():\n    from models.mynet import build\n    assert build()\n")
    (root / "conftest.py").write_text("def pytest_addoption(parser):\n    parser.addoption('--profile', dest='profile', action='store_true')\n    parser.addoption('--group', dest='group', type=int)\n")
    (root / "audit.toml").write_text('model = "models.mynet:build"\ndata = "models.mynet:data"\nloss = "cross_entropy"\n')
    return root


def run_in(root, *args):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("REUSEBENCH_", "PYTEST_"))}
    env["REUSEBENCH_CACHE_DIR"] = str(root / "cache")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=HANG_LIMIT)


def test_the_installed_plugin_audits_from_a_users_repository_without_shadowing_its_packages(tmp_path):
    """`pytest --audit audit.toml` from another repository: the installed plugin (entry point)
    finds the suite's benchmarks, the user's own `models` package is the one imported, and
    other plugins' `--profile` and `--group` do not clash with the suite's options."""
    root = user_repository(tmp_path / "user")
    done = run_in(root, "--audit", "audit.toml", "--collect-only", "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    suite = {path.name for path in (Path(__file__).parents[1] / "benchmarks").glob("test_*.py")}
    assert collected and all(line.split("::")[0].rpartition("/")[2] in suite for line in collected), done.stdout[-2000:]
    assert any("test_verdict" in line for line in collected), "the audit's own tests are there"


def test_the_plugin_stays_out_of_a_users_own_test_session(tmp_path):
    """Installed, the plugin is loaded in every session; without the suite's tests it adds no
    fixture, no marker and writes nothing."""
    root = user_repository(tmp_path / "user")
    done = run_in(root, "test_mine.py", "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout and "reusebench" not in done.stdout
    assert not (root / "results").exists()
    fixtures = run_in(root, "--fixtures", "test_mine.py")
    assert fixtures.returncode == 0 and "tmp_path" in fixtures.stdout
    assert "def lab" not in fixtures.stdout and "\nlab " not in fixtures.stdout and "timed" not in fixtures.stdout


def collected(result) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(("ERROR", "FAILED"))]


def test_shards_cover_the_selection_once_and_keep_a_target_network_together(tmp_path, inline_suite):
    whole = collected(inline_suite(tmp_path, "--co"))
    parts = [collected(inline_suite(tmp_path, "--co", "--shard", f"{i}/3")) for i in (1, 2, 3)]
    assert all(parts) and sorted(sum(parts, [])) == sorted(whole), "every test in exactly one shard"
    for target in ("unet-seg", "pspnet-ae"):
        cases = [i for i, part in enumerate(parts) if any("replacement_case[" + target in t for t in part)]
        assert len(cases) == 1, f"the replacement cases of {target} stay in one shard"
    bad = inline_suite(tmp_path, "--co", "--shard", "4/3")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR and "--shard expects I/N with 1 <= I <= N" in "\n".join(bad.errlines)
    one_target = inline_suite(tmp_path, "--co", "--arch", "unet", "--task", "seg", "-k", "replacement_case", "--shard", "1/2")
    assert one_target.ret == pytest.ExitCode.USAGE_ERROR, "an empty shard is refused, not a run that writes nothing"
    assert "splits into 1 group(s) of tests (one per target network); use at most 1 shards" in "\n".join(one_target.errlines + one_target.outlines)


def test_an_empty_shard_is_a_usage_error_under_xdist_too(tmp_path, run_suite):
    """xdist collects on the workers: the controller reports their usage error and exits 4."""
    done = run_suite(tmp_path, "--arch", "unet", "--task", "seg", "-k", "replacement_case", "--shard", "2/2", "-n", "2")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ERROR: reusebench: --shard 2/2: the selection splits into 1 group(s) of tests" in done.stdout
    assert "INTERNALERROR" not in done.stdout + done.stderr


def test_sharded_runs_merge_into_one_report(tmp_path, run_suite):
    """Two shards of one run (issue 16, item 10), each writing its own records, then
    `python -m reusebench.merge` building one report from them."""
    import subprocess
    import sys

    narrow = ("--arch", "unet", "--param-group", "conv.bias", "-k", "replacement_case")  # two targets: seg, ae
    shards = tmp_path / "results" / TINY_RESULTS / "shards"
    for i in (1, 2):
        done = run_suite(tmp_path, *narrow, "--shard", f"{i}/2", "-n", "2")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    docs = [json.loads((shards / f"{i}-of-2" / "partial" / "records.json").read_text()) for i in (1, 2)]
    assert all(d["records"] for d in docs) and [(d["shard"]["index"], d["shard"]["count"]) for d in docs] == [(1, 2), (2, 2)]
    merge = [sys.executable, "-P", "-m", "reusebench.merge"]
    claims = tmp_path / "committed" / "claims.json"
    done = subprocess.run([*merge, *(str(shards / f"{i}-of-2" / "partial") for i in (1, 2)), "--claims-out", str(claims)],
                          capture_output=True, text=True, timeout=HANG_LIMIT)
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "results" / TINY_RESULTS / "partial" / "records.json").read_text())
    assert sorted(r["test"] for r in merged["records"]) == sorted(r["test"] for d in docs for r in d["records"])
    kept = json.loads(claims.read_text())  # the claim records alone, with what describes the run
    assert kept["records"] == [r for r in merged["records"] if r["kind"] == "claim"] and kept["profile"] == merged["profile"]
    assert "fixtures" not in kept and kept["partial"] == merged["partial"]
    report = (tmp_path / "results" / TINY_RESULTS / "partial" / "report.md").read_text()
    assert "**PARTIAL RUN**" in report and "shard 1: --arch unet" in report, "narrowed shards make a partial whole"
    alone = subprocess.run([*merge, str(shards / "1-of-2" / "partial"), "--out", str(tmp_path / "one")], capture_output=True, text=True, timeout=HANG_LIMIT)
    assert alone.returncode == 0 and "shard 2 of 2 missing" in alone.stdout
    twice = subprocess.run([*merge, str(shards / "1-of-2" / "partial"), str(shards / "1-of-2" / "partial")], capture_output=True, text=True, timeout=HANG_LIMIT)
    assert twice.returncode == 2 and "shard(s) [1] given more than once" in twice.stderr
    assert docs[0]["shard"]["run"] == docs[1]["shard"]["run"] and docs[0]["shard"]["run"]["keyword"] == "replacement_case"
    stale = tmp_path / "stale"  # a shard of another run (another -k) left in the folder
    stale.mkdir()
    other = dict(docs[1], shard=dict(docs[1]["shard"], run=dict(docs[1]["shard"]["run"], keyword="O4")))
    (stale / "records.json").write_text(json.dumps(other))
    mixed = subprocess.run([*merge, str(shards / "1-of-2" / "partial"), str(stale), "--out", str(tmp_path / "mixed")],
                           capture_output=True, text=True, timeout=HANG_LIMIT)
    assert mixed.returncode == 2 and "the shards differ in commit and options (the run)" in mixed.stderr


def test_shards_split_deterministically_and_evenly():
    from reusebench.shards import split_into_shards

    items = [(f"t{i}", key) for i, key in enumerate("aaaabbbccd")]
    split = split_into_shards(items, 2)
    assert split == split_into_shards(list(reversed(items)), 2), "the same split whatever the collection order"
    by_key = {key: {split[t] for t, k in items if k == key} for key in "abcd"}
    assert all(len(shards) == 1 for shards in by_key.values())
    loads = [sum(1 for t in split.values() if t == s) for s in (1, 2)]
    assert sorted(loads) == [5, 5]


def test_timings_use_no_pytest_benchmark_internals_and_agree_with_its_statistics():
    """reusebench.timing imports nothing from pytest-benchmark (issue 16, item 6): its statistics
    are its own, and agree with pytest-benchmark's on the quantities they share."""
    import ast

    from pytest_benchmark.stats import Stats  # the reference, in the test only

    from reusebench import timing

    tree = ast.parse(Path(timing.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("pytest_benchmark")}
    for data in ([0.012, 0.010, 0.011, 0.030, 0.0105, 0.0111, 0.0098], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 9.0, 5.0],
                 [3.0, 1.0, 2.0, 7.0, 5.0], [2.0]):  # odd and even counts (two quartile methods), one round
        ours, theirs = timing.stats_of(data), Stats()
        for value in data:
            theirs.update(value)
        for key in ("min", "max", "mean", "stddev", "median", "rounds", "total", "ops", "q1", "q3", "iqr",
                    "iqr_outliers", "stddev_outliers", "outliers", "ld15iqr", "hd15iqr"):
            assert ours[key] == pytest.approx(getattr(theirs, key)), (data, key)


def test_a_session_says_when_another_wrote_its_results_meanwhile(tmp_path, pytester, inline_suite):
    """Two sessions on one results directory write one at a time (a file lock), and the later
    says that the other one wrote while it ran (issue 16, item 1)."""
    pytester.makepyfile(other_session='''
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(session):
            from reusebench.plugin.state import state
            folder = state(session.config).results_dir / "partial"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "records.json").write_text("{}")  # another session's write, while this one runs
    ''')
    pytester.syspathinsert()
    result = inline_suite(tmp_path, "-p", "other_session", "-k", "replacement_case and unet-seg-conv.bias-init-none-seed0")
    assert result.ret == 0, "\n".join(result.outlines[-20:])
    out = "\n".join(result.outlines)
    assert f"another session wrote {tmp_path / 'results' / TINY_RESULTS / 'partial' / 'records.json'} while this one ran" in out
    assert json.loads((tmp_path / "results" / TINY_RESULTS / "partial" / "records.json").read_text())["records"], "this run's file came after"


@pytest.mark.parametrize("pytest_handles_it", [True, False], ids=["interrupt", "interrupt-handler-fails"])
def test_an_interrupted_run_never_replaces_the_complete_report(tmp_path, tiny_overrides, pytest_handles_it):
    """Ctrl-C once tests have recorded something (issue 16, item 1): the run ends interrupted,
    writes what it measured to its partial folder, marked interrupted, and leaves the complete
    run's report as it was; also where pytest's own interrupt handling fails before it sets the
    INTERRUPTED status (seen on Python 3.11: its traceback of a frame without a line number).
    The signal is sent on an event (a test plugin holds the run after the first test that
    recorded a measurement and says so), never after a guessed delay: on a fast machine the
    whole tiny run used to finish inside the delay."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import _suite_args
    from hold_after_first_test import HELD

    complete = tmp_path / "results" / TINY_RESULTS / "report.md"
    complete.parent.mkdir(parents=True)
    complete.write_text("# the complete run's report\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REUSEBENCH_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(Path(__file__).parent), env.get("PYTHONPATH"))))
    env["HOLD_THEN_BREAK_PYTEST"] = "0" if pytest_handles_it else "1"
    cmd = [sys.executable, "-P", "-m", "pytest", *_suite_args(tmp_path, tiny_overrides, ("-p", "no:xdist", "-p", "hold_after_first_test"))]
    # Ctrl-C must reach the run even where this session ignores SIGINT (a shell starts a
    # background job so, `cmd &`, and an ignored signal is inherited across exec): the run would
    # then sleep out the hold and this test wait HANG_LIMIT for it
    run = subprocess.Popen(cmd, cwd=Path(__file__).parents[1], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = []
        for line in run.stdout:  # ends when the run does: then the assertions below say why
            seen.append(line)
            if HELD in line:
                run.send_signal(signal.SIGINT)
                break
        out = "".join(seen) + run.communicate(timeout=HANG_LIMIT)[0]
    finally:
        run.kill()
    assert HELD in out, out[-2000:]
    if pytest_handles_it:
        assert run.returncode == pytest.ExitCode.INTERRUPTED, out[-2000:]
    else:
        assert "(simulated)" in out and run.returncode != pytest.ExitCode.OK, out[-2000:]
    assert complete.read_text() == "# the complete run's report\n"
    partial = (tmp_path / "results" / TINY_RESULTS / "partial" / "report.md").read_text()
    marker = next(line for line in partial.splitlines() if line.startswith("**PARTIAL RUN**"))
    assert "interrupted" in marker, marker


def test_step_lines_only_with_verbose_and_each_line_is_flushed_at_once():
    from types import SimpleNamespace

    from reusebench.plugin.progress import TerminalProgress

    written = []

    class Capture:
        def global_and_fixture_disabled(self):
            from contextlib import nullcontext
            return nullcontext()

    class Reporter:
        def ensure_newline(self):
            pass

        def write_line(self, line):
            written.append(line)

        def flush(self):
            written.append("<flushed>")

    plugins = {"capturemanager": Capture(), "terminalreporter": Reporter()}
    for verbose, expected in ((0, ["reusebench: trained x", "<flushed>"]),
                              (1, ["reusebench: training x: step 1/2", "<flushed>", "reusebench: trained x", "<flushed>"])):
        written.clear()
        config = SimpleNamespace(option=SimpleNamespace(verbose=verbose), pluginmanager=SimpleNamespace(getplugin=plugins.get))
        progress = TerminalProgress(config, "main")
        progress("training x: step 1/2")
        progress("trained x")
        assert written == expected



def test_a_full_training_of_an_unseen_task_is_expected_at_the_prior_share_of_its_budget():
    from types import SimpleNamespace

    from reusebench.plugin.progress import PRIOR_FULL_FRACTION, WorkModel

    ae, seg = SimpleNamespace(task="ae"), SimpleNamespace(task="seg")
    model = WorkModel([ae, seg], lambda spec: ("full", 100, 1.0), lambda spec: 100)  # the AE ran its whole budget
    model.to_train = {0, 1}
    model.trained(0, 10.0)  # 0.1 s a step
    assert model.seconds_left(1) == pytest.approx(0.1 * 100 * PRIOR_FULL_FRACTION), "not the AE's share: the prior"
