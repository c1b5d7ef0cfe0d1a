"""Audits of networks the suite has never seen: the whole battery, no change to the suite."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from reusebench.fixtures.audit import AuditNetworks, AuditSpec
from reusebench.audit import AuditConfig, load_audit, load_checkpoint
from reusebench.protocol import ConfigError

ROOT = Path(__file__).parents[1]

# A 1-D signal classifier with layer types the paper's networks do not have: Conv1d,
# BatchNorm1d, GroupNorm, LayerNorm, and a Linear head that no group covers.
NEVER_SEEN = textwrap.dedent('''
    import math
    import torch
    from torch import nn

    class Tail(nn.Module):
        def forward(self, x):
            return x.mean(-1)

    def build():
        return nn.Sequential(
            nn.Conv1d(1, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(),
            nn.Conv1d(8, 8, 5, padding=2), nn.GroupNorm(2, 8), nn.ReLU(),
            nn.Conv1d(8, 8, 3, padding=1), nn.LayerNorm([8, 32]), nn.ReLU(),
            nn.Conv1d(8, 8, 3, padding=1), nn.BatchNorm1d(8), nn.ReLU(),
            Tail(), nn.Linear(8, 3),
        )

    def _signals(n, seed, shift):
        g = torch.Generator().manual_seed(seed)
        labels = torch.randint(3, (n,), generator=g)
        t = torch.linspace(0, 1, 32)
        freq = (labels.float() + 1)[:, None] * 2 * math.pi
        x = torch.sin(freq * t + shift) + 0.3 * torch.randn(n, 32, generator=g) + shift
        return x[:, None], labels

    def data():
        return _signals(192, 1, 0.0), _signals(96, 2, 0.0)

    def images():
        return (torch.rand(8, 1, 8, 8), torch.zeros(8, dtype=torch.long)), (torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))

    def other_data():
        return _signals(192, 3, 0.5), _signals(96, 4, 0.5)
''')


@pytest.fixture
def never_seen(tmp_path, monkeypatch):
    (tmp_path / "never_seen_net.py").write_text(NEVER_SEEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    audit = tmp_path / "audit.toml"
    audit.write_text(
        'name = "signals"\nmodel = "never_seen_net:build"\ndata = "never_seen_net:data"\n'
        'donor_data = "never_seen_net:other_data"\nmetric = "accuracy"\nloss = "cross_entropy"\nsteps = 150\nlr = 0.01\n'
    )
    return audit


def test_a_model_never_seen_goes_through_the_whole_battery(tmp_path, never_seen, run_suite):
    result = run_suite(tmp_path, "--audit", str(never_seen), "-n", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = tmp_path / "results" / "audit-signals"
    doc = json.loads((out / "records.json").read_text())
    records = doc["records"]
    kinds = {r["kind"] for r in records}
    assert {"case", "claim", "verdict", "inventory", "rmse_damage", "baseline"} <= kinds
    claims = {r["observation"] for r in records if r["kind"] == "claim"}
    assert {"O1", "O2", "O3", "O4", "O4r", "C1"} <= claims <= {"O1", "O2", "O3", "O4", "O4r", "C1", "A1"}, claims
    verdict = next(r for r in records if r["kind"] == "verdict")
    assert {g["group"] for g in verdict["groups"]} >= {"bn.running", "conv.weight", "norm.affine"}
    assert all(g["verdict"] in ("reuse", "reuse + AdaBN", "re-estimate (AdaBN)", "retrain", "inconclusive") for g in verdict["groups"])
    assert all(len(g["damage_ci95"]) == 2 for g in verdict["groups"]), "every verdict with its interval"
    inventory = next(r for r in records if r["kind"] == "inventory")
    covered = dict((t, g) for t, g in inventory["coverage"]["covered"])
    assert {"Conv1d", "BatchNorm1d", "GroupNorm", "LayerNorm"} <= set(covered)
    assert [u[1] for u in inventory["coverage"]["uncovered"]] == ["Linear"]
    layer_donors = {r["donor"] for r in records if r["kind"] == "case" and r["scope"] == "layer"}
    assert layer_donors == {"init", "rerandom", "pretrained"}
    report = (out / "report.md").read_text()
    assert report.startswith("# reusebench audit: `signals`")
    assert report.index("## Verdict") < report.index("## Claims summary")
    assert "| `Linear` |" not in report and "Linear" in report  # listed as not covered
    assert (out / "figures" / "layermap-signals-audit.png").is_file()


def test_the_example_audit_answers_with_a_verdict(tmp_path, run_suite):
    """The README's example answers as the README says: its verdict, from the README's audit file.

    Only the tests behind the verdict run (the verdict itself, the target's learning check,
    the inventory); the whole battery on an audit is test_a_model_never_seen_goes_through_the_whole_battery.
    """
    result = run_suite(tmp_path, "--audit", "examples/shapes_classifier.toml", "-n", "2",
                       "-k", "audit_verdict or learned_without_saturating or group_inventory")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    report = (tmp_path / "results" / "audit-shapes-classifier" / "partial" / "report.md").read_text()  # -k: a partial run
    head = report[: report.index("## Parameter groups")]
    assert "## Verdict: what `shapes-classifier` can reuse from your pre-trained model" in head
    for group in ("bn.running", "bn.affine", "conv.weight", "conv.bias", "norm.affine"):
        assert f"| {group} " in head, group
    assert "Linear" in report.split("## Parameter groups")[1], "the uncovered classifier is named"
    # The documented answer (README): the pre-trained kernels must be retrained, BN affine reused
    # (as is on one CPU model, after AdaBN on another: its damage, 0.045-0.073, sits near the
    # 0.1 threshold, where the networks' last bits decide), GroupNorm reused as is.
    rows = {line.split("|")[1].strip(): line for line in head.splitlines() if line.startswith("| ")}
    assert "**retrain**" in rows["conv.weight"] and ("**reuse**" in rows["bn.affine"] or "**reuse + AdaBN**" in rows["bn.affine"]), rows
    assert "**reuse**" in rows["norm.affine"] and "**re-estimate (AdaBN)**" in rows["bn.running"], rows
    records = json.loads((tmp_path / "results" / "audit-shapes-classifier" / "partial" / "records.json").read_text())["records"]
    base = next(r for r in records if r["kind"] == "baseline")
    assert base["trained"] - base["init"] >= 0.2, "the example's target learned"


def options(**kw) -> dict:
    return {k: None for k in AuditConfig.__dataclass_fields__} | kw


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(model="never_seen_net"), r"model 'never_seen_net' is not an import path of the form 'package.module:function'"),
        (dict(model="no_such_module:build"), r"model 'no_such_module:build': cannot import 'no_such_module'"),
        (dict(model="never_seen_net:biuld"), r"'never_seen_net' has no 'biuld'; it has: .*build"),
        (dict(metric="f1"), r"unknown metric 'f1'; valid choices: accuracy, dice, iou, ssim, psnr, neg_mse"),
        (dict(loss="hinge"), r"unknown loss 'hinge'; valid choices: cross_entropy, bce, mse"),
        (dict(data=None), r"an audit needs data"),
        (dict(steps=0), r"'steps' must be a positive int, got 0"),
        (dict(target_checkpoint="missing.pt"), r"target_checkpoint 'missing.pt' is not a file"),
    ],
)
def test_bad_audit_options_name_the_value(never_seen, kw, message):
    base = dict(model="never_seen_net:build", data="never_seen_net:data")
    with pytest.raises(ConfigError, match=message):
        load_audit(None, options(**{**base, **kw}), ROOT)


def test_audit_file_errors_and_precedence(tmp_path, never_seen):
    bad = tmp_path / "bad.toml"
    bad.write_text('modle = "x:y"\n')
    with pytest.raises(ConfigError, match=r"unknown keys \['modle'\]; valid keys: name, model"):
        load_audit(str(bad), options(), ROOT)
    config = load_audit(str(never_seen), options(metric="neg_mse", name="other name"), ROOT)
    assert (config.metric, config.name, config.steps) == ("neg_mse", "other-name", 150), "options win; names are path-safe"
    assert load_audit(None, options(), ROOT) is None, "no audit: the paper's battery"


def test_a_usage_error_trains_nothing(tmp_path, inline_suite):
    result = inline_suite(tmp_path, "--model", "nowhere:build", "--data", "nowhere:data")
    assert result.ret == 4
    assert "model 'nowhere:build': cannot import 'nowhere'" in "\n".join(result.errlines)


def test_checkpoints_must_fit(tmp_path, never_seen):
    import never_seen_net

    good, wrong = tmp_path / "good.pt", tmp_path / "wrong.pt"
    torch.save(never_seen_net.build().state_dict(), good)
    torch.save(nn.Linear(2, 2).state_dict(), wrong)
    load_checkpoint(never_seen_net.build(), str(good), "target checkpoint")
    with pytest.raises(ConfigError, match=r"(?s)target checkpoint '.*wrong.pt' does not fit the model: .*Missing key"):
        load_checkpoint(never_seen_net.build(), str(wrong), "target checkpoint")


def test_an_audit_with_checkpoints_uses_them(tmp_path, never_seen):
    import never_seen_net

    from reusebench.profiles import get_profile

    torch.manual_seed(5)
    target = never_seen_net.build()
    path = tmp_path / "target.pt"
    torch.save({"state_dict": target.state_dict()}, path)
    config = load_audit(str(never_seen), options(target_checkpoint=str(path)), ROOT)
    networks = AuditNetworks(config, get_profile("smoke"), torch.device("cpu"), tmp_path / "cache")
    fx = networks.fixture(networks.target_spec("signals", "audit"))
    assert not fx.trained_now
    assert all(torch.equal(a, b) for a, b in zip(fx.model.state_dict().values(), target.state_dict().values()))


def test_trained_audit_networks_are_cached_once(tmp_path, never_seen):
    from reusebench.profiles import get_profile

    config = load_audit(str(never_seen), options(steps=20), ROOT)
    providers = [AuditNetworks(config, get_profile("smoke"), torch.device("cpu"), tmp_path / "cache") for _ in range(2)]
    first, second = (p.fixture(p.target_spec("signals", "audit")) for p in providers)
    assert first.trained_now and not second.trained_now, "the second provider (another worker) loads"
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()))
    assert not list((tmp_path / "cache").rglob(".tmp-*")), "no half-written entries"
    other = load_audit(str(never_seen), options(steps=21), ROOT)
    assert AuditNetworks(other, get_profile("smoke"), torch.device("cpu"), tmp_path / "cache").fixture(
        AuditSpec("signals", "target", 0)).trained_now, "another recipe trains anew"


def test_a_model_that_does_not_fit_its_data_is_a_usage_error(tmp_path, never_seen, inline_suite):
    result = inline_suite(tmp_path, "--audit", str(never_seen), "--data", "never_seen_net:images")
    assert result.ret == 4, "\n".join(result.outlines[-40:])
    assert "model 'never_seen_net:build' cannot run on data 'never_seen_net:images' inputs of shape (2, 1, 8, 8)" in "\n".join(result.errlines)


def test_verdict_classes():
    from reusebench.verdict import audit_verdict

    nan = float("nan")
    assert audit_verdict((0.03, 0.07), (0.8, 0.9)) == "reuse"
    assert audit_verdict((0.4, 0.6), (0.03, 0.07)) == "reuse + AdaBN"
    assert audit_verdict((0.4, 0.6), (0.03, 0.07), running_stats=True) == "re-estimate (AdaBN)"
    assert audit_verdict((0.4, 0.6), (0.15, 0.25)) == "retrain" and audit_verdict((0.4, 0.6), None) == "retrain"
    assert audit_verdict((0.05, 0.15), (0.5, 0.6)) == "inconclusive", "straddles the threshold"
    assert audit_verdict((0.4, 0.6), (0.05, 0.15)) == "inconclusive", "AdaBN might bring it there, or not"
    assert audit_verdict((nan, nan), (0.0, 0.0)) == "undefined"


# Issue 17's network: bias-free convs before BN (only the one-channel head has a bias), a branch
# the forward pass never calls, and one logit per pixel (binary segmentation) with no loss named.
LIBRARY_LIKE = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.unused = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16))  # a deeper stage, never called
            self.head = nn.Conv2d(8, 1, 1)  # one logit per pixel

        def forward(self, x):
            return self.head(self.body(self.stem(x)))

    def build():
        return Net()

    def _split(n, seed, invert):
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(n, 1, 12, 12, generator=g)
        masks = (x > 0.5).float()
        return (1 - x if invert else x), masks

    def data():
        return _split(48, 1, False), _split(24, 2, False)

    def donor_data():
        return _split(48, 3, True), _split(24, 4, True)
''')


@pytest.fixture
def library_like(tmp_path, monkeypatch):
    (tmp_path / "library_like.py").write_text(LIBRARY_LIKE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def audit_file(name: str = "lib", **keys) -> Path:
        keys = {"name": name, "model": "library_like:build", "data": "library_like:data", "donor_data": "library_like:donor_data",
                "metric": "dice", "steps": 120, "lr": 0.01, **keys}  # no loss: left out, as issue 17 found it
        path = tmp_path / f"{name}.toml"
        path.write_text("".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in keys.items()))
        return path

    return audit_file


def test_a_loss_that_cannot_train_the_output_is_refused_at_start_up(library_like):
    """Issue 17, item 1: cross_entropy over one output channel is 0 for every input. Before, the
    audit trained nothing and answered "conv.weight: reuse (damage 0.000)"."""
    with pytest.raises(ConfigError, match=r"loss 'cross_entropy' cannot train this model: on its output \(4, 1, 12, 12\) it is 0 "
                                          r"with a zero gradient.*one output channel is always 0.*'bce' fits"):
        load_audit(str(library_like(loss="cross_entropy")), {}, ROOT)
    chosen = load_audit(str(library_like()), {}, ROOT)
    assert chosen.loss == "bce" and chosen.loss_why.startswith("chosen from the output: one output value (a logit) per binary target")
    assert load_audit(str(library_like(loss="bce")), {}, ROOT).loss_why == "set in the audit"
    with pytest.raises(ConfigError, match=r"donor_init 'mine'; valid choices: own, target"):
        load_audit(str(library_like(donor_init="mine")), {}, ROOT)


def test_the_library_like_network_gets_an_honest_audit(tmp_path, library_like, run_suite):
    """Issue 17, items 2-5 on one network: counts over the modules that run, "N of M" beside the
    verdict, not-applicable groups said (verdict row and skipped tests), the never-called branch
    listed, the pre-trained model from its own initialisation, labels per split, claims read out."""
    result = run_suite(tmp_path, "--audit", str(library_like()), "-n", "2", "-rs")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = tmp_path / "results" / "audit-lib"
    records = json.loads((out / "records.json").read_text())
    verdict = next(r for r in records["records"] if r["kind"] == "verdict")
    groups = {g["group"]: g for g in verdict["groups"]}
    assert (groups["conv.bias"]["layers"], groups["conv.bias"]["of"]) == (1, 3), "the head alone; the unused branch's conv is not counted"
    assert (groups["conv.weight"]["layers"], groups["conv.weight"]["of"]) == (3, 3)
    assert (groups["bn.running"]["layers"], groups["bn.running"]["of"]) == (2, 2), "the unused branch's BN is not counted"
    assert groups["norm.weight"]["verdict"] == "not applicable" and groups["norm.weight"]["of"] == 0
    inventory = next(r for r in records["records"] if r["kind"] == "inventory")
    assert [name for name, *_ in inventory["never_called"]] == ["unused.0", "unused.1"]
    assert "unused.0" not in inventory["conv_layers"] and inventory["groups"]["conv.bias"]["tensors"] == 1
    report = (out / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| conv.bias "))
    assert "| 1 of 3 convs " in row, row
    assert "(only 1 of 3 convs)" in row and row.count("**") == 2, row
    assert "**not applicable** (no norm layers)" in report
    assert "**never called** by the forward pass" in report and "`unused.0`" in report
    assert "on the validation data: trained T" in report and "on the test split" not in report
    assert "(on the target's validation data)" in report, "the pre-trained model's metric says where it was measured"
    labels = {f["label"] for f in records["fixtures"]}
    target = next(label for label in labels if "/target/" in label)
    pretrained = next(label for label in labels if "/pretrained/" in label)
    assert target.endswith("/seed0") and not pretrained.endswith("/seed0"), "the pre-trained model has an initialisation of its own"
    assert "not applicable: none of the 0 norm layers" in result.stdout, "empty groups: skipped tests with the reason"
    assert "xpassed" not in result.stdout and "xfailed" not in result.stdout, "claims read as holds / does not hold"
    assert "O4: holds" in result.stdout


def test_an_audit_of_a_network_that_did_not_learn_stops_without_a_verdict(tmp_path, library_like, run_suite):
    """Issue 17, item 1: a target no better than its initialisation stops the audit, naming the
    network and its loss curve; the report says why there is no verdict."""
    result = run_suite(tmp_path, "--audit", str(library_like(name="stuck", lr=1e-12, steps=20)), "-n", "2")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "the audit stops: target network stuck/target/seed0 did not learn: dice" in out and "loss by step: " in out
    records = json.loads((tmp_path / "results" / "audit-stuck" / "records.json").read_text())
    assert not [r for r in records["records"] if r["kind"] == "verdict"]
    assert records["stopped"] and "did not learn" in records["stopped"][0]
    assert "**No verdict.** the audit stops:" in (tmp_path / "results" / "audit-stuck" / "report.md").read_text()


def test_every_audit_option_sets_an_audit_key():
    from reusebench.audit import KEYS
    from reusebench.plugin.options import AUDIT_OPTIONS

    assert {k.replace("-", "_") for k in AUDIT_OPTIONS} - {"audit_name"} <= set(KEYS)


@pytest.mark.parametrize(
    "output, targets, loss",
    [
        ((8, 3), torch.randint(3, (8,)), "cross_entropy"),  # classification
        ((8, 4, 6, 6), torch.randint(4, (8, 6, 6)), "cross_entropy"),  # dense labels
        ((8, 1, 6, 6), (torch.rand(8, 1, 6, 6) > 0.5).float(), "bce"),  # masks in the output's layout
        ((8, 1, 6, 6), (torch.rand(8, 6, 6) > 0.5).long(), "bce"),  # (N, H, W) integer masks
        ((8, 1), torch.randint(2, (8,)), "bce"),  # one logit per sample, labels (N,)
        ((8, 1, 6, 6), torch.rand(8, 1, 6, 6), "mse"),  # real-valued targets
        ((8, 3), torch.eye(3)[torch.randint(3, (8,))], "cross_entropy"),  # one-hot float targets
        ((8, 3), torch.rand(8, 5), None),  # fits nothing
    ],
)
def test_the_loss_is_chosen_from_the_output_and_then_trains(output, targets, loss):
    from reusebench.audit import choose_loss, loss_fn

    outputs = torch.randn(*output, requires_grad=True)
    chosen, why = choose_loss(outputs.detach(), targets)
    assert chosen == loss, why
    if loss:  # the chosen loss runs on these shapes and dtypes and has a gradient
        loss_fn(loss)(outputs, targets).backward()
        assert outputs.grad.abs().sum() > 0
