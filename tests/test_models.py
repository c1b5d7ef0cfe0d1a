import pytest
import torch

from reusebench.models import MODELS, build_model
from reusebench.protocol import ConfigError


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("size", [16, 32])
def test_output_matches_input_size(arch, size):
    model = build_model(arch, seed=0, width=4, depth=3).eval()
    assert model(torch.zeros(2, 1, size, size)).shape == (2, 1, size, size)


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_same_seed_same_init_other_seed_other_init(arch):
    a, b, c = (build_model(arch, seed=s, width=4, depth=2) for s in (0, 0, 1))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.state_dict()[next(iter(a.state_dict()))], c.state_dict()[next(iter(c.state_dict()))])


def test_build_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    build_model("unet", seed=7, width=2, depth=2)
    assert torch.equal(torch.rand(1), expected)


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_conv_bias_switch(arch):
    with_bias = build_model(arch, seed=0, width=4, depth=2)
    without = build_model(arch, seed=0, width=4, depth=2, conv_bias=False)
    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    assert all(m.bias is not None for m in with_bias.modules() if isinstance(m, convs))
    assert all(m.bias is None for m in without.modules() if isinstance(m, convs))


def test_pspnet_trains_at_batch_two_despite_the_pooled_bin_bn():
    model = build_model("pspnet", seed=0, width=4, depth=3).train()
    loss = model(torch.rand(2, 1, 32, 32)).mean()
    loss.backward()
    assert torch.isfinite(loss)


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown architecture 'resnet'.*unet, pspnet"):
        build_model("resnet", seed=0, width=4, depth=2)
