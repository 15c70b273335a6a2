"""A padded-sequence encoder with a real-world bug: the Hugging Face style attention mask
(1 = keep) is passed as `key_padding_mask`, which nn.MultiheadAttention reads as True = ignore.
`build_fixed` is the correct twin. Only `archcheck check --probe` can see this (ARC204/ARC206)."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(
        self, vocab: int = 1000, d: int = 64, heads: int = 4, pad_id: int = 0, fixed: bool = False
    ) -> None:
        super().__init__()
        self.pad_id, self.fixed = pad_id, fixed
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(512, d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.out = nn.Linear(d, d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        keep = tokens.ne(self.pad_id)  # Hugging Face convention: 1 = keep
        x = self.emb(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        mask = ~keep if self.fixed else keep  # the bug: MHA wants True = padding
        y, _ = self.attn(x, x, x, key_padding_mask=mask, need_weights=False)
        return self.out(y)


def build() -> Encoder:
    return Encoder()


def build_fixed() -> Encoder:
    return Encoder(fixed=True)
