"""The record cache: a warm lab loads what cannot have changed and measures only what is new."""

from __future__ import annotations

import math

import pytest

from reusebench.fixtures.networks import PaperNetworks
from reusebench import lab as lab_module
from reusebench.lab import Case, Lab, record_context
from reusebench.record_cache import RecordCache, source_digest

CASES = [Case("unet", "ae", "conv.bias", "init"), Case("unet", "ae", "conv.bias", "other_seed"),
         Case("unet", "ae", "bn.running", "defaults", recalibration="adabn")]


@pytest.fixture
def measured(monkeypatch):
    """Counts the cases actually measured (not loaded)."""
    calls = []
    real = Lab._measure

    def counting(self, case):
        calls.append(case)
        return real(self, case)

    monkeypatch.setattr(Lab, "_measure", counting)
    return calls


def lab_with_cache(store, tmp_path, **context) -> Lab:
    networks = PaperNetworks(store)
    return Lab(networks, RecordCache(tmp_path / "records", {**record_context(networks), **context}))


def test_a_warm_lab_loads_every_record_bit_for_bit(store, tmp_path, measured):
    cold = [lab_with_cache(store, tmp_path).measure(c) for c in CASES]
    assert len(measured) == 3
    warm_lab = lab_with_cache(store, tmp_path)
    warm = [warm_lab.measure(c) for c in CASES]
    assert len(measured) == 3, "nothing measured again"
    assert warm == cold and warm_lab.records.hits == 3
    assert all(math.isfinite(r["damage"]) and r["seed"] == 0 for r in warm)


def test_a_changed_network_remeasures_only_its_cases(store, tmp_path, measured, monkeypatch):
    for c in CASES:
        lab_with_cache(store, tmp_path).measure(c)
    warm = lab_with_cache(store, tmp_path)
    donor = warm.networks.donor_spec(warm.target_spec("unet", "ae", seed=0), "other_seed")
    real = PaperNetworks.digest
    monkeypatch.setattr(PaperNetworks, "digest", lambda self, spec: "retrained" if spec == donor else real(self, spec))
    for c in CASES:
        warm.measure(c)
    assert measured[3:] == [Case("unet", "ae", "conv.bias", "other_seed", seed=0)], "only the case with the changed donor"


def test_changed_measurement_code_remeasures(store, tmp_path, measured):
    for c in CASES:
        lab_with_cache(store, tmp_path).measure(c)
    changed = lab_with_cache(store, tmp_path, code="another digest of reusebench.metrics and the rest")
    for c in CASES:
        changed.measure(c)
    assert len(measured) == 6


def test_the_context_covers_the_metric_code_and_the_data(store, tmp_path):
    context = record_context(PaperNetworks(store))
    src = tmp_path / "metrics.py"
    src.write_text("def dice(): return 1\n")
    before = source_digest([src])
    src.write_text("def dice(): return 2\n")
    assert source_digest([src]) != before, "a changed line changes the digest"
    from reusebench import groups, metrics, protocol, recalibrate, replace, reuse

    expected = source_digest([lab_module.__file__, protocol, metrics, groups, replace, recalibrate, reuse, *PaperNetworks(store).source_files()])
    assert context["code"] == expected
    assert any(str(f).endswith("fixtures/store.py") for f in PaperNetworks(store).source_files()), "rerandom is built there"
    assert context["device"]["name"] and context["libraries"]["skimage"], "the CPU model and the metric library"
    assert {"n_test", "n_train", "image_size", "data_seed", "eval_batch_size"} <= set(context["profile"])


def test_remeasure_ignores_the_cache(store, tmp_path, measured):
    lab_with_cache(store, tmp_path).measure(CASES[0])
    networks = PaperNetworks(store)
    again = Lab(networks, RecordCache(tmp_path / "records", record_context(networks), read=False))
    again.measure(CASES[0])
    assert len(measured) == 2


def test_an_unreadable_record_is_measured_again(store, tmp_path, measured):
    first = lab_with_cache(store, tmp_path).measure(CASES[0])
    for path in (tmp_path / "records").rglob("*.json"):
        path.write_text("{truncated")
    again = lab_with_cache(store, tmp_path).measure(CASES[0])
    assert len(measured) == 2
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in first.items() if k != "seconds"}
