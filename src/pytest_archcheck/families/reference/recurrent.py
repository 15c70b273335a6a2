"""Reference recurrent model (families/recurrent.py describes its tensors and saved bytes)."""

from __future__ import annotations

import torch
from torch import nn

from ...spec.model import Spec
from .._base import DEFAULT_VOCAB, head_out
from ..recurrent import input_width, tied


class RecurrentLM(nn.Module):
    """Embedding (tokens) -> nn.LSTM / GRU / RNN -> LM head per step or classifier on the mean."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        cell = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[m.family]
        self.emb = (
            nn.Embedding(m.vocab or DEFAULT_VOCAB, m.d_model) if m.input == "tokens" else None
        )
        self.rnn = cell(
            input_width(m),
            m.hidden_size,
            m.layers,
            bias=m.bias != "none",
            batch_first=True,
            bidirectional=m.bidirectional,
            dropout=spec.train.dropout if m.layers > 1 else 0.0,
        )
        out = m.hidden_size * (2 if m.bidirectional else 1)
        kind, width = head_out(m)
        self.pool = kind == "classes"
        self.head = nn.Linear(out, width) if width else None
        if self.head is not None and self.emb is not None and tied(spec):
            self.head.weight = self.emb.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x) if self.emb is not None else x
        y, _ = self.rnn(h)
        if self.pool:
            y = y.mean(dim=1)
        return self.head(y) if self.head is not None else y  # type: ignore[no-any-return]
