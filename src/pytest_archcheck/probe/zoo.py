"""Reference implementations the probe uses when a spec names no factory.

One small, readable module per family, built only from spec fields, so that the memory formulas
in `formulas/activations.py` can model exactly what each one saves for backward:

- `Transformer`: GPT-2 style (learned positions, LayerNorm, GELU, biases, tied head), Llama style
  (RMSNorm, SwiGLU, rotary, GQA, no biases, untied) and bidirectional encoders (causal = false),
  all through F.scaled_dot_product_attention.
- `RecurrentLM`: embedding -> nn.LSTM / nn.GRU / nn.RNN -> vocabulary head.
- `ConvStack`: 1-D CNN / TCN (causal left padding, dilations, strides) -> head.
- `ResNet`: small ResNet-style 2-D CNN for input = "image".

Dropout (spec.train.dropout) sits where GPT-2 puts it: after the embedding, on the attention
probabilities, after the attention projection and after the MLP.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..spec.model import RECURRENT, Spec


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def _norm(kind: str, d: int, bias: bool) -> nn.Module:
    return RMSNorm(d) if kind == "rmsnorm" else nn.LayerNorm(d, bias=bias)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        self.h, self.kv, self.hd = m.head_count, m.kv_head_count, m.head_dim
        qkv_bias = m.bias in ("all", "qkv")
        self.qkv = nn.Linear(m.d_model, (self.h + 2 * self.kv) * self.hd, bias=qkv_bias)
        self.proj = nn.Linear(self.h * self.hd, m.d_model, bias=m.bias == "all")
        self.causal = m.causal
        self.window = m.window if m.attention in ("sliding", "local") and m.window else 0
        self.p = spec.train.dropout
        self.drop = nn.Dropout(self.p)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> Any:
        b, s, _ = x.shape
        q, k, v = self.qkv(x).split([self.h * self.hd, self.kv * self.hd, self.kv * self.hd], -1)
        q = q.view(b, s, self.h, self.hd).transpose(1, 2)
        k = k.view(b, s, self.kv, self.hd).transpose(1, 2)
        v = v.view(b, s, self.kv, self.hd).transpose(1, 2)
        if rope is not None:
            q, k = _rotate(q, *rope), _rotate(k, *rope)
        mask = None
        if self.window:
            i = torch.arange(s, device=x.device)
            dist = i[:, None] - i[None, :]
            band = dist.abs() <= self.window
            mask = band & (dist >= 0) if self.causal else band
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.p if self.training else 0.0,
            is_causal=self.causal and mask is None,
            enable_gqa=self.kv != self.h,
        )
        y = y.transpose(1, 2).reshape(b, s, self.h * self.hd)
        return self.drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        bias = m.bias == "all"
        self.swiglu = m.mlp == "swiglu"
        self.act = nn.GELU() if m.mlp == "gelu" else nn.ReLU()
        self.up = nn.Linear(m.d_model, (2 if self.swiglu else 1) * m.ffn_dim, bias=bias)
        self.down = nn.Linear(m.ffn_dim, m.d_model, bias=bias)
        self.drop = nn.Dropout(spec.train.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.swiglu:
            gate, up = self.up(x).chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = self.act(self.up(x))
        return self.drop(self.down(h))  # type: ignore[no-any-return]


class Block(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        self.ln1 = _norm(m.norm, m.d_model, m.bias == "all")
        self.attn = Attention(spec)
        self.ln2 = _norm(m.norm, m.d_model, m.bias == "all")
        self.mlp = MLP(spec)

    def forward(self, x: torch.Tensor, rope: Any) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), rope)
        return x + self.mlp(self.ln2(x))  # type: ignore[no-any-return]


class Transformer(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        self.spec = spec
        d = m.d_model
        self.tokens = m.input == "tokens"
        self.vocab = m.vocab
        self.wte = nn.Embedding(m.vocab or 1000, d) if self.tokens else None
        self.positional = m.positional
        n_pos = m.max_positions or max(spec.train_n, spec.infer_n)
        self.wpe = nn.Embedding(n_pos, d) if m.positional == "learned" else None
        self.drop = nn.Dropout(spec.train.dropout)
        self.blocks = nn.ModuleList(Block(spec) for _ in range(m.layers))
        self.ln_f = _norm(m.norm, d, m.bias == "all")
        self.head: nn.Linear | None = None
        if m.vocab is not None:
            self.head = nn.Linear(d, m.vocab, bias=False)
            if m.tied_embeddings and self.wte is not None:
                self.head.weight = self.wte.weight

    def _tables(self, s: int, device: torch.device) -> Any:
        hd = self.spec.model.head_dim
        if self.positional == "rotary":
            inv = 1.0 / (10000 ** (torch.arange(0, hd, 2, device=device).float() / hd))
            ang = torch.outer(torch.arange(s, device=device).float(), inv)
            ang = torch.cat((ang, ang), dim=-1)
            return ang.cos(), ang.sin()
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.shape[1]
        h = self.wte(x) if self.wte is not None else x
        if self.wpe is not None:
            h = h + self.wpe(torch.arange(s, device=h.device))
        elif self.positional == "sinusoidal":
            d = h.shape[-1]
            pos = torch.arange(s, device=h.device).float()[:, None]
            div = torch.exp(torch.arange(0, d, 2, device=h.device).float() * (-math.log(1e4) / d))
            pe = torch.cat((torch.sin(pos * div), torch.cos(pos * div)), dim=-1)
            h = h + pe
        h = self.drop(h)
        rope = self._tables(s, h.device)
        for blk in self.blocks:
            if self.training and self.spec.train.checkpointing:
                from torch.utils.checkpoint import checkpoint

                h = checkpoint(blk, h, rope, use_reentrant=False)
            else:
                h = blk(h, rope)
        h = self.ln_f(h)
        return self.head(h) if self.head is not None else h  # type: ignore[no-any-return]


class RecurrentLM(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        cell = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[m.family]
        self.tokens = m.input == "tokens"
        self.emb = nn.Embedding(m.vocab or 1000, m.d_model) if self.tokens else None
        self.rnn = cell(
            m.d_model,
            m.hidden_size,
            m.layers,
            batch_first=True,
            bidirectional=m.bidirectional,
            dropout=spec.train.dropout if m.layers > 1 else 0.0,
        )
        out = m.hidden_size * (2 if m.bidirectional else 1)
        self.head = nn.Linear(out, m.vocab) if m.vocab is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x) if self.emb is not None else x
        y, _ = self.rnn(h)
        return self.head(y) if self.head is not None else y  # type: ignore[no-any-return]


class ConvStack(nn.Module):
    """1-D convolution stack (CNN: centred padding; TCN: causal left padding)."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        self.tokens = m.input == "tokens"
        chans = m.channel_list()
        c_in = m.d_model if self.tokens else (m.in_channels or m.d_model)
        self.emb = nn.Embedding(m.vocab or 1000, c_in) if self.tokens else None
        self.causal = m.family == "tcn" or m.padding == "causal"
        self.convs = nn.ModuleList()
        self.pads: list[tuple[int, int]] = []
        for k, dil, st, c in zip(
            m.kernel_list(), m.dilation_list(), m.stride_list(), chans, strict=True
        ):
            total = dil * (k - 1)
            if m.padding == "valid":
                pad = (0, 0)
            elif isinstance(m.padding, int) and not isinstance(m.padding, bool):
                pad = (m.padding, m.padding)
            elif self.causal:
                pad = (total, 0)
            else:
                pad = (total // 2, total - total // 2)
            self.pads.append(pad)
            self.convs.append(nn.Conv1d(c_in, c, k, stride=st, dilation=dil))
            c_in = c
        self.drop = nn.Dropout(spec.train.dropout)
        self.head = nn.Linear(c_in, m.vocab) if m.vocab is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x).transpose(1, 2) if self.emb is not None else x.transpose(1, 2)
        for conv, pad in zip(self.convs, self.pads, strict=True):
            h = self.drop(F.relu(conv(F.pad(h, pad))))
        h = h.transpose(1, 2)
        return self.head(h) if self.head is not None else h


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
        self.fc = nn.Linear(c_in, m.classes or 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(h.mean(dim=(2, 3)))  # type: ignore[no-any-return]


def build(spec: Spec) -> nn.Module:
    """The reference model for `spec` (used when spec.model.factory is unset)."""
    m = spec.model
    if m.input == "image":
        return ResNet(spec)
    if m.family in RECURRENT:
        return RecurrentLM(spec)
    if m.family in ("cnn", "tcn"):
        return ConvStack(spec)
    return Transformer(spec)
