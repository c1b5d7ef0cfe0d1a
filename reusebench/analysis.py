"""Measurements beside replacement damage: kernel distances (R2, C1) and conv-bias gradients (M1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from scipy.stats import spearmanr
from torch import nn

from reusebench.groups import CONV_TYPES, select


def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root mean square of the element-wise difference (per scalar, so layers of any size compare)."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare tensors of shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return math.sqrt(torch.mean((a.detach().double().cpu() - b.detach().double().cpu()) ** 2).item())


def conv_kernel_rmse(model: nn.Module, a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Per conv layer of ``model`` (registration order), the RMSE between the kernels in states ``a`` and ``b``."""
    return {ref.module: rmse(a[ref.name], b[ref.name]) for ref in select(model, "conv.weight")}


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation; NaN when either side is constant or has fewer than 3 values."""
    if len(x) != len(y):
        raise ValueError(f"need paired values, got {len(x)} and {len(y)}")
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2 or not all(map(math.isfinite, [*x, *y])):
        return math.nan
    return float(spearmanr(x, y).statistic)


def conv_gradients(model: nn.Module, loss: Callable[[nn.Module], torch.Tensor]) -> dict[str, dict[str, float]]:
    """Largest absolute gradient of each conv's bias and weight for one loss in training mode.

    The model's parameters, gradients, BN running statistics and modes are left as they were
    (run it on a copy if another thread may read the model meanwhile).
    """
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    grads = {name: p.grad for name, p in model.named_parameters()}
    modes = {m: m.training for m in model.modules()}
    try:
        for p in model.parameters():
            p.grad = None
        model.train()
        loss(model).backward()
        out = {}
        for name, module in model.named_modules():
            if isinstance(module, CONV_TYPES) and module.bias is not None:
                out[name] = {
                    "bias": module.bias.grad.abs().max().item(),
                    "weight": module.weight.grad.abs().max().item(),
                }
        return out
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for name, p in model.named_parameters():
            p.grad = grads[name]
        for module, mode in modes.items():
            module.training = mode
