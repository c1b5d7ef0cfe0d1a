"""A worked audit example, outside the suite's packages: a small shape classifier.

Question it answers: a classifier was pre-trained on light shapes over a dark, clean
background; the same classes now come as dark shapes over bright, textured backgrounds.
Which of the pre-trained model's parameters can be reused for the new data?

- ``build_model()``: a CNN with BatchNorm, one GroupNorm and a Linear classifier.
- ``target_data()`` / ``donor_data()``: (train, val) pairs of (images, labels), generated
  with ``skimage.draw.random_shapes``; four classes (circle, rectangle, triangle, ellipse).

Audit it: ``./dev audit examples/shapes_classifier.toml`` (see the README).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from skimage.draw import random_shapes
from skimage.filters import gaussian
from torch import nn

CLASSES = ("circle", "rectangle", "triangle", "ellipse")
SIZE = 32


def build_model(width: int = 16) -> nn.Module:
    def block(cin: int, cout: int, norm: nn.Module) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), norm, nn.ReLU(inplace=True)]

    return nn.Sequential(
        *block(1, width, nn.BatchNorm2d(width)),
        *block(width, width, nn.BatchNorm2d(width)),
        nn.MaxPool2d(2),
        *block(width, 2 * width, nn.GroupNorm(4, 2 * width)),
        nn.MaxPool2d(2),
        *block(2 * width, 2 * width, nn.BatchNorm2d(2 * width)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, len(CLASSES)),
    )


def _image(rng: np.random.Generator, label: int, domain: str) -> np.ndarray:
    shape, _ = random_shapes(
        (SIZE, SIZE), max_shapes=1, min_shapes=1, shape=CLASSES[label], min_size=12, max_size=26,
        channel_axis=None, intensity_range=(0, 0), rng=int(rng.integers(2**31)),
    )
    mask = shape < 255  # random_shapes draws on white
    if domain == "pretraining":  # light shapes, dark clean background
        image = np.where(mask, rng.uniform(0.6, 1.0), rng.uniform(0.0, 0.2))
        noise = 0.03
    else:  # dark shapes, bright textured background
        texture = gaussian(rng.uniform(0, 1, (SIZE, SIZE)), sigma=1.5)
        image = np.where(mask, rng.uniform(0.0, 0.3), 0.5 + 0.4 * texture)
        noise = 0.08
    return np.clip(image + rng.normal(0, noise, image.shape), 0, 1).astype(np.float32)


@lru_cache(maxsize=4)
def _split(domain: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(CLASSES), size=n)
    images = np.stack([_image(rng, int(label), domain) for label in labels])[:, None]
    return torch.from_numpy(images), torch.from_numpy(labels).long()


def target_data():
    """The data the audited network serves: (train, val)."""
    return _split("target", 512, 1), _split("target", 256, 2)


def donor_data():
    """The data the pre-trained model was trained on: (train, val)."""
    return _split("pretraining", 512, 3), _split("pretraining", 256, 4)
