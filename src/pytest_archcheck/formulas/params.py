"""Exact parameter counts: Transformers (GPT-2 / Llama / Qwen2 style), RNN/GRU/LSTM, conv stacks.

Conventions (each matches the reference implementation named):

- Linear d_in -> d_out: d_in*d_out weights (+ d_out bias). LayerNorm: weight + bias (2d);
  with `bias="none"` LayerNorm has no bias (d), as nanoGPT `bias=False` and
  `nn.TransformerEncoderLayer(bias=False)`. RMSNorm: weight only (d).
- Attention (GQA): q and o are d_model x heads*head_dim, k and v are d_model x kv_heads*head_dim.
  Bias modes: "all" every linear (GPT-2), "none" (Llama), "qkv" only q, k, v (Qwen2).
- MLP: gelu/relu two matrices d->d_ff->d; swiglu three matrices (gate, up, down) of d x d_ff.
- Positions: "learned" adds (max_positions + position_offset) x d_model (RoBERTa's offset is 2);
  sinusoidal, rotary, alibi, relative and none add no parameters (relative biases, e.g. T5's
  bucket table, are not counted: document it in the spec if yours has them).
- LM head: d_model x vocab with no bias (GPT-2, Llama, Qwen2), free when tied to the embedding.
- A final norm follows the last block (pre-norm models); post-norm encoders (BERT) instead
  normalise the embeddings: the same 2d parameters, counted as `final_norm`.
- BERT-style extras: a token-type table (type_vocab x d) and a pooler Linear d -> d with bias;
  BertModel has no LM head (`head = "none"`). BERT-base = 109,482,240.
- Shared (tied) tensors count once, as `sum(p.numel() for p in model.parameters())` does.

These closed forms document the counts and are checked against real implementations (torch's
own modules, Hugging Face configurations). What `estimate` prints is `params.from_shapes` over
the family unit's tensor list (families/*.py `param_shapes`), the one source of parameter counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Literal

from .memo import per_spec
from .registry import formula

if TYPE_CHECKING:
    from ..spec.model import Spec

BiasMode = Literal["all", "none", "qkv"]
MLPKind = Literal["gelu", "relu", "swiglu"]
NormKind = Literal["layernorm", "rmsnorm"]
Positional = Literal["learned", "sinusoidal", "rotary", "alibi", "relative", "none"]
RecurrentKind = Literal["rnn", "gru", "lstm"]
Shape = tuple[int, ...]

GATES: dict[str, int] = {"rnn": 1, "gru": 3, "lstm": 4}


def kv_heads_and_head_dim(
    d_model: int, heads: int, kv_heads: int | None, head_dim: int | None
) -> tuple[int, int]:
    """(kv_heads, head_dim) with the defaults every Transformer formula uses: kv_heads = heads
    (no grouped-query attention) and head_dim = d_model // heads."""
    kv = kv_heads if kv_heads is not None else heads
    hd = head_dim if head_dim is not None else d_model // heads
    return kv, hd


# --- building blocks ---------------------------------------------------------------------------


@formula("params.linear", "P = d_in*d_out + (d_out if bias)", "torch.nn.Linear")
def linear_params(d_in: int, d_out: int, bias: bool) -> int:
    """Parameters of a Linear layer: d_in*d_out + d_out if it has a bias."""
    return d_in * d_out + (d_out if bias else 0)


@formula("params.norm", "LayerNorm 2d (d without bias); RMSNorm d", "torch.nn.LayerNorm, RMSNorm")
def norm_params(d: int, norm: NormKind, bias: bool = True) -> int:
    """Parameters of one normalisation layer over d features."""
    if norm == "rmsnorm":
        return d
    return 2 * d if bias else d


@formula(
    "params.attention",
    "P = 2*d*h*hd + 2*d*kv*hd + biases(q:h*hd, k,v:kv*hd, o:d)",
    "GQA: Ainslie et al. 2023, arXiv:2305.13245",
)
def attention_params(
    d_model: int, heads: int, kv_heads: int, head_dim: int, bias: BiasMode = "all"
) -> int:
    """Parameters of one (grouped-query) attention block: q, k, v, o projections."""
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    qkv_bias = bias in ("all", "qkv")
    return (
        linear_params(d_model, q_dim, qkv_bias)
        + 2 * linear_params(d_model, kv_dim, qkv_bias)
        + linear_params(q_dim, d_model, bias == "all")
    )


@formula(
    "params.mlp",
    "gelu/relu: 2*d*d_ff (+ d_ff + d); swiglu: 3*d*d_ff (+ 2*d_ff + d)",
    "SwiGLU: Shazeer 2020, arXiv:2002.05202",
)
def mlp_params(d_model: int, d_ff: int, mlp: MLPKind = "gelu", bias: BiasMode = "all") -> int:
    """Parameters of one feed-forward block (biases only with `bias="all"`)."""
    b = bias == "all"
    up = linear_params(d_model, d_ff, b)
    down = linear_params(d_ff, d_model, b)
    return up + down + (up if mlp == "swiglu" else 0)


@formula("params.embedding", "P = vocab*d", "torch.nn.Embedding")
def embedding_params(vocab: int, d_model: int) -> int:
    """Parameters of a token embedding table."""
    return vocab * d_model


@formula(
    "params.positions",
    "learned: (max_positions + offset)*d; sinusoidal/rotary/alibi/relative/none: 0",
    "GPT-2 wpe; RoBERTa padding offset",
)
def position_params(
    positional: Positional, max_positions: int | None, d_model: int, offset: int = 0
) -> int:
    """Parameters of the position table (only learned positions have one)."""
    if positional != "learned":
        return 0
    if max_positions is None:
        raise ValueError("learned positions need max_positions")
    return (max_positions + offset) * d_model


# --- Transformer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransformerParams:
    """Parameter count of a Transformer, by part (each an exact integer)."""

    embedding: int
    positions: int
    per_layer: int
    layers: int
    final_norm: int
    lm_head: int
    token_types: int = 0
    pooler: int = 0

    @property
    def blocks(self) -> int:
        return self.per_layer * self.layers

    @property
    def total(self) -> int:
        return (
            self.embedding
            + self.positions
            + self.token_types
            + self.blocks
            + self.final_norm
            + self.lm_head
            + self.pooler
        )

    @property
    def non_embedding(self) -> int:
        """Parameters that every token's forward touches: blocks + final norm (+ untied head)."""
        return self.blocks + self.final_norm + self.lm_head + self.pooler


@formula(
    "params.transformer_layer",
    "P_layer = attention + mlp + 2*norm",
    "Vaswani et al. 2017; Radford et al. 2019 (GPT-2); Touvron et al. 2023 (Llama 2)",
)
def transformer_layer_params(
    d_model: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    d_ff: int,
    *,
    mlp: MLPKind = "gelu",
    norm: NormKind = "layernorm",
    bias: BiasMode = "all",
) -> int:
    """Parameters of one pre-norm block: attention, MLP and two norms."""
    return (
        attention_params(d_model, heads, kv_heads, head_dim, bias)
        + mlp_params(d_model, d_ff, mlp, bias)
        + 2 * norm_params(d_model, norm, bias != "none")
    )


@formula(
    "params.transformer",
    "P = vocab*d + pos + L*P_layer + norm + (0 if tied else d*vocab)",
    "GPT-2 small = 124,439,808; Llama-2-7B = 6,738,415,616",
)
def transformer_param_breakdown(
    layers: int,
    d_model: int,
    heads: int,
    d_ff: int,
    vocab: int | None,
    *,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp: MLPKind = "gelu",
    norm: NormKind = "layernorm",
    bias: BiasMode = "all",
    tied: bool = True,
    positional: Positional = "learned",
    max_positions: int | None = None,
    position_offset: int = 0,
    head_out: int | None = None,
    type_vocab: int = 0,
    pooler: bool = False,
    lm_head: bool = True,
) -> TransformerParams:
    """Exact Transformer parameters by part.

    `vocab=None` means the model takes embeddings (no table, no LM head); `head_out` then adds a
    classifier d_model -> head_out with a bias. `lm_head=False` drops the LM head of a vocab
    model (BertModel), `head_out` then still adds a classifier.
    """
    kv, hd = kv_heads_and_head_dim(d_model, heads, kv_heads, head_dim)
    emb = embedding_params(vocab, d_model) if vocab else 0
    if vocab and lm_head:
        head = 0 if tied else linear_params(d_model, vocab, bias=False)
    elif head_out:
        head = linear_params(d_model, head_out, bias=True)
    else:
        head = 0
    return TransformerParams(
        embedding=emb,
        positions=position_params(positional, max_positions, d_model, position_offset),
        per_layer=transformer_layer_params(
            d_model, heads, kv, hd, d_ff, mlp=mlp, norm=norm, bias=bias
        ),
        layers=layers,
        final_norm=norm_params(d_model, norm, bias != "none"),
        lm_head=head,
        token_types=type_vocab * d_model,
        pooler=linear_params(d_model, d_model, True) if pooler else 0,
    )


def transformer_params(
    layers: int,
    d_model: int,
    heads: int,
    d_ff: int,
    vocab: int | None,
    *,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp: MLPKind = "gelu",
    norm: NormKind = "layernorm",
    bias: BiasMode = "all",
    tied: bool = True,
    positional: Positional = "learned",
    max_positions: int | None = None,
    position_offset: int = 0,
    head_out: int | None = None,
    type_vocab: int = 0,
    pooler: bool = False,
    lm_head: bool = True,
) -> int:
    """Total Transformer parameters (see `transformer_param_breakdown`)."""
    return transformer_param_breakdown(
        layers, d_model, heads, d_ff, vocab, kv_heads=kv_heads, head_dim=head_dim, mlp=mlp,
        norm=norm, bias=bias, tied=tied, positional=positional, max_positions=max_positions,
        position_offset=position_offset, head_out=head_out, type_vocab=type_vocab,
        pooler=pooler, lm_head=lm_head,
    ).total  # fmt: skip


# --- recurrent ---------------------------------------------------------------------------------


@formula(
    "params.recurrent_layer",
    "P = dirs * gates*(hidden*(input + hidden) + 2*hidden)",
    "torch.nn.LSTM/GRU/RNN parameter layout (weight_ih, weight_hh, bias_ih, bias_hh)",
)
def recurrent_layer_params(
    kind: RecurrentKind,
    input_size: int,
    hidden: int,
    *,
    bidirectional: bool = False,
    bias: bool = True,
) -> int:
    """Parameters of one recurrent layer (all directions); LSTM 4 gates, GRU 3, RNN 1."""
    g = GATES[kind]
    per_dir = g * hidden * (input_size + hidden) + (2 * g * hidden if bias else 0)
    return per_dir * (2 if bidirectional else 1)


@formula(
    "params.recurrent",
    "P = vocab*d + Σ_l layer(input_l) + head(hidden*dirs -> vocab, bias); input_l>0 = hidden*dirs",
    "torch.nn.LSTM; Zaremba et al. 2014, arXiv:1409.2329",
)
def recurrent_params(
    kind: RecurrentKind,
    layers: int,
    input_size: int,
    hidden: int,
    *,
    bidirectional: bool = False,
    bias: bool = True,
    vocab: int | None = None,
    head_out: int | None = None,
    tied: bool = True,
) -> int:
    """Embedding (vocab x input_size) + stacked recurrent layers + output head with a bias.

    The head maps hidden*dirs to `head_out` (default: vocab). It is tied to the embedding when
    `tied` and the shapes allow it (hidden*dirs == input_size and head_out == vocab): then only
    its bias counts.
    """
    dirs = 2 if bidirectional else 1
    total = embedding_params(vocab, input_size) if vocab else 0
    for layer in range(layers):
        layer_in = input_size if layer == 0 else hidden * dirs
        total += recurrent_layer_params(
            kind, layer_in, hidden, bidirectional=bidirectional, bias=bias
        )
    out = head_out if head_out is not None else vocab
    if out:
        can_tie = tied and vocab is not None and out == vocab and hidden * dirs == input_size
        total += out if can_tie else linear_params(hidden * dirs, out, True)
    return total


# --- convolutional -----------------------------------------------------------------------------


@formula(
    "params.conv",
    "P = c_out*c_in*k^dims + c_out (bias)",
    "torch.nn.Conv1d / Conv2d",
)
def conv_params(c_in: int, c_out: int, kernel: int, bias: bool = True, dims: int = 1) -> int:
    """Parameters of one convolution (dims=1: Conv1d, dims=2: square Conv2d kernel)."""
    return c_out * c_in * prod([kernel] * dims) + (c_out if bias else 0)


@formula(
    "params.conv_stack",
    "P = vocab*d + Σ_l conv(c_{l-1}, c_l, k_l) + head(c_L -> out, bias)",
    "torch.nn.Conv1d; Bai et al. 2018 (TCN), arXiv:1803.01271",
)
def conv_stack_params(
    in_channels: int,
    channels: list[int],
    kernels: list[int],
    *,
    bias: bool = True,
    vocab: int | None = None,
    head_out: int | None = None,
    tied: bool = True,
    dims: int = 1,
) -> int:
    """Embedding (vocab x in_channels) + conv layers + a Linear head c_last -> out with a bias.

    The head is tied (only its bias counts) when `tied`, out == vocab and c_last == in_channels.
    """
    total = embedding_params(vocab, in_channels) if vocab else 0
    c_prev = in_channels
    for c, k in zip(channels, kernels, strict=True):
        total += conv_params(c_prev, c, k, bias, dims)
        c_prev = c
    out = head_out if head_out is not None else vocab
    if out:
        can_tie = tied and vocab is not None and out == vocab and c_prev == in_channels
        total += out if can_tie else linear_params(c_prev, out, True)
    return total


# --- spec adapters -----------------------------------------------------------------------------


def shapes_from_spec(spec: Spec) -> list[Shape]:
    """Parameter shapes of the spec's model: its family unit's reference layout
    (families/*.py `param_shapes`), the one source of parameter counts and of weight, gradient
    and optimizer bytes. A fresh list each call (callers may keep or change it)."""
    return list(_shapes(spec, None))


@per_spec(maxsize=256)
def _shapes(spec: Spec, _: None) -> tuple[Shape, ...]:
    """The shapes, walked once per spec object: one static check asks for them from the
    peak's model states, the parameter count and the latency formula."""
    from ..families import family_of

    return tuple(family_of(spec).param_shapes(spec))


@formula("params.from_shapes", "P = Σ_tensors prod(shape)", "sum(p.numel() for p in parameters())")
def shapes_total(shapes: list[Shape]) -> int:
    """Σ prod(shape): the parameter count of a list of shapes (shared tensors listed once)."""
    return sum(prod(s) for s in shapes)


def params_from_spec(spec: Spec) -> int:
    """Exact parameter count of the spec's model: Σ prod(shape) over its family's tensors."""
    return shapes_total(shapes_from_spec(spec))


def largest_layer_params_from_spec(spec: Spec) -> int:
    """Elements of the largest parameter tensor: DeepSpeed's `largest_layer_params` (approx.).

    DeepSpeed sums `parameters(recurse=False)` per module (a Linear's weight + bias); the largest
    tensor alone is within a bias vector of it.
    """
    return max(int(prod(s)) for s in shapes_from_spec(spec))
