"""Network registry: one obvious call builds any architecture from a name and a seed.

To add an architecture, write an ``nn.Module`` whose constructor takes
``(in_channels, out_channels, *, width, depth, conv_bias)`` and register it in ``MODELS``.
"""

from __future__ import annotations

import torch
from torch import nn

from reusebench.models.pspnet import PSPNet
from reusebench.models.unet import UNet
from reusebench.protocol import ARCHITECTURES, check_choice

MODELS: dict[str, type[nn.Module]] = {"unet": UNet, "pspnet": PSPNet}
assert tuple(MODELS) == ARCHITECTURES, "the registry and reusebench.protocol.ARCHITECTURES must agree"


def build_model(
    name: str,
    *,
    seed: int,
    width: int,
    depth: int,
    in_channels: int = 1,
    out_channels: int = 1,
    conv_bias: bool = True,
) -> nn.Module:
    """Build architecture ``name`` with its initialisation drawn from ``seed`` (global RNG untouched)."""
    cls = MODELS[check_choice("architecture", name, MODELS)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(in_channels, out_channels, width=width, depth=depth, conv_bias=conv_bias)


def min_train_batch(name: str) -> int:
    """The smallest training batch the architecture supports (metadata beside the code)."""
    return MODELS[check_choice("architecture", name, MODELS)].MIN_TRAIN_BATCH


__all__ = ["MODELS", "build_model", "min_train_batch", "UNet", "PSPNet"]
