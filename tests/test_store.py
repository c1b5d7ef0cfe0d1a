import json

import pytest
import torch

import fixtures.store as store_module
from fixtures.cache import CorruptEntryWarning
from fixtures.store import FixtureSpec, FixtureStore, build

SPEC = FixtureSpec("unet", "seg", "shapes", 0)


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    real = store_module.train

    def counting(*args, **kwargs):
        calls.append(kwargs.get("label"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "train", counting)
    return calls


def test_trains_once_then_loads(tmp_path, tiny, count_training):
    first = FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    again = FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)  # a later run: new process, same cache
    assert count_training == [SPEC.label]
    assert first.trained_now and not again.trained_now
    for (k, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_keeps_step_zero_weights_and_metadata(tmp_path, tiny):
    fixture = FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    fresh = build(SPEC, tiny).state_dict()
    assert all(torch.equal(fixture.init_state[k], v) for k, v in fresh.items())
    meta = json.loads((tmp_path / fixture.meta["key"] / "meta.json").read_text())
    assert meta["torch"] == torch.__version__
    assert meta["profile_name"] == tiny.name and meta["spec"]["seed"] == 0
    assert set(meta["val_metrics"]) == {"dice", "iou"} and meta["train_seconds"] > 0
    assert len(meta["weights_sha256"]) == 64


def test_key_is_content_addressed(tmp_path, tiny):
    store = FixtureStore(tmp_path, tiny, torch.device("cpu"))
    assert store.key(SPEC) == FixtureStore(tmp_path, tiny, torch.device("cpu")).key(SPEC)
    assert store.key(SPEC) != store.key(FixtureSpec("unet", "seg", "shapes", 1))
    assert store.key(SPEC) != FixtureStore(tmp_path, tiny.replace(steps=90), torch.device("cpu")).key(SPEC)


def test_no_partial_entry_when_training_fails(tmp_path, tiny, monkeypatch):
    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "train", explode)
    with pytest.raises(KeyboardInterrupt):
        FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_corrupt_entry_is_moved_aside_and_retrained(tmp_path, tiny, count_training):
    fixture = FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    weights = tmp_path / fixture.meta["key"] / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    with pytest.warns(CorruptEntryWarning, match="failed its digest check"):
        FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    assert len(count_training) == 2
    assert len(list((tmp_path / "corrupt").iterdir())) == 1
