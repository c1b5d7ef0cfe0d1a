import math

import pytest
import torch
from torch import nn

from reusebench.analysis import conv_gradients, conv_kernel_rmse, rmse, spearman
from reusebench.replace import state_digest


def test_rmse_is_per_scalar_and_checks_shapes():
    assert rmse(torch.zeros(4), torch.full((4,), 2.0)) == pytest.approx(2.0)
    assert rmse(torch.zeros(2, 8), torch.full((2, 8), 2.0)) == pytest.approx(2.0), "independent of the layer's size"
    with pytest.raises(ValueError, match=r"shapes \(4,\) and \(5,\)"):
        rmse(torch.zeros(4), torch.zeros(5))


def test_spearman_ranks_and_refuses_degenerate_input():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2], [1, 2])), "fewer than 3 layers: no correlation"
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5])), "constant side"
    assert math.isnan(spearman([1, 2, 3], [1, math.nan, 3]))
    with pytest.raises(ValueError, match="paired"):
        spearman([1, 2, 3], [1, 2])


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 1, 1))


def test_conv_kernel_rmse_per_layer():
    model = net()
    a = model.state_dict()
    b = {k: v + 1.0 if k == "3.weight" else v for k, v in a.items()}
    assert conv_kernel_rmse(model, a, b) == {"0": 0.0, "3": pytest.approx(1.0)}


def test_a_bias_feeding_bn_gets_no_gradient_and_the_model_is_left_alone():
    model = net().eval()
    before = state_digest(model)
    images = torch.rand(8, 1, 8, 8)
    grads = conv_gradients(model, lambda m: ((m(images) - images) ** 2).mean())
    assert grads["0"]["bias"] < 1e-6 < grads["0"]["weight"], "BN's mean subtraction cancels the first conv's bias"
    assert grads["3"]["bias"] > 1e-3, "the head's bias feeds no BN: it learns"
    assert state_digest(model) == before, "running statistics untouched"
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_the_normalised_kernel_distance_does_not_see_the_init_scale():
    """C1's scale-free distance: scaling a layer's initialisation (and with it both kernels) by c
    multiplies the raw RMSE by c and leaves rmse_init_scale, relative and cosine unchanged."""
    from torch import nn

    from reusebench.analysis import kernel_distances

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 2, 1))
    init = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    donor = {k: v + 0.5 * torch.randn_like(v) for k, v in init.items()}
    target = {k: v + 0.5 * torch.randn_like(v) for k, v in init.items()}
    base = kernel_distances(model, donor, target, init)
    scaled = kernel_distances(model, *({k: 10 * v for k, v in s.items()} for s in (donor, target, init)))
    for layer in base:
        assert scaled[layer]["rmse"] == pytest.approx(10 * base[layer]["rmse"])
        for kind in ("rmse_init_scale", "relative", "cosine"):
            assert scaled[layer][kind] == pytest.approx(base[layer][kind]), kind
    assert base["0"]["rmse_init_scale"] == pytest.approx(base["0"]["rmse"] / float(init["0.weight"].double().std()))


def test_the_lr_choice_and_the_curve_area():
    from reusebench.analysis import choose_lr, curve_advantage

    assert choose_lr({0.01: 0.7, 0.001: 0.9, 0.003: float("nan")}) == 0.001
    assert choose_lr({0.01: 0.9, 0.001: 0.9}) == 0.001, "ties go to the smaller rate"
    # ahead by 1 for the first half of the budget, even at the end: the area credits the head start
    ahead, even = [(0, 1.0), (10, 1.0), (20, 0.0)], [(0, 0.0), (10, 0.0), (20, 0.0)]
    assert curve_advantage(ahead, even) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="share their steps"):
        curve_advantage(ahead, [(0, 0.0), (5, 0.0), (20, 0.0)])
