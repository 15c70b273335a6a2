"""Reference Transformer (families/transformer.py describes its tensors and saved bytes).

GPT-2 style (learned positions, LayerNorm, GELU, biases, tied head), Llama style (RMSNorm,
SwiGLU, rotary, GQA, no biases, untied) and bidirectional encoders (causal = false, token-type
table, pooler, classifier head), all through F.scaled_dot_product_attention. Dropout
(spec.train.dropout) sits where GPT-2 puts it: after the embedding, on the attention
probabilities (spec.train.attention_dropout when set), after the attention projection and
after the MLP.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...spec.model import Spec
from .._base import DEFAULT_VOCAB
from ..transformer import (
    bias_parts,
    classes_head,
    expert_width,
    gated,
    is_global_layer,
    lm_head,
    norms_per_layer,
    position_rows,
    rotary_concat,
    token_width,
    top_k,
)


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def _norm(spec: Spec, d: int) -> nn.Module:
    m = spec.model
    if m.norm == "rmsnorm":
        return RMSNorm(d, affine=m.norm_affine)
    return nn.LayerNorm(d, elementwise_affine=m.norm_affine, bias="norm" in bias_parts(m))


def _rotate(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, concat: bool = False
) -> torch.Tensor:
    if concat:  # `rotary_dim`: rotate the first r dims and concatenate the rest back, as
        # transformers' GPT-NeoX, Phi, Phi-3 and StableLM do (a new (b, h, s, hd) tensor)
        r = cos.shape[-1]
        return torch.cat((_rotate(x[..., :r], cos, sin), x[..., r:]), dim=-1)
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, spec: Spec, layer: int = 0) -> None:
        super().__init__()
        m = spec.model
        self.h, self.kv, self.hd = m.head_count, m.kv_head_count, m.head_dim
        parts = bias_parts(m)
        qkv_bias = "qkv" in parts
        self.fused = m.fused_projections
        if self.fused:
            self.qkv = nn.Linear(m.d_model, (self.h + 2 * self.kv) * self.hd, bias=qkv_bias)
        else:  # q_proj / k_proj / v_proj, as Llama, Mistral, Gemma and BERT build them
            self.q = nn.Linear(m.d_model, self.h * self.hd, bias=qkv_bias)
            self.k = nn.Linear(m.d_model, self.kv * self.hd, bias=qkv_bias)
            self.v = nn.Linear(m.d_model, self.kv * self.hd, bias=qkv_bias)
        self.proj = nn.Linear(self.h * self.hd, m.d_model, bias="out" in parts)
        self.concat, self.kv_repeat = rotary_concat(m), m.kv_repeat
        self.causal = m.causal
        # a `global_every` stack's global layers attend to every position (no band mask)
        self.window = 0 if is_global_layer(m, layer) else m.window
        self.p = spec.train.attn_dropout  # on the probabilities
        self.drop = nn.Dropout(spec.train.dropout)  # on the projection's output (residual)
        if m.causal_mask_buffer:  # GPT-2's buffers, held but unused (SDPA's is_causal masks)
            rows = position_rows(spec)
            tril = torch.tril(torch.ones((rows, rows), dtype=torch.bool))
            self.register_buffer("bias", tril.view(1, 1, rows, rows), persistent=False)
            self.register_buffer("masked_bias", torch.tensor(-1e4), persistent=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> Any:
        b, s, _ = x.shape
        if self.fused:
            q, k, v = self.qkv(x).split(
                [self.h * self.hd, self.kv * self.hd, self.kv * self.hd], -1
            )
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        q = q.view(b, s, self.h, self.hd).transpose(1, 2)
        k = k.view(b, s, self.kv, self.hd).transpose(1, 2)
        v = v.view(b, s, self.kv, self.hd).transpose(1, 2)
        if rope is not None:
            q, k = _rotate(q, *rope, self.concat), _rotate(k, *rope, self.concat)
        gqa = self.kv != self.h
        if gqa and self.kv_repeat:  # transformers' repeat_kv: k and v copied to every head
            k, v = (t[:, :, None].expand(b, self.kv, self.h // self.kv, s, self.hd) for t in (k, v))
            k, v = k.reshape(b, self.h, s, self.hd), v.reshape(b, self.h, s, self.hd)
            gqa = False
        mask = None
        if self.window and s > self.window:  # families.transformer.band_masked
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
            enable_gqa=gqa,
        )
        y = y.transpose(1, 2).reshape(b, s, self.h * self.hd)
        return self.drop(self.proj(y))


class _RecomputedGelu(torch.autograd.Function):
    """BLOOM's GeLUFunction (modeling_bloom.py): the tanh GELU saving its input only, its
    backward recomputing the tanh op by op (families.transformer.ACT_BACKWARD)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor = ctx.saved_tensors[0]
        tanh_out = torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x))
        ff = 0.5 * x * ((1 - tanh_out * tanh_out) * (0.79788456 + 0.1070322243 * x * x)) + 0.5 * (
            1 + tanh_out
        )
        return ff * g


class Decomposed(nn.Module):
    """transformers' elementwise GELU forms (activations.py), written as it writes them so
    that autograd saves the same intermediates (families.transformer.ACT_SAVED)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name == "gelu_recompute":
            return _RecomputedGelu.apply(x)  # type: ignore[no-any-return,no-untyped-call]
        if self.name == "gelu_new":
            inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))
            return 0.5 * x * (1.0 + torch.tanh(inner))
        if self.name == "gelu_fast":
            return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))
        if self.name == "quick_gelu":
            return x * torch.sigmoid(1.702 * x)
        return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))  # gelu_python


def _activation(m: Any) -> nn.Module:
    if m.activation == "silu":
        return nn.SiLU()
    if m.activation is not None:
        return Decomposed(m.activation)
    if m.mlp == "swiglu":
        return nn.SiLU()
    if m.mlp == "relu":
        return nn.ReLU()
    return nn.GELU(approximate="tanh") if m.mlp == "geglu" else nn.GELU()


class MLP(nn.Module):
    def __init__(self, spec: Spec, width: int | None = None, dropout: bool = True) -> None:
        super().__init__()
        m = spec.model
        f = m.ffn_dim if width is None else width
        bias = "mlp" in bias_parts(m)
        self.gated = gated(m)
        self.act = _activation(m)
        self.fused = m.fused_projections or not self.gated
        self.up = nn.Linear(m.d_model, (2 if self.gated and self.fused else 1) * f, bias=bias)
        if not self.fused:  # gate_proj beside up_proj (Llama's MLP)
            self.gate = nn.Linear(m.d_model, f, bias=bias)
        self.down = nn.Linear(f, m.d_model, bias=bias)
        self.drop = nn.Dropout(spec.train.dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            gate, up = self.up(x).chunk(2, dim=-1) if self.fused else (self.gate(x), self.up(x))
            h = self.act(gate) * up
        else:
            h = self.act(self.up(x))
        return self.drop(self.down(h))  # type: ignore[no-any-return]


class Experts(nn.Module):
    """A mixture of experts as transformers' sparse-MoE blocks compute it: router logits, an
    fp32 softmax, the top-k probabilities as routing weights; each expert runs on the tokens
    sent to it and its output, scaled by their weights, is added back (index_add); a shared
    expert, behind a sigmoid gate, runs on every token.

    Dispatch is static and balanced: token t's j-th slot goes to expert (t·k + j) mod experts.
    Real routing depends on the data, which a fake tensor has none of (the fake probe could not
    run); the bytes saved for backward do not depend on it (every token reaches k experts), and
    the routing weights still come from the router, so it is trained."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        assert m.experts is not None
        self.n, self.k = m.experts, top_k(m)
        self.router = nn.Linear(m.d_model, m.experts, bias=False)
        width = expert_width(m)
        self.experts = nn.ModuleList(MLP(spec, width, dropout=False) for _ in range(m.experts))
        self.shared = MLP(spec, m.shared_d_ff, dropout=False) if m.shared_d_ff else None
        self.gate = nn.Linear(m.d_model, 1, bias=False) if m.shared_gate else None
        self.drop = nn.Dropout(spec.train.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        tokens = flat.shape[0]
        probs = F.softmax(self.router(flat), dim=-1, dtype=torch.float)
        weights = probs.topk(self.k, dim=-1).values.to(x.dtype).reshape(-1)  # slot t·k + j
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            slots = list(range(e, tokens * self.k, self.n))
            if not slots:
                continue
            slot = torch.tensor(slots, device=x.device)
            tok = torch.div(slot, self.k, rounding_mode="floor")
            y = expert(flat.index_select(0, tok)) * weights.index_select(0, slot)[:, None]
            out = out.index_add(0, tok, y)
        if self.shared is not None:
            shared = self.shared(flat)
            if self.gate is not None:
                shared = shared * torch.sigmoid(self.gate(flat))
            out = out + shared
        return self.drop(out.reshape(x.shape))  # type: ignore[no-any-return]


class Block(nn.Module):
    def __init__(self, spec: Spec, layer: int = 0) -> None:
        super().__init__()
        m = spec.model
        # norms: 2 before attention and MLP (shared by both when 1 and parallel), 4 adds one
        # after each (Gemma-2's sandwich), 0 none
        k, self.parallel = norms_per_layer(m), m.parallel
        if k not in (0, 1, 2, 4) or (k == 1 and not m.parallel) or (k == 4 and m.parallel):
            raise NotImplementedError(
                f"the reference Transformer does not build layer_norms = {k}"
                f"{' with parallel = true' if m.parallel else ''}: set model.factory"
            )
        self.norms = nn.ModuleList(_norm(spec, m.d_model) for _ in range(k))
        self.attn = Attention(spec, layer)
        self.mlp: nn.Module = MLP(spec) if m.experts is None else Experts(spec)

    def _n(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.norms[i](x) if i < len(self.norms) else x

    def forward(self, x: torch.Tensor, rope: Any) -> torch.Tensor:
        if self.parallel:
            y = self._n(0, x)
            z = self._n(1, x) if len(self.norms) > 1 else y
            return x + self.attn(y, rope) + self.mlp(z)  # type: ignore[no-any-return]
        post = len(self.norms) == 4
        a = self.attn(self._n(0, x), rope)
        x = x + (self._n(2, a) if post else a)
        y = self.mlp(self._n(1, x))
        return x + (self._n(3, y) if post else y)


class Transformer(nn.Module):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        m = spec.model
        self.spec = spec
        d = m.d_model
        self.tokens = m.input == "tokens"
        self.vocab = m.vocab
        e = token_width(m)
        self.wte = nn.Embedding(m.vocab or DEFAULT_VOCAB, e) if self.tokens else None
        self.project_in = nn.Linear(e, d, bias=False) if self.tokens and e != d else None
        self.positional = m.positional
        self.wpe = nn.Embedding(position_rows(spec), d) if m.positional == "learned" else None
        self.tte = nn.Embedding(m.type_vocab, d) if m.type_vocab else None
        self.embed_norm = _norm(spec, d) if m.embed_norm else None
        self.drop = nn.Dropout(spec.train.emb_dropout)  # the embedding output
        self.blocks = nn.ModuleList(Block(spec, i) for i in range(m.layers))
        self.ln_f = _norm(spec, d) if m.final_norm else None
        self.project_out = nn.Linear(d, e, bias=False) if self.project_in is not None else None
        self.pooler = nn.Linear(d, d) if m.pooler else None
        self.head: nn.Linear | None = None
        self.classifier: nn.Linear | None = None
        if lm_head(spec):
            self.head = nn.Linear(e, m.vocab or DEFAULT_VOCAB, bias="head" in bias_parts(m))
            if m.tied_embeddings and self.wte is not None:
                self.head.weight = self.wte.weight
        elif (c := classes_head(spec)) is not None:
            self.classifier = nn.Linear(d, c)

    def _tables(self, s: int, device: torch.device) -> Any:
        hd = self.spec.model.rotary_dim or self.spec.model.head_dim
        if self.positional == "rotary":
            inv = 1.0 / (10000 ** (torch.arange(0, hd, 2, device=device).float() / hd))
            ang = torch.outer(torch.arange(s, device=device).float(), inv)
            ang = torch.cat((ang, ang), dim=-1)
            return ang.cos(), ang.sin()
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.shape[1]
        h = self.wte(x) if self.wte is not None else x
        if self.project_in is not None:
            h = self.project_in(h)
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
        if self.embed_norm is not None:
            h = self.embed_norm(h)
        h = self.drop(h)
        rope = self._tables(s, h.device)
        for blk in self.blocks:
            if self.training and self.spec.train.checkpointing:
                from torch.utils.checkpoint import checkpoint

                h = checkpoint(blk, h, rope, use_reentrant=False)
            else:
                h = blk(h, rope)
        if self.ln_f is not None:
            h = self.ln_f(h)
        if self.project_out is not None:
            h = self.project_out(h)
        if self.head is not None:
            logits = self.head(h)
            cap = self.spec.model.logit_softcap
            if cap is not None:  # Gemma-2's final_logit_softcapping
                logits = torch.tanh(logits / cap) * cap
            if self.spec.model.fp32_logits:  # GPT-J's lm_head(...).to(torch.float32)
                logits = logits.float()
            return logits  # type: ignore[no-any-return]
        if self.pooler is not None:
            h = torch.tanh(self.pooler(h[:, 0]))
        elif self.classifier is not None:
            h = h[:, 0]
        return self.classifier(h) if self.classifier is not None else h
