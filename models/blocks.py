"""Tiny building blocks shared by the architectures (conv -> norm -> act as one Sequential)."""

from __future__ import annotations

from torch import nn


def conv_bn_relu(
    c_in: int,
    c_out: int,
    *,
    kernel_size: int = 3,
    stride: int = 1,
    dilation: int = 1,
    conv_bias: bool = True,
) -> nn.Sequential:
    """3x3 (by default) conv -> BatchNorm -> ReLU, padding chosen to keep the size."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=conv_bias),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def double_conv(c_in: int, c_out: int, *, conv_bias: bool = True) -> nn.Sequential:
    """The UNet block: two (3x3 conv -> BN -> ReLU)."""
    return nn.Sequential(
        conv_bn_relu(c_in, c_out, conv_bias=conv_bias),
        conv_bn_relu(c_out, c_out, conv_bias=conv_bias),
    )
