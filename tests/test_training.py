"""The training loop's rules: early stopping (the convergence rule) and the optimiser choice."""

import math

import pytest
import torch
from torch import nn

from reusebench.fixtures.datasets import Split
from reusebench.fixtures.training import EarlyStop, make_optimiser, train


def _setup(steps: int):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Conv2d(2, 1, 1))
    data = Split(torch.rand(8, 1, 8, 8), (torch.rand(8, 1, 8, 8) > 0.5).float())
    return model, data


def _scripted(values):
    """A monitor that returns ``values`` in turn and keeps a copy of the weights it saw."""
    seen = []

    def monitor(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return values[len(seen) - 1]

    return monitor, seen


def test_early_stopping_stops_at_the_plateau_and_keeps_the_best_weights():
    model, data = _setup(100)
    # evaluations at steps 0, 5, 10, ...: the best (0.5) at step 10, then 3 evaluations without a gain of 0.01
    monitor, seen = _scripted([0.0, 0.3, 0.5, 0.505, 0.49, 0.3] + [0.9] * 20)
    log = train(model, "seg", data, steps=100, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=3, tol=0.01))
    assert (log["converged"], log["stopped_at"], log["best_step"], log["best_value"]) == (True, 25, 10, 0.5)
    assert [s for s, _ in log["monitor_curve"]] == [0, 5, 10, 15, 20, 25]
    assert all(torch.equal(v, seen[2][k]) for k, v in model.state_dict().items()), "the weights of the best evaluation"
    assert log["loss_curve"][-1][0] == 25


def test_a_network_that_spends_its_budget_has_not_converged():
    model, data = _setup(20)
    monitor, _ = _scripted([0.1 * i for i in range(10)])  # gains 0.1 at every evaluation
    log = train(model, "seg", data, steps=20, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=2, tol=0.01))
    assert (log["converged"], log["stopped_at"], log["best_step"]) == (False, None, 20)
    assert math.isclose(log["best_value"], 0.4)


def test_the_initialisation_is_never_the_kept_state():
    """A network whose first evaluations fall below its random start (a segmenter passing through
    'all background') must not be stopped and reset to its initialisation."""
    model, data = _setup(100)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    monitor, seen = _scripted([0.3, 0.0, 0.0, 0.0, 0.2, 0.2, 0.2, 0.2] + [0.2] * 20)
    log = train(model, "seg", data, steps=100, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=3, tol=0.01))
    assert (log["converged"], log["best_step"], log["stopped_at"]) == (True, 20, 35)
    assert not all(torch.equal(v, init[k]) for k, v in model.state_dict().items())


def test_early_stopping_needs_a_monitor_and_a_sane_rule():
    model, data = _setup(10)
    with pytest.raises(ValueError, match="needs a monitor"):
        train(model, "seg", data, steps=10, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"), early_stop=EarlyStop(2, 0.01))
    with pytest.raises(ValueError, match="patience >= 1, tol > 0 and noise >= 0"):
        EarlyStop(0, 0.01)


def test_the_optimiser_is_the_profiles():
    params = [nn.Parameter(torch.zeros(2))]
    sgd = make_optimiser("sgd", params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 1e-4
    assert isinstance(make_optimiser("adam", params, lr=0.1), torch.optim.Adam)
    with pytest.raises(ValueError, match="SGD's; Adam takes none"):
        make_optimiser("adam", params, lr=0.1, momentum=0.9)
    with pytest.raises(Exception, match=r"unknown optimizer 'lamb'.*adam, sgd"):
        make_optimiser("lamb", params, lr=0.1)


def test_sgd_without_weight_decay_leaves_a_parameter_without_gradient_where_it_is():
    """The optimiser axis' premise: SGD moves a zero-gradient parameter by nothing; Adam by a
    full step once a gradient (even round-off) has been seen."""
    for name, moved in (("sgd", False), ("adam", True)):
        p = nn.Parameter(torch.ones(3))
        opt = make_optimiser(name, [p], lr=0.1, momentum=0.9 if name == "sgd" else 0.0)
        for grad in (torch.full((3,), 1e-12), torch.zeros(3)):
            p.grad = grad.clone()
            opt.step()
        assert (not torch.allclose(p.detach(), torch.ones(3), atol=1e-6)) == moved, name


def test_a_run_whose_every_evaluation_is_nan_has_not_converged():
    """The rule stops it (no evaluation beats the best), but it has no best state to keep: a
    network that never produced a number did not converge."""
    model, data = _setup(100)
    monitor, _ = _scripted([math.nan] * 30)
    log = train(model, "seg", data, steps=100, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=3, tol=0.01))
    assert log["stopped_at"] == 15 and log["converged"] is False


def test_frozen_modules_keep_their_weights_and_statistics():
    """The frozen-feature arm: a frozen module neither learns nor updates its BN running
    statistics (eval mode throughout, also after each validation), the rest trains."""
    model, data = _setup(20)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    monitor, _ = _scripted([0.1 * i for i in range(10)])
    train(model, "seg", data, steps=20, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
          monitor=monitor, monitor_every=5, frozen=["0", "1"])
    after = model.state_dict()
    frozen = [k for k in before if k.startswith(("0.", "1."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen), "frozen tensors moved"
    assert not torch.equal(before["2.weight"], after["2.weight"]), "the unfrozen head did not train"
    assert all(p.requires_grad for p in model.parameters()), "requires_grad is restored after training"
    with pytest.raises(ValueError, match="every parameter is frozen"):
        train(model, "seg", data, steps=2, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"), frozen=["0", "1", "2"])


def _per_image(means, spread=0.1, n=16):
    """Monitor values as per-image arrays with the given means: a fixed per-image pattern (the
    same images every evaluation) plus a per-evaluation wobble of sd ``spread`` with mean 0."""
    pattern = torch.linspace(-0.2, 0.2, n, dtype=torch.float64)
    out = []
    for k, m in enumerate(means):
        wobble = torch.randn(n, generator=torch.Generator().manual_seed(k), dtype=torch.float64) * spread
        out.append(pattern + m + wobble - wobble.mean())
    return out


def test_a_gain_inside_the_validation_noise_does_not_count():
    """Gains of 0.015 a step (0.045 in all) against a paired standard error of about 0.035: with
    noise 2 they are a plateau, and the first trained evaluation is kept; without the noise
    term every one counts."""
    model, data = _setup(100)
    values = _per_image([0.0, 0.5, 0.515, 0.53, 0.545] + [0.545] * 20)
    monitor, _ = _scripted(values)
    log = train(model, "seg", data, steps=100, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=3, tol=0.01, noise=2.0))
    assert (log["best_step"], log["stopped_at"]) == (5, 20)
    monitor, _ = _scripted(values)
    log = train(_setup(100)[0], "seg", data, steps=100, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=3, tol=0.01))
    assert (log["best_step"], log["stopped_at"]) == (20, 35)


def test_the_look_ahead_reports_what_twice_the_patience_would_keep_and_keeps_the_rules_state():
    model, data = _setup(200)
    # best 0.5 at step 10; the rule (patience 3) stops at 25; twice the patience would find 0.7 at step 40
    monitor, seen = _scripted([0.0, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.7] + [0.7] * 40)
    log = train(model, "seg", data, steps=200, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=3, tol=0.01, check=True))
    assert (log["converged"], log["stopped_at"], log["best_step"], log["steps_run"]) == (True, 25, 10, 40)
    check = log["patience_check"]
    assert (check["patience"], check["improved"], check["step"], check["complete"]) == (6, True, 40, True)
    assert math.isclose(check["gain"], 0.2)
    assert all(torch.equal(v, seen[2][k]) for k, v in model.state_dict().items()), "the rule's state, not the look-ahead's"
    # a plateau that lasts: the look-ahead sees its 3 more evaluations and finds nothing
    monitor, _ = _scripted([0.0, 0.3, 0.5] + [0.5] * 40)
    log = train(_setup(200)[0], "seg", data, steps=200, batch_size=4, lr=0.01, seed=0, device=torch.device("cpu"),
                monitor=monitor, monitor_every=5, early_stop=EarlyStop(patience=3, tol=0.01, check=True))
    assert (log["stopped_at"], log["steps_run"], log["patience_check"]["improved"], log["patience_check"]["complete"]) == (25, 40, False, True)


def test_convergence_read_from_the_metadata():
    """Stopped by the rule; at the budget with half the window without a gain; still gaining at the budget."""
    from reusebench.convergence import BUDGET, NOT_CONVERGED, RULE, convergence

    rule = {"patience": 8, "tol": 0.01, "noise": 2.0, "every": 25}
    curve = [(s, 0.5) for s in range(0, 825, 25)]
    stopped = {"converged": True, "stopped_at": 500, "best_step": 300, "best_value": 0.5, "rule": rule, "monitor_curve": curve,
               "patience_check": {"improved": True, "gain": 0.02, "step": 600, "tol": 0.01, "complete": True}}
    assert convergence(stopped)["status"] == RULE and convergence(stopped)["doubling_changes"]
    flat_end = {"converged": False, "stopped_at": None, "best_step": 650, "best_value": 0.5, "rule": rule, "monitor_curve": curve}
    assert convergence(flat_end)["status"] == BUDGET and convergence(flat_end)["since_best"] == 6
    late_gain = {**flat_end, "best_step": 750}
    assert convergence(late_gain)["status"] == NOT_CONVERGED
    fell_back = {**flat_end, "best_value": 0.52}  # it keeps its final weights: 0.02 below its best, beyond the tolerance
    assert convergence(fell_back)["status"] == NOT_CONVERGED
