"""The full battery: every parameter group x donor on every fixture network, recorded for the report.

Beside feeding the report's tables, these tests check what every measurement relies on:
the fixture networks learned without saturating, each group selects tensors, and a
replacement leaves the network bit-identical once it is restored.
"""

import math

import pytest

from reusebench.convergence import NOT_CONVERGED, convergence
from reusebench.lab import EmptyGroupError
from reusebench.protocol import PAPER_GROUPS


def check_learned(lab, spec, suite) -> dict:
    """What every measurement relies on: ``spec``'s network learned clearly and left headroom.
    Returns its reference metrics (trained, init, floor) and the identity's for an auto-encoder."""
    task = spec.task
    base = lab.reference_metrics(spec)
    metric = lab.networks.metric_name(task)
    trained, init, floor = base["trained"][metric], base["init"][metric], base["floor"][metric]
    identity = float(lab.networks.identity_metrics(task, spec.dataset)[metric]) if task == "ae" and not suite.audit else None
    # The damage scale runs from m(T) down to the floor (the best constant predictor): T must beat it.
    assert trained > floor, f"{spec.label} is no better than {base['floor_name']}: {metric} {trained:.3f} <= {floor:.3f}"
    # Damage divides by m(T) - m(T0): the network must have learned something clear (on the
    # paper's bounded metrics, 0.2; an audited metric may have any scale: it must improve) ...
    margin = 0.0 if suite.audit else 0.2
    assert trained - init > margin, f"{spec.label} barely learned: {metric} {init:.3f} -> {trained:.3f}"
    # ... and a segmenter must leave headroom (PROTOCOL: Dice well below 1), or damage to a
    # saturated metric would be invisible. The auto-encoders denoise (input: the noisy image;
    # target: the clean one): passing the input through their skips scores the identity's
    # SSIM, which a network that learned the task must beat.
    if task == "seg" and not suite.audit:
        assert trained <= 0.9, f"{spec.label} saturates: {metric} {trained:.3f}; damage would be invisible"
    if task == "ae" and identity is not None:
        assert trained > identity, f"{spec.label} does no better than passing its input through: {metric} {trained:.3f} <= identity {identity:.3f}"
    return {"metric": metric, "trained": trained, "init": init, "floor": floor, "floor_predictor": base["floor_name"], "identity": identity}


def test_fixture_learned_without_saturating(arch, task, seed, lab, record, suite):
    record("baseline", {"arch": arch, "task": task, "seed": seed, **check_learned(lab, lab.target_spec(arch, task, seed=seed), suite)})


@pytest.mark.paper_only
@pytest.mark.networks("donors")
def test_donor_pool_network_learned_and_converged(arch, task, seed, lab, suite):
    """The independent donors (seed 100 + s, a pool disjoint from the targets) are fixture
    networks like the targets: the same sanity checks hold for them."""
    spec = lab.networks.donor_spec(lab.target_spec(arch, task, seed=seed), "other_seed")
    check_learned(lab, spec, suite)
    check_converged(lab, spec)


def check_converged(lab, spec) -> None:
    meta = lab.fixture(spec).meta
    curve = meta["monitor_curve"]
    tail = ", ".join(f"{s}: {v:.3f}" for s, v in curve[-6:])
    state = convergence(meta)
    # a network whose every evaluation was non-finite stops with no best step: not converged
    assert state["status"] != NOT_CONVERGED and meta["best_step"], (
        f"{spec.label} did not converge within {lab.profile.steps} steps: its validation metric last beat its best "
        f"by the rule's tolerance at step {meta['best_step']} ({state['since_best']} of {meta['rule']['patience']} "
        f"evaluations of patience since); curve tail {tail}"
    )


@pytest.mark.networks("target", "donors")
def test_fixture_converged(arch, task, seed, lab, suite):
    """Every fully trained network this target relies on (itself, its other-data donor) met the
    convergence rule (early stopping on the validation split) within the profile's budget, or
    reached the budget with at least half its patience window without a gain (reusebench.convergence)."""
    if suite.audit:
        pytest.skip("an audit trains with its own fixed recipe; the convergence rule is the paper fixtures'")
    target = lab.target_spec(arch, task, seed=seed)
    for spec in (target, lab.networks.donor_spec(target, "other_data")):
        check_converged(lab, spec)


def test_replacement_case(battery_case, lab, record):
    try:
        result = lab.measure(battery_case)
    except EmptyGroupError as exc:
        pytest.skip(str(exc))
    record("case", result)

    assert result["n_tensors"] > 0, f"group {battery_case.group} selected nothing"
    assert result["restored_exactly"], "the network differs from before the replacement after restoring it"
    assert math.isfinite(result["m_target"]) and math.isfinite(result["m_init"])


@pytest.mark.networks()  # structure only: untrained networks
def test_group_inventory(arch, lab, record):
    inventory = lab.inventory(arch)
    record("inventory", inventory)
    assert all(v["tensors"] > 0 for v in inventory["groups"].values()), inventory["groups"]
    assert inventory["coverage"]["covered"], "the groups cover some module of the network"


@pytest.mark.paper_only
@pytest.mark.networks()
def test_paper_architecture_structure(arch, lab):
    inventory = lab.inventory(arch)
    assert not inventory["coverage"]["uncovered"], "UNet and PSPNet hold tensors only in convs and BN layers"
    assert set(inventory["groups"]) == set(PAPER_GROUPS), "every group of the paper, and only those, has tensors"
    # In both architectures every BN layer reads a conv's output directly, and the final
    # 1x1 output conv feeds none.
    assert sorted(inventory["conv_feeding_bn"].values()) == sorted(inventory["bn_layers"])
    head = inventory["forward_order"][-1]
    assert head in inventory["conv_layers"] and head not in inventory["conv_feeding_bn"]
    assert inventory["groups"]["conv.bias"]["tensors"] == len(inventory["conv_layers"])


@pytest.mark.paper_only
def test_cells_merged_as_the_same_are_the_same_tensors(arch, task, seed, lab, suite):
    """observations.toml merges donors into one cell (`same`) only where they put identical
    tensors into the target: checked here on every target, for every group of the claim."""
    from reusebench.lab import Case

    for obs in suite.observations.observations.values():
        if obs.axis != "donor":
            continue
        groups = {t.partition("@")[0] for t in obs.terms} or {"bn.running"}  # A1: the running statistics
        for same in obs.same:
            for group in groups:
                keys = {donor: lab.state_key(Case(arch, task, group, donor, lab.dataset, seed=seed)) for donor in same}
                assert len(set(keys.values())) == 1, f"{obs.id}: {group} from {' vs '.join(same)} are different tensors"
