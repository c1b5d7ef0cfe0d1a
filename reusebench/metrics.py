"""Evaluate a network on a split, and the damage measure."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

from reusebench.protocol import TASKS, check_choice


def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int, device: torch.device) -> torch.Tensor:
    """Outputs for ``images`` in eval mode under ``torch.inference_mode``, on the CPU."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outs = [model(images[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs)


def seg_metrics(logits: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """Mean per-image Dice and IoU of ``logits > 0``; an image with both masks empty scores 1."""
    if not torch.isfinite(logits).all():
        return {"dice": math.nan, "iou": math.nan}
    pred, true = (logits > 0).flatten(1), masks.bool().flatten(1)
    inter = (pred & true).sum(1).double()
    p, t = pred.sum(1).double(), true.sum(1).double()
    union = p + t - inter
    dice = torch.where(p + t > 0, 2 * inter / (p + t).clamp(min=1), torch.ones_like(inter))
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
    return {"dice": dice.mean().item(), "iou": iou.mean().item()}


def ae_metrics(recon: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """Mean per-image SSIM and PSNR (scikit-image) of the reconstruction clipped to [0, 1]."""
    if not torch.isfinite(recon).all():
        return {"ssim": math.nan, "psnr": math.nan}
    rec = recon.clamp(0, 1).numpy().astype(np.float64)
    ref = images.numpy().astype(np.float64)
    ssim = [structural_similarity(r[0], x[0], data_range=1.0) for r, x in zip(rec, ref)]
    psnr = [peak_signal_noise_ratio(x[0], r[0], data_range=1.0) for r, x in zip(rec, ref)]
    return {"ssim": float(np.mean(ssim)), "psnr": float(np.mean(psnr))}


def evaluate(model: nn.Module, task: str, images: torch.Tensor, masks: torch.Tensor, *, batch_size: int, device: torch.device) -> dict[str, float]:
    """Every metric of ``task`` for ``model`` on (images, masks)."""
    check_choice("task", task, TASKS)
    out = predict(model, images, batch_size=batch_size, device=device)
    return seg_metrics(out, masks) if task == "seg" else ae_metrics(out, images)


def damage(m_target: float, m_replaced: float, m_init: float) -> float:
    """(m(T) - m(T')) / (m(T) - m(T0)): 0 harmless, 1 as bad as untrained, > 1 worse.

    NaN when any metric is non-finite or when the trained network is no better than its
    initialisation (the scale is then undefined); such cases are reported, never averaged in.
    """
    values = (m_target, m_replaced, m_init)
    if not all(math.isfinite(v) for v in values) or m_target - m_init <= 0:
        return math.nan
    return (m_target - m_replaced) / (m_target - m_init)
