"""The receptive field of an image model, measured on the model: the gradient of one central
output pixel of its feature map with respect to the input.

The figures the image family computes from a layer list (families/conv2d.py) are checked
against the model itself: which input pixels can change the centre output. To see every path
and not the few a random initialisation or a max-pool's argmax happens to use, the model is
measured on a copy in float64 whose convolution weights are all positive (1 / fan-in), whose
BatchNorms are identities and whose max pools are average pools of the same geometry: then every
input pixel inside the receptive field has a strictly positive gradient and every pixel outside
has exactly zero. The extent of the non-zero gradient along a row is the receptive field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MeasuredField:
    receptive_field: int  # px along one axis
    effective_stride: int  # input px between adjacent outputs
    side: int  # input side the measurement used


def _prepare(model: Any) -> Any:
    import torch
    from torch import nn

    m = copy.deepcopy(model).double().eval()
    for mod in list(m.modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(
                    mod,
                    child_name,
                    nn.AvgPool2d(
                        child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode
                    ),
                )
            elif isinstance(child, nn.BatchNorm2d):
                setattr(mod, child_name, nn.Identity())
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                mod.weight.fill_(1.0 / fan_in)
                if mod.bias is not None:
                    mod.bias.fill_(0.0)
    return m


def measure(features: Any, side: int, in_channels: int = 3) -> MeasuredField:
    """Receptive field and effective stride of `features` (a module mapping images to a
    feature map), measured at input side `side` (choose it larger than the field)."""
    import torch

    m = _prepare(features)
    x = torch.ones(1, in_channels, side, side, dtype=torch.float64, requires_grad=True)
    y = m(x)
    if y.dim() != 4:
        raise ValueError(f"features must return a (B, C, H, W) map, got shape {tuple(y.shape)}")
    h, w = y.shape[-2:]
    ci, cj = h // 2, w // 2
    (g,) = torch.autograd.grad(y[0, :, ci, cj].sum(), x)
    row = g[0].abs().sum(0).sum(0)  # along width
    nz = torch.nonzero(row > 0).flatten()
    field = int(nz[-1] - nz[0] + 1)
    stride = 0  # a 1-pixel-wide map has no neighbour to measure the stride from
    if w > cj + 1:  # the next output pixel's field starts S input pixels further right
        (g2,) = torch.autograd.grad(m(x)[0, :, ci, cj + 1].sum(), x)
        nz2 = torch.nonzero(g2[0].abs().sum(0).sum(0) > 0).flatten()
        stride = int(nz2[-1] - nz[-1])
    return MeasuredField(field, stride, side)
