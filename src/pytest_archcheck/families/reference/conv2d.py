"""Reference image CNN (families/conv2d.py describes its tensors and saved bytes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...spec.model import Spec
from ..conv2d import DEFAULT_CLASSES


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c)
        self.short: nn.Module | None = None
        if stride != 1 or c_in != c:
            self.short = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (self.short(x) if self.short is not None else x))


class ResNet(nn.Module):
    """Stem conv + one BasicBlock per layer (channels/strides per layer) + pooled classifier."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        chans = m.channel_list()
        self.stem = nn.Conv2d(m.in_channels or 3, chans[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(chans[0])
        blocks = []
        c_in = chans[0]
        for c, st in zip(chans, m.stride_list(), strict=True):
            blocks.append(BasicBlock(c_in, c, st))
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, m.classes or DEFAULT_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(h.mean(dim=(2, 3)))  # type: ignore[no-any-return]
