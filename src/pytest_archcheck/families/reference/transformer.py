"""Reference Transformer (families/transformer.py describes its tensors and saved bytes).

GPT-2 style (learned positions, LayerNorm, GELU, biases, tied head), Llama style (RMSNorm,
SwiGLU, rotary, GQA, no biases, untied) and bidirectional encoders (causal = false, token-type
table, pooler, classifier head), all through F.scaled_dot_product_attention. Dropout
(spec.train.dropout) sits where GPT-2 puts it: after the embedding, on the attention
probabilities, after the attention projection and after the MLP.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...spec.model import Spec
from .._base import DEFAULT_VOCAB
from ..transformer import classes_head, lm_head, position_rows


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
        self.ln1 = _norm(m.norm, m.d_model, m.bias != "none")
        self.attn = Attention(spec)
        self.ln2 = _norm(m.norm, m.d_model, m.bias != "none")
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
        self.wte = nn.Embedding(m.vocab or DEFAULT_VOCAB, d) if self.tokens else None
        self.positional = m.positional
        self.wpe = nn.Embedding(position_rows(spec), d) if m.positional == "learned" else None
        self.tte = nn.Embedding(m.type_vocab, d) if m.type_vocab else None
        self.drop = nn.Dropout(spec.train.dropout)
        self.blocks = nn.ModuleList(Block(spec) for _ in range(m.layers))
        self.ln_f = _norm(m.norm, d, m.bias != "none")
        self.pooler = nn.Linear(d, d) if m.pooler else None
        self.head: nn.Linear | None = None
        self.classifier: nn.Linear | None = None
        if lm_head(spec):
            self.head = nn.Linear(d, m.vocab or DEFAULT_VOCAB, bias=False)
            if m.tied_embeddings and self.wte is not None:
                self.head.weight = self.wte.weight
        elif (c := classes_head(spec)) is not None:
            self.classifier = nn.Linear(d, c)

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
        if self.tte is not None:
            h = h + self.tte(torch.zeros(x.shape[:2], dtype=torch.long, device=h.device))
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
        if self.head is not None:
            return self.head(h)  # type: ignore[no-any-return]
        if self.pooler is not None:
            h = torch.tanh(self.pooler(h[:, 0]))
        elif self.classifier is not None:
            h = h[:, 0]
        return self.classifier(h) if self.classifier is not None else h
