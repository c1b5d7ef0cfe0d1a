"""The lab's seeds, scopes and fine-tunes on the tiny profile."""

import dataclasses

import pytest
import torch

from reusebench.experiments import finetune
from reusebench.lab import Case, Need
from reusebench.fixtures.store import FixtureSpec
from reusebench.groups import select
from reusebench.protocol import ConfigError


def test_independent_donors_come_from_a_pool_disjoint_from_the_targets(tiny_lab):
    """No network is both a target and a donor of a cell: each seed's value is an independent draw."""
    target = tiny_lab.target_spec("unet", "seg", seed=1)
    assert tiny_lab.networks.donor_spec(target, "other_seed").seed == 101
    assert tiny_lab.networks.donor_spec(target, "other_task_indep") == FixtureSpec("unet", "ae", "shapes", 101)
    assert tiny_lab.networks.donor_spec(target, "other_task").seed == 1, "the other task shares the seed (and the init)"
    for donor in ("other_seed", "other_task_indep"):
        needed = tiny_lab.networks.needed([Need("unet", "seg", donor=donor)])
        targets = {s.seed for s in needed if s.task == "seg" and s.seed < 100}
        donors = {s.seed for s in needed} - targets
        assert targets == set(tiny_lab.seeds) and donors == {100 + s for s in tiny_lab.seeds}


def test_fine_tunes_come_after_the_networks_they_start_from(tiny_lab):
    needed = tiny_lab.networks.needed([Need("unet", "ae", finetune="conv")])
    starts = [s for s in needed if s.start]
    assert starts and needed[-len(starts):] == starts
    assert FixtureSpec("unet", "seg", "shapes", 0) in needed, "the other task's network is the start"


@pytest.mark.parametrize(
    "case, message",
    [
        (dict(scope="layer"), "scope 'layer' needs a layer"),
        (dict(scope="all", layer="head"), "scope 'all' takes no layer"),
        (dict(scope="sideways", layer="head"), "unknown scope 'sideways'.*all, layer, prefix"),
    ],
)
def test_bad_scopes_are_named(case, message):
    with pytest.raises(ConfigError, match=message):
        Case("unet", "seg", "conv.weight", "init", **case)


def test_layer_and_prefix_scopes(tiny_lab):
    order = tiny_lab.group_layers("unet", "conv.weight")
    assert order[-1] == "head", "forward order ends at the output conv"
    one = tiny_lab.measure(Case("unet", "seg", "conv.weight", "init", scope="layer", layer=order[1]))
    two = tiny_lab.measure(Case("unet", "seg", "conv.weight", "init", scope="prefix", layer=order[1]))
    assert (one["n_tensors"], one["position"]) == (1, 2)
    assert (two["n_tensors"], two["position"], two["n_layers"]) == (2, 2, len(order))
    every = tiny_lab.measure(Case("unet", "seg", "conv.weight", "init", scope="prefix", layer=order[-1]))
    whole = tiny_lab.measure(Case("unet", "seg", "conv.weight", "init"))
    assert every["m_replaced"] == whole["m_replaced"], "layers 1..n are the whole group"
    with pytest.raises(ConfigError, match=r"unknown conv.weight layer of unet 'nowhere'.*inc"):
        tiny_lab.measure(Case("unet", "seg", "conv.weight", "init", scope="layer", layer="nowhere"))
    assert tiny_lab.measure(Case("unet", "seg", "conv.weight", "init", seed=1))["seed"] == 1


def test_a_fine_tune_starts_from_the_donor_groups_it_names(tiny_lab, store):
    p = tiny_lab.profile
    donor = tiny_lab.fixture(FixtureSpec("unet", "ae", "shapes", 0)).model.state_dict()
    scratch_init = store.start_state(FixtureSpec("unet", "seg", "shapes", 0, start="scratch", lr=p.lr))
    start = store.start_state(FixtureSpec("unet", "seg", "shapes", 0, start="conv", lr=p.lr))
    model = tiny_lab.fixture(FixtureSpec("unet", "seg", "shapes", 0)).model
    convs = {r.name for g in ("conv.weight", "conv.bias") for r in select(model, g)}
    for key, value in start.items():
        expected = donor[key] if key in convs else scratch_init[key]
        assert torch.equal(value, expected.cpu()), key
    run = finetune(tiny_lab, "unet", "seg", 0, "conv", p.lr)
    assert [s for s, _ in run["curve"]] == list(range(0, p.finetune_steps + 1, p.finetune_eval_every))
    assert run["donor"] == "other_task" and len(run["rmse_layers"]) == len(tiny_lab.group_layers("unet", "conv.weight"))
    scratch = finetune(tiny_lab, "unet", "seg", 0, "scratch", p.lr)
    gain = run["m_target"] - run["m_floor"]
    assert run["advantage"] == pytest.approx((run["m_test"] - scratch["m_test"]) / gain)


def test_every_arm_and_scratch_choose_their_learning_rate_on_validation(tiny_lab):
    """R1's fairness: a transfer arm keeps the grid's lr with the best final validation value, and
    is compared with scratch chosen the same way; an ablation arm with scratch at the training lr."""
    p = tiny_lab.profile
    head = finetune(tiny_lab, "unet", "ae", 0, "head")
    scratch = finetune(tiny_lab, "unet", "ae", 0, "scratch")
    for run in (head, scratch):
        finals = {float(lr): v for lr, v in run["val_end_per_lr"].items()}
        assert set(finals) == set(p.finetune_lrs)
        assert run["lr"] == max(finals, key=finals.get), f"{run['arm']}: the lr is not the validation's best"
    assert head["scratch_lr"] == scratch["lr"] and head["scratch_m_test"] == scratch["m_test"]
    gain = head["m_target"] - head["m_floor"]
    assert head["advantage"] == pytest.approx((head["m_test"] - scratch["m_test"]) / gain)
    at_training_lr = finetune(tiny_lab, "unet", "ae", 0, "scratch", p.lr)
    assert finetune(tiny_lab, "unet", "ae", 0, "conv", p.lr)["scratch_m_test"] == at_training_lr["m_test"]
    area = (head["advantage_area"] * gain)
    steps = [s for s, _ in head["curve"]]
    gaps = [a - b for (_, a), (_, b) in zip(head["curve"], scratch["curve"])]
    trapezoid = sum((steps[i + 1] - steps[i]) * (gaps[i] + gaps[i + 1]) / 2 for i in range(len(steps) - 1)) / steps[-1]
    assert area == pytest.approx(trapezoid), "the area is over the validation curves at the chosen lrs"


def test_r2_is_the_donors_distance_to_the_trained_target_over_the_inits(tiny_lab):
    from reusebench.experiments import donor_distance

    result = donor_distance(tiny_lab, "unet", "seg", 0, "init")
    assert all(r["ratio"] == pytest.approx(1.0) for r in result["layers"]), "the init donor is the init: ratio 1"
    other = donor_distance(tiny_lab, "unet", "seg", 0, "other_task")
    fx = tiny_lab.fixture(tiny_lab.target_spec("unet", "seg", seed=0))
    trained = fx.model.state_dict()
    donor = tiny_lab.networks.donor_state(fx, "other_task")
    head = next(r for r in other["layers"] if r["layer"] == "head")
    rms = lambda a, b: float(((a.double() - b.double()) ** 2).mean().sqrt())  # noqa: E731
    assert head["ratio"] == pytest.approx(rms(donor["head.weight"], trained["head.weight"]) / rms(fx.init_state["head.weight"], trained["head.weight"]))


def test_the_fine_tune_budget_keys_fine_tunes_only(store, tiny):
    base, tuned = FixtureSpec("unet", "seg", "shapes", 0), FixtureSpec("unet", "seg", "shapes", 0, start="all", lr=tiny.lr)
    other = type(store)(store.root, tiny.replace(finetune_steps=tiny.finetune_steps + 1), store.device)
    assert other.key(base) == store.key(base), "changing the fine-tune budget keeps the trained fixtures"
    assert other.key(tuned) != store.key(tuned)
    assert dataclasses.replace(tuned, start="", lr=None).label == base.label
    other_grid = type(store)(store.root, tiny.replace(finetune_lrs=(*tiny.finetune_lrs, 0.5)), store.device)
    assert other_grid.key(tuned) == store.key(tuned), "the grid does not change a network trained at one of its lrs"
