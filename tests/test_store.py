import json
from pathlib import Path

import pytest
import torch

import reusebench.fixtures.store as store_module
from reusebench.fixtures.cache import CorruptEntryWarning
from reusebench.fixtures.store import FixtureSpec, FixtureStore, build

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
    said: list[str] = []
    with pytest.warns(CorruptEntryWarning, match="failed its digest check"):
        FixtureStore(tmp_path, tiny, torch.device("cpu"), progress=said.append).get(SPEC)
    assert len(count_training) == 2
    assert len(list((tmp_path / "corrupt").iterdir())) == 1
    # said at once on the progress lines, before the retraining (issue 16, item 9), not only in the warnings summary
    assert said[0].startswith("warning: cache entry ") and "failed its digest check" in said[0]
    assert any(line.startswith("trained ") for line in said[1:])


def test_a_transfer_start_takes_the_donors_lower_layers_and_reinitialises_the_top(tmp_path, tiny):
    """R1 as Yosinski et al.: the head (and for `half` the top half of the convs) starts from the
    target's initialisation, every layer below from the `other_task` network (BN statistics too)."""
    from reusebench.groups import layers

    store = FixtureStore(tmp_path, tiny, torch.device("cpu"))
    target = FixtureSpec("unet", "ae", "shapes", 0)
    donor = store.get(target.donor).model.state_dict()
    init = build(target, tiny).state_dict()
    convs = layers(build(target, tiny), "conv.weight")
    for start, top in (("head", 1), ("half", len(convs) // 2)):
        spec = FixtureSpec("unet", "ae", "shapes", 0, start=start, lr=tiny.lr)
        state = store.start_state(spec)
        moved = set(store.transferred(spec))
        reinit = [c for c in convs if c not in moved]
        assert len(reinit) == top and reinit[-1] == "head", f"{start}: re-initialised {reinit}"
        for name, value in state.items():
            source = donor if name.rpartition(".")[0] in moved else init
            assert torch.equal(value, source[name]), f"{start}: {name} is not the {'donor' if source is donor else 'init'}'s"
        assert any(not torch.equal(donor[n], init[n]) for n in state if n.startswith("head.")), "the donor's head differs from init"


def test_a_fine_tune_trains_at_its_own_learning_rate_and_freezes_what_it_says(tmp_path, tiny, monkeypatch):
    seen = {}
    real = store_module.train

    def spy(model, task, **kw):
        seen[kw["label"]] = (kw["lr"], list(kw.get("frozen", ())))
        return real(model, task, **kw)

    monkeypatch.setattr(store_module, "train", spy)
    store = FixtureStore(tmp_path, tiny, torch.device("cpu"))
    store.get(FixtureSpec("unet", "ae", "shapes", 0, start="head", lr=0.003, frozen=True))
    store.get(FixtureSpec("unet", "ae", "shapes", 0, start="scratch", lr=0.001))
    (lr_frozen, frozen), (lr_scratch, none) = seen["unet/ae/shapes/seed0/finetune-head-frozen@lr0.003"], seen["unet/ae/shapes/seed0/finetune-scratch@lr0.001"]
    assert (lr_frozen, lr_scratch, none) == (0.003, 0.001, [])
    assert frozen == store.transferred(FixtureSpec("unet", "ae", "shapes", 0, start="head", lr=0.003)) and "head" not in frozen
    assert seen["unet/seg/shapes/seed0"][0] == tiny.lr, "the donor trains at the profile's lr"
    with pytest.raises(Exception, match="only a transfer start"):
        FixtureSpec("unet", "ae", "shapes", 0, start="conv", lr=0.003, frozen=True)


def test_the_network_key_covers_the_code_that_monitors_convergence(tmp_path, monkeypatch):
    """The convergence rule monitors reusebench.metrics, and fine-tune starts are assembled
    with reusebench.groups: a change to either must retrain, not load a stale network."""
    before = store_module.code_digest()
    for module in (store_module.metrics_module, store_module.groups_module):
        copy = tmp_path / Path(module.__file__).name
        copy.write_text(Path(module.__file__).read_text() + "\n# changed\n")
        with monkeypatch.context() as m:
            m.setattr(module, "__file__", str(copy))
            assert store_module.code_digest() != before, f"{module.__name__} is not in the network key"
