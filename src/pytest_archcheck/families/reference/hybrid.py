"""Reference hybrid (families/hybrid.py describes its tensors and saved bytes): the stem's
reference ConvStack (no head); a hand-over to the blocks as one row-major copy of its output
in the blocks' weight dtype (fp32 under autocast: the residual stream's); then the blocks'
reference module (a Transformer or an LSTM/GRU/RNN; input = embeddings, carrying the
hybrid's head)."""

from __future__ import annotations

import torch
from torch import nn

from ...spec.model import Spec
from .. import family_of
from ..hybrid import stage_specs
from .conv1d import ConvStack


class Hybrid(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        stem, blocks = stage_specs(spec)
        self.stem = ConvStack(stem)
        self.blocks = family_of(blocks).reference_module(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)  # (b, n / S, c): a transposed view of the stem's last map
        # the residual stream's dtype: the blocks' weights' (fp32 master weights under autocast)
        dtype = next(self.blocks.parameters()).dtype
        h = h.to(dtype, memory_format=torch.contiguous_format)
        return self.blocks(h)  # type: ignore[no-any-return]
