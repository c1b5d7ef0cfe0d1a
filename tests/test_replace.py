import copy

import pytest
import torch

from reusebench.models import build_model
from reusebench.groups import select
from reusebench.protocol import PAPER_GROUPS
from reusebench.replace import (
    MissingDonorTensorError,
    ShapeMismatchError,
    bn_defaults,
    replaced,
    state_digest,
)


def trained_like(arch: str, seed: int, width: int = 4):
    """A network whose parameters and BN statistics differ from the init and from other seeds."""
    model = build_model(arch, seed=seed, width=width, depth=2)
    noise = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=noise))
        model.train()(torch.rand(4, 1, 16, 16, generator=noise))
    return model.eval()


@pytest.mark.parametrize("arch", ["unet", "pspnet"])
@pytest.mark.parametrize("group", PAPER_GROUPS)  # norm.* groups: tests/test_groups.py
def test_replace_then_restore_is_bit_identical_and_in_place(arch, group):
    target, donor = trained_like(arch, 0), trained_like(arch, 1)
    refs = select(target, group)
    before = state_digest(target)
    pointers = [r.resolve(target).data_ptr() for r in refs]
    donor_state = donor.state_dict()

    with replaced(target, donor_state, refs):
        assert all(torch.equal(r.resolve(target), donor_state[r.name]) for r in refs)
        assert state_digest(target) != before
        assert [r.resolve(target).data_ptr() for r in refs] == pointers, "tensors are swapped in place"

    assert state_digest(target) == before
    assert [r.resolve(target).data_ptr() for r in refs] == pointers


def test_restored_even_when_the_block_raises():
    target, donor = trained_like("unet", 0), trained_like("unet", 1)
    before = state_digest(target)
    with pytest.raises(RuntimeError, match="boom"):
        with replaced(target, donor.state_dict(), select(target, "conv.weight")):
            raise RuntimeError("boom")
    assert state_digest(target) == before


def test_the_network_is_never_deep_copied(monkeypatch):
    target, donor = trained_like("unet", 0), trained_like("unet", 1)

    def forbidden(*args, **kwargs):
        raise AssertionError("replacement must not deep-copy")

    monkeypatch.setattr(copy, "deepcopy", forbidden)
    with replaced(target, donor.state_dict(), select(target, "conv.weight")):
        pass


def test_shape_mismatch_names_the_parameter_and_both_shapes():
    target, wider = trained_like("unet", 0, width=4), trained_like("unet", 1, width=8)
    before = state_digest(target)
    with pytest.raises(ShapeMismatchError, match=r"'inc\.0\.0\.weight' has shape \(8, 1, 3, 3\), the target's has shape \(4, 1, 3, 3\)"):
        with replaced(target, wider.state_dict(), select(target, "conv.weight")):
            pass
    assert state_digest(target) == before, "a bad donor leaves the target untouched"


def test_missing_donor_tensor_is_named():
    target = trained_like("unet", 0)
    donor = {k: v for k, v in target.state_dict().items() if k != "head.bias"}
    with pytest.raises(MissingDonorTensorError, match="'head.bias'"):
        with replaced(target, donor, select(target, "conv.bias")):
            pass


def test_bn_defaults_donor():
    target = trained_like("pspnet", 0)
    defaults = bn_defaults(target)
    with replaced(target, defaults, select(target, "bn.running") + select(target, "bn.affine")):
        for name, module in target.named_modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                assert torch.all(module.running_mean == 0) and torch.all(module.running_var == 1)
                assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
