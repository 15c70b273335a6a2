"""Reference 1-D conv stack (families/conv1d.py describes its tensors and saved bytes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...spec.model import Spec
from .._base import DEFAULT_VOCAB, head_out
from ..conv1d import causal, input_width, tied


class ConvStack(nn.Module):
    """1-D convolution stack (CNN: centred padding; TCN: causal left padding) -> head."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        self.emb = (
            nn.Embedding(m.vocab or DEFAULT_VOCAB, m.d_model) if m.input == "tokens" else None
        )
        c_in = input_width(m)
        left_only = causal(m)
        self.convs = nn.ModuleList()
        self.pads: list[tuple[int, int]] = []
        for k, dil, st, c in zip(
            m.kernel_list(), m.dilation_list(), m.stride_list(), m.channel_list(), strict=True
        ):
            total = dil * (k - 1)
            if m.padding == "valid":
                pad = (0, 0)
            elif isinstance(m.padding, int) and not isinstance(m.padding, bool):
                pad = (m.padding, m.padding)
            elif left_only:
                pad = (total, 0)
            else:
                pad = (total // 2, total - total // 2)
            self.pads.append(pad)
            self.convs.append(nn.Conv1d(c_in, c, k, stride=st, dilation=dil, bias=m.bias != "none"))
            c_in = c
        self.drop = nn.Dropout(spec.train.dropout)
        kind, width = head_out(m)
        self.pool = kind == "classes"
        self.head = nn.Linear(c_in, width) if width else None
        if self.head is not None and self.emb is not None and tied(spec):
            self.head.weight = self.emb.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x).transpose(1, 2) if self.emb is not None else x.transpose(1, 2)
        for conv, pad in zip(self.convs, self.pads, strict=True):
            h = self.drop(F.relu(conv(F.pad(h, pad))))
        h = h.mean(dim=2) if self.pool else h.transpose(1, 2)
        return self.head(h) if self.head is not None else h
