"""A decoder-only LM whose attention forgot `is_causal=True`: the output at t reads tokens
after t, so teacher-forced training loss looks excellent and generation fails.
Found by `archcheck check --probe` (ARC205); `build_fixed` is the correct twin."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Decoder(nn.Module):
    def __init__(self, vocab: int = 500, d: int = 64, heads: int = 4, causal: bool = False) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(256, d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n = tokens.shape
        x = self.emb(tokens) + self.pos(torch.arange(n, device=tokens.device))
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, -1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # the bug: False
        return self.out(y.transpose(1, 2).reshape(b, n, -1) + x)


def build() -> Decoder:
    return Decoder()


def build_fixed() -> Decoder:
    return Decoder(causal=True)
