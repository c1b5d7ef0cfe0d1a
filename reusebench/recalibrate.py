"""BN recalibration after a replacement: AdaBN (Li et al. 2016)."""

from __future__ import annotations

import torch
from torch import nn

from reusebench.groups import BN_TYPES, TensorRef
from reusebench.protocol import RECALIBRATIONS, check_choice


def bn_state_refs(model: nn.Module) -> list[TensorRef]:
    """Every tensor that recalibration rewrites (running stats and their counters)."""
    return [
        TensorRef(name, attr)
        for name, module in model.named_modules()
        if isinstance(module, BN_TYPES) and module.track_running_stats
        for attr in ("running_mean", "running_var", "num_batches_tracked")
    ]


def adabn(model: nn.Module, images: torch.Tensor, *, batch_size: int, device: torch.device) -> None:
    """Re-estimate every BN layer's running statistics on ``images`` (cumulative average, no gradients).

    Only BN layers are put in training mode; the model's modes and momenta are restored.
    """
    bns = [m for m in model.modules() if isinstance(m, BN_TYPES) and m.track_running_stats]
    if not bns:
        return
    modes = {m: m.training for m in model.modules()}
    momenta = [bn.momentum for bn in bns]
    try:
        model.eval()
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average over all batches
            bn.train()
        starts = list(range(0, len(images), batch_size))
        if len(starts) > 1 and len(images) - starts[-1] == 1:
            starts.pop()  # a last batch of one image would break BN on a 1x1 map (PSPNet's pooled bin)
        with torch.no_grad():
            for start, end in zip(starts, starts[1:] + [len(images)]):
                model(images[start:end].to(device))
    finally:
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
        for module, mode in modes.items():
            module.training = mode


def recalibrate(kind: str, model: nn.Module, images: torch.Tensor, *, batch_size: int, device: torch.device) -> None:
    check_choice("recalibration", kind, RECALIBRATIONS)
    if kind == "adabn":
        adabn(model, images, batch_size=batch_size, device=device)
