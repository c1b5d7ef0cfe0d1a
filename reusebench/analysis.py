"""Measurements beside replacement damage: kernel distances (R2, C1), fine-tune curves and
learning-rate choice (R1), conv-bias gradients (M1)."""

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


# C1's distances between a donor's and the target's kernel, per layer. The raw RMSE grows with
# the layer's initialisation scale (Kaiming: 1/sqrt(fan-in)), which has nothing to do with how
# far apart two kernels are; the others are scale-free.
KERNEL_DISTANCES = ("rmse", "rmse_init_scale", "relative", "cosine")
# The one C1 is judged on: the scale-free distance least rank-correlated with the layer's
# initialisation scale over the smoke profile's cells, a rule fixed before the measurement
# (scripts/c1_distances.py prints the evidence; README). Smoke, 2026-11-30: mean |rho with
# the init scale| rmse 0.74, rmse_init_scale 0.69, relative 0.61, cosine 0.56: cosine, and
# no distance removes the confound.
C1_DISTANCE = "cosine"


def kernel_distances(
    model: nn.Module, donor: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], init: Mapping[str, torch.Tensor]
) -> dict[str, dict[str, float]]:
    """Per conv layer: ``init_scale`` (the standard deviation of the target's initial kernel) and
    every ``KERNEL_DISTANCES`` between the donor's and the target's kernel: ``rmse``; ``rmse``
    over ``init_scale``; ``relative`` (||d - t|| / ||t||); ``cosine`` (1 - cos(d, t))."""
    out = {}
    for ref in select(model, "conv.weight"):
        d, t = (x[ref.name].detach().double().cpu().flatten() for x in (donor, target))
        scale = float(init[ref.name].detach().double().std())
        raw = rmse(d, t)
        out[ref.module] = {
            "init_scale": scale,
            "rmse": raw,
            "rmse_init_scale": raw / scale if scale > 0 else math.nan,
            "relative": float((d - t).norm() / t.norm()) if t.norm() > 0 else math.nan,
            "cosine": float(1 - torch.nn.functional.cosine_similarity(d, t, dim=0)),
        }
    return out


def distance_ratios(
    model: nn.Module, donor: Mapping[str, torch.Tensor], init: Mapping[str, torch.Tensor], trained: Mapping[str, torch.Tensor]
) -> list[dict]:
    """R2 per conv layer: RMSE(donor, trained) / RMSE(init, trained), with both distances."""
    to_target = conv_kernel_rmse(model, donor, trained)
    from_init = conv_kernel_rmse(model, init, trained)
    return [
        {"layer": name, "donor_to_target": to_target[name], "init_to_target": from_init[name],
         "ratio": to_target[name] / from_init[name] if from_init[name] > 0 else math.nan}
        for name in from_init
    ]


def choose_lr(final: Mapping[float, float]) -> float:
    """The learning rate whose run ends with the best validation value (higher is better); a
    non-finite value never wins; ties go to the smaller rate."""
    if not final:
        raise ValueError("no learning rate to choose from")
    return max(sorted(final), key=lambda lr: (math.isfinite(final[lr]), final[lr] if math.isfinite(final[lr]) else 0.0, -lr))


def curve_advantage(curve: list, control: list) -> float:
    """The mean gap between two validation curves over the budget: the area between them
    (trapezoids; both sampled at the same steps, step 0 included) over the last step."""
    steps, a = zip(*curve)
    if [s for s, _ in control] != list(steps) or len(steps) < 2:
        raise ValueError(f"the curves must share their steps (two or more), got {list(steps)} and {[s for s, _ in control]}")
    gap = [x - y for x, (_, y) in zip(a, control)]
    area = sum((steps[i + 1] - steps[i]) * (gap[i] + gap[i + 1]) / 2 for i in range(len(steps) - 1))
    return area / (steps[-1] - steps[0])


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
