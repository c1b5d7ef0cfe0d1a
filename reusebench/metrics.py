"""Evaluate a network on a split, and the damage measure."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

from reusebench.protocol import TASKS, check_choice


def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int, device: torch.device, nhwc: bool = True) -> torch.Tensor:
    """Outputs for ``images`` in eval mode under ``torch.inference_mode``, on the CPU.

    With ``nhwc`` (the paper's networks), a pass on the CPU runs channels-last, the model's
    tensors included (in place, the same parameters; the faster layout there:
    ``reusebench.fixtures.accel``). A network of unknown code (an audit's) passes False: it may
    ``view`` an activation, which a channels-last tensor does not allow."""
    was_training = model.training
    model.eval()
    nhwc = nhwc and device.type == "cpu" and images.dim() == 4
    layout = torch.channels_last if nhwc else torch.preserve_format
    if nhwc:
        model.to(memory_format=torch.channels_last)
    try:
        with torch.inference_mode():
            outs = [model(images[i : i + batch_size].to(device).contiguous(memory_format=layout)).float().cpu().contiguous()
                    for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs)


def seg_per_image(logits: torch.Tensor, masks: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-image Dice and IoU of ``logits > 0``; an image with both masks empty scores 1."""
    if not torch.isfinite(logits).all():
        nan = np.full(len(logits), np.nan)
        return {"dice": nan, "iou": nan.copy()}
    pred, true = (logits > 0).flatten(1), masks.bool().flatten(1)
    inter = (pred & true).sum(1).double()
    p, t = pred.sum(1).double(), true.sum(1).double()
    union = p + t - inter
    dice = torch.where(p + t > 0, 2 * inter / (p + t).clamp(min=1), torch.ones_like(inter))
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
    return {"dice": dice.numpy(), "iou": iou.numpy()}


def ae_per_image(recon: torch.Tensor, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-image SSIM and PSNR (scikit-image) of the reconstruction clipped to [0, 1]."""
    if not torch.isfinite(recon).all():
        nan = np.full(len(recon), np.nan)
        return {"ssim": nan, "psnr": nan.copy()}
    rec = recon.clamp(0, 1).numpy().astype(np.float64)
    ref = images.numpy().astype(np.float64)
    ssim = [structural_similarity(r[0], x[0], data_range=1.0) for r, x in zip(rec, ref)]
    psnr = [peak_signal_noise_ratio(x[0], r[0], data_range=1.0) for r, x in zip(rec, ref)]
    return {"ssim": np.array(ssim), "psnr": np.array(psnr)}


def trivial_per_image(task: str, train_targets: torch.Tensor, targets: torch.Tensor) -> tuple[str, dict[str, np.ndarray]]:
    """The best constant predictor of ``task`` against the test ``targets``, and its metrics per
    image (targets: ``Split.targets``, masks for seg, the clean images for ae).

    seg: all background or all foreground (logits -1 or +1 everywhere), whichever scores the
    higher mean Dice; ae: a flat image at the training targets' mean intensity. The damage
    scale's floor (``damage``): it depends on the data only, never on a network's seed, where
    an untrained network's metric flips with the sign of its head's random bias.
    """
    check_choice("task", task, TASKS)
    if task == "seg":
        candidates = {name: seg_per_image(torch.full_like(targets, value), targets) for name, value in (("all background", -1.0), ("all foreground", 1.0))}
    else:
        candidates = {"flat training-mean image": ae_per_image(torch.full_like(targets, float(train_targets.mean())), targets)}
    metric = "dice" if task == "seg" else "ssim"
    name = max(candidates, key=lambda n: float(np.mean(candidates[n][metric])))
    return name, candidates[name]


def mean_metrics(per_image: dict[str, np.ndarray]) -> dict[str, float]:
    """The mean over images of each per-image metric."""
    return {name: float(np.mean(values)) for name, values in per_image.items()}


def seg_metrics(logits: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """Mean per-image Dice and IoU; NaN when any output is non-finite."""
    return mean_metrics(seg_per_image(logits, masks))


def ae_metrics(recon: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """Mean per-image SSIM and PSNR; NaN when any output is non-finite."""
    return mean_metrics(ae_per_image(recon, images))


def evaluate_per_image(
    model: nn.Module, task: str, images: torch.Tensor, targets: torch.Tensor, *, batch_size: int, device: torch.device
) -> dict[str, np.ndarray]:
    """Every metric of ``task`` for ``model`` on input ``images`` against ``targets`` (masks for
    seg; for ae, the images it should reconstruct), one value per image."""
    check_choice("task", task, TASKS)
    out = predict(model, images, batch_size=batch_size, device=device)
    return seg_per_image(out, targets) if task == "seg" else ae_per_image(out, targets)


def evaluate(model: nn.Module, task: str, images: torch.Tensor, targets: torch.Tensor, *, batch_size: int, device: torch.device) -> dict[str, float]:
    """Every metric of ``task`` for ``model``: the mean over images."""
    return mean_metrics(evaluate_per_image(model, task, images, targets, batch_size=batch_size, device=device))


def damage_interval(
    target: np.ndarray, replaced: np.ndarray, floor: np.ndarray, *, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of damage over the test images (paired resampling, fixed seed).

    It measures how much the finite test split alone moves the damage; NaN when undefined.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(target), size=(resamples, len(target)))
    t, r, z = target[idx].mean(1), replaced[idx].mean(1), floor[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(t - z > 0, (t - r) / (t - z), np.nan)
    if not np.isfinite(d).all():
        return (math.nan, math.nan)
    low, high = np.percentile(d, [2.5, 97.5])
    return (float(low), float(high))


def damage(m_target: float, m_replaced: float, m_floor: float) -> float:
    """(m(T) - m(T')) / (m(T) - m_floor): 0 harmless, 1 as bad as the best constant predictor
    (``trivial_per_image``), > 1 worse than it (an untrained network usually is).

    NaN when any metric is non-finite or when the trained network is no better than the floor
    (the scale is then undefined); such cases are reported, never averaged in.
    """
    values = (m_target, m_replaced, m_floor)
    if not all(math.isfinite(v) for v in values) or m_target - m_floor <= 0:
        return math.nan
    return (m_target - m_replaced) / (m_target - m_floor)
