"""UNet: encoder-decoder with skip connections (Ronneberger et al. 2015), sized by width and depth."""

from __future__ import annotations

import torch
from torch import nn

from reusebench.models.blocks import double_conv


class UNet(nn.Module):
    """``depth`` resolution levels; level i has ``width * 2**i`` channels.

    Down: max-pool then a double conv. Up: 2x2 transposed conv, concatenation with the
    skip, double conv. A 1x1 conv maps to ``out_channels``.
    """

    MIN_TRAIN_BATCH = 1  # every BN sees H*W values per channel

    def __init__(
        self, in_channels: int = 1, out_channels: int = 1, *, width: int = 8, depth: int = 3, conv_bias: bool = True
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"UNet depth must be >= 2 (levels incl. the bottom), got {depth}")
        chans = [width * 2**i for i in range(depth)]
        self.inc = double_conv(in_channels, chans[0], conv_bias=conv_bias)
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(chans[i - 1], chans[i], conv_bias=conv_bias))
            for i in range(1, depth)
        )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[i], chans[i - 1], 2, stride=2, bias=conv_bias) for i in reversed(range(1, depth))
        )
        self.dec = nn.ModuleList(
            double_conv(2 * chans[i - 1], chans[i - 1], conv_bias=conv_bias) for i in reversed(range(1, depth))
        )
        self.head = nn.Conv2d(chans[0], out_channels, 1, bias=conv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up, dec in zip(self.up, self.dec):
            y = dec(torch.cat([skips.pop(), up(y)], dim=1))
        return self.head(y)
