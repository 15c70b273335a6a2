"""A padded encoder that builds its additive mask as (1 - keep) * -1e4, the BERT-era idiom:
too weak for the score range (and overflowing fp16's range of safe sums), so blocked positions
keep attention weight. Found by `archcheck check --probe` (ARC209); `build_fixed` uses the
dtype's minimum instead."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Encoder(nn.Module):
    def __init__(self, vocab: int = 500, d: int = 64, heads: int = 4, fixed: bool = False) -> None:
        super().__init__()
        self.heads, self.fixed = heads, fixed
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(256, d)
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n = tokens.shape
        keep = tokens.ne(0)
        x = self.emb(tokens) + self.pos(torch.arange(n, device=tokens.device))
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        if self.fixed:
            mask = torch.zeros(b, 1, 1, n, dtype=q.dtype).masked_fill(
                ~keep[:, None, None, :], torch.finfo(q.dtype).min
            )
        else:
            mask = (1.0 - keep[:, None, None, :].to(q.dtype)) * -1e4  # the bug
        return (
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            .transpose(1, 2)
            .reshape(b, n, -1)
        )


def build() -> Encoder:
    return Encoder()


def build_fixed() -> Encoder:
    return Encoder(fixed=True)
