"""PSPNet (Zhao et al. 2017), small: a dilated ResNet-style backbone, pyramid pooling, a head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reusebench.models.blocks import conv_bn_relu


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with BN, a projected shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, *, stride: int = 1, dilation: int = 1, conv_bias: bool = True) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(c_in, c_out, stride=stride, dilation=dilation, conv_bias=conv_bias)
        self.conv2 = nn.Sequential(
            nn.Conv2d(c_out, c_out, 3, padding=dilation, dilation=dilation, bias=conv_bias),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=conv_bias), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class PyramidPooling(nn.Module):
    """Each bin: adaptive avg-pool -> 1x1 conv -> BN -> ReLU, upsampled and concatenated with the input."""

    def __init__(self, channels: int, bins: tuple[int, ...] = (1, 2, 3, 6), *, conv_bias: bool = True) -> None:
        super().__init__()
        reduced = max(channels // len(bins), 1)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), conv_bn_relu(channels, reduced, kernel_size=1, conv_bias=conv_bias))
            for b in bins
        )
        self.out_channels = channels + reduced * len(bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return torch.cat([x, *pooled], dim=1)


class PSPNet(nn.Module):
    """Stem (stride 2), ``depth`` backbone stages (the second strides by 2, later ones dilate), PPM, head.

    Output stride 4, upsampled bilinearly to the input size.
    """

    # The 1x1 pyramid bin's BN sees one value per channel per sample: training needs a batch of
    # at least 2 (PyTorch raises at 1) and is noisy below ~8; the profiles train with 16.
    MIN_TRAIN_BATCH = 2

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, *, width: int = 8, depth: int = 3, conv_bias: bool = True
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"PSPNet depth must be >= 2 (backbone stages), got {depth}")
        self.stem = conv_bn_relu(in_channels, width, stride=2, conv_bias=conv_bias)
        stages, c_in = [], width
        for i in range(depth):
            c_out = width * 2 ** min(i, 2)
            stride = 2 if i == 1 else 1
            dilation = 2 ** (i - 1) if i >= 2 else 1
            stages.append(BasicBlock(c_in, c_out, stride=stride, dilation=dilation, conv_bias=conv_bias))
            c_in = c_out
        self.backbone = nn.Sequential(*stages)
        self.ppm = PyramidPooling(c_in, conv_bias=conv_bias)
        self.head = conv_bn_relu(self.ppm.out_channels, c_in, conv_bias=conv_bias)
        self.classifier = nn.Conv2d(c_in, out_channels, 1, bias=conv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        y = self.classifier(self.head(self.ppm(self.backbone(self.stem(x)))))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)
