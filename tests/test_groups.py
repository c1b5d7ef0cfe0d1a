"""Each group selects exactly the right tensors: counts derived from the architectures' definitions."""

import pytest
import torch
from torch import nn

from reusebench.models import build_model
from reusebench.groups import conv_feeding_bn, forward_order, group_size, select
from reusebench.protocol import PAPER_GROUPS, ConfigError


def unet_counts(depth: int) -> dict[str, int]:
    bn = 2 * depth + 2 * (depth - 1)  # two per double conv: `depth` encoder levels, depth-1 decoder levels
    conv = bn + (depth - 1) + 1  # + transposed convs + 1x1 head
    return {"bn": bn, "conv": conv}


def pspnet_counts(depth: int) -> dict[str, int]:
    shortcuts = 2 if depth >= 3 else 1  # projections where channels or stride change (stages 1 and 2)
    bn = 1 + 2 * depth + shortcuts + 4 + 1  # stem, two per block, shortcuts, four pyramid bins, head
    return {"bn": bn, "conv": bn + 1}  # every BN sits behind a conv; + the classifier


EXPECTED = {"unet": unet_counts, "pspnet": pspnet_counts}
PER_MODULE = {
    "bn.running_mean": ("bn", 1),
    "bn.running_var": ("bn", 1),
    "bn.running": ("bn", 2),
    "bn.weight": ("bn", 1),
    "bn.bias": ("bn", 1),
    "bn.affine": ("bn", 2),
    "conv.weight": ("conv", 1),
    "conv.bias": ("conv", 1),
}


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("arch", ["unet", "pspnet"])
@pytest.mark.parametrize("group", PAPER_GROUPS)
def test_group_counts(arch, depth, group):
    model = build_model(arch, seed=0, width=4, depth=depth)
    kind, per_module = PER_MODULE[group]
    refs = select(model, group)
    assert len(refs) == EXPECTED[arch](depth)[kind] * per_module
    attrs = {r.attr for r in refs}
    assert attrs == {"bn.running": {"running_mean", "running_var"}, "bn.affine": {"weight", "bias"}}.get(
        group, {group.split(".")[1]}
    )
    assert len({r.name for r in refs}) == len(refs), "no tensor selected twice"
    assert all(r.name in model.state_dict() for r in refs)


def test_scalar_counts_match_channels():
    model = build_model("unet", seed=0, width=4, depth=2)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    channels = sum(m.num_features for m in bns)
    assert group_size(model, "bn.running") == (2 * len(bns), 2 * channels)
    assert group_size(model, "conv.weight")[1] == sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 4)


class Oddly(nn.Module):
    """Names that say nothing: selection must go by module type."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 3, 3, padding=1)
        self.b = nn.BatchNorm2d(3)
        self.c = nn.ReLU()
        self.d = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.e = nn.ReLU()
        self.f = nn.BatchNorm2d(3)  # after a ReLU: its input is not a conv's output
        self.g = nn.Conv2d(3, 1, 1)

    def forward(self, x):
        return self.g(self.f(self.e(self.d(self.c(self.b(self.a(x)))))))


def test_selection_goes_by_type_and_skips_absent_biases():
    model = Oddly()
    assert [r.name for r in select(model, "conv.bias")] == ["a.bias", "g.bias"]
    assert [r.name for r in select(model, "bn.running_mean")] == ["b.running_mean", "f.running_mean"]
    assert select(model, "bn.weight", modules=["f"])[0].name == "f.weight"


def test_conv_feeding_bn_only_when_directly_connected():
    model = Oddly()
    assert conv_feeding_bn(model, torch.zeros(1, 1, 8, 8)) == {"a": "b"}
    assert forward_order(model, torch.zeros(1, 1, 8, 8)) == ["a", "b", "d", "f", "g"]


def test_unknown_group_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown parameter group 'bn.gamma'.*bn.running_mean"):
        select(Oddly(), "bn.gamma")


def test_groups_cover_the_layers_practitioners_have():
    model = nn.Sequential(
        nn.Conv1d(1, 2, 3), nn.BatchNorm1d(2), nn.Conv3d(2, 2, 1), nn.BatchNorm3d(2), nn.SyncBatchNorm(2),
        nn.ConvTranspose1d(2, 2, 1), nn.GroupNorm(1, 2), nn.LayerNorm(4), nn.InstanceNorm2d(2, affine=True),
        nn.InstanceNorm2d(2), nn.Linear(4, 4), nn.PReLU(),
    )
    assert [r.module for r in select(model, "conv.weight")] == ["0", "2", "5"]
    assert [r.module for r in select(model, "bn.running")] == ["1", "1", "3", "3", "4", "4"]
    assert [r.module for r in select(model, "norm.affine")] == ["6", "6", "7", "7", "8", "8"], "affine-only groups"
    assert select(model, "norm.weight") and not any(r.attr.startswith("running") for r in select(model, "norm.affine"))
    from reusebench.groups import coverage

    cov = coverage(model)
    assert dict(cov["covered"])["GroupNorm"] == ["norm.affine", "norm.bias", "norm.weight"]
    assert [(name, kind) for name, kind, _ in cov["uncovered"]] == [("10", "Linear"), ("11", "PReLU")]
