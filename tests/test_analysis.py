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
