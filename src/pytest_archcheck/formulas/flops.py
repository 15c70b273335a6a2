"""Forward and training-step FLOPs per family.

Counting convention (that of `torch.utils.flop_counter`): only matrix products count, at
2 FLOPs per multiply-accumulate (MAC); biases, norms, activations, softmax and other elementwise
ops are ignored. A training step is forward + backward = 3 x forward (the backward of a matmul is
two matmuls: grad-input and grad-weight; Kaplan et al. 2020, arXiv:2001.08361, §2.1).

Transformer layer, per token-batch of T = B*n tokens, q_dim = h*hd, kv_dim = kv_heads*hd:
  projections 2*T*d*(q_dim + 2*kv_dim) + 2*T*q_dim*d; MLP 2*T*d*d_ff*(2 | 3 for swiglu);
  attention core (QK^T and AV) 2 * 2*B*h*n*n_k*hd, with n_k = n (full), halved when causal.
Plus the LM head 2*T*d*vocab. Embedding lookups are free.

Two conventions, `convention=`:
- "archcheck" (default, the design's): causal full attention counts half the score matrix;
  sliding windows count n*w pairs; training = 3 x forward everywhere.
- "flop_counter": what `torch.utils.flop_counter.FlopCounterMode` reports for SDPA
  (torch 2.13 `sdpa_flop`: "We aren't accounting for causal attention here"): the core counts the
  full n x n product even when causal or windowed (the masked math path computes it). With the
  flash/efficient kernels the SDPA backward counts 5 bmm against the forward's 2 (it recomputes
  QK^T), so the core costs 3.5 x forward in a training step; the math kernel decomposes into
  plain bmm and costs 3 x. Checked on an H100 (torch 2.11, bf16, B=2, n=128, d=64, h=4,
  d_ff=256, causal and not): flash/efficient 33,554,432 forward / 104,857,600 train, math
  33,554,432 / 100,663,296, equal to this convention.

What FlopCounterMode does not see: on CPU the fused `_scaled_dot_product_flash_attention_for_cpu`
has no formula (attention counts 0), and nn.LSTM/GRU/RNN (`aten.lstm`, `_cudnn_rnn`) count 0 on
CPU and CUDA (checked: torch 2.13 CPU, torch 2.11 CUDA). Compare recurrent probes with care.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .params import (
    GATES,
    MLPKind,
    RecurrentKind,
    kv_heads_and_head_dim,
)
from .registry import formula

if TYPE_CHECKING:
    from ..spec.model import Spec

Convention = Literal["archcheck", "flop_counter"]
AttentionKind = Literal["full", "sliding", "local", "linear"]
Kernel = Literal["flash", "efficient", "math"]
Padding = Literal["same", "causal", "valid"] | int


@dataclass(frozen=True)
class Flops:
    """FLOPs of one forward and one training step (forward + backward)."""

    forward: int
    train_step: int


@formula("flops.matmul", "F = 2*m*k*n", "torch.utils.flop_counter.mm_flop")
def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an (m x k) @ (k x n) product."""
    return 2 * m * k * n


@formula(
    "flops.attention_keys",
    "full n; sliding min(n, w) causal / min(n, 2w) bidirectional; local min(n, 2w) / min(n, 3w)",
    "Beltagy et al. 2020, arXiv:2004.05150; Roy et al. 2021 (local blocks)",
)
def attention_keys(n: int, attention: AttentionKind, window: int, causal: bool) -> int:
    """Keys each query is scored against.

    `window` w is how far one layer reaches in each direction it may look: sliding attention
    scores w keys back (and w forward when not causal); local attention splits the sequence into
    blocks of w and scores each block against itself and the previous block (and the next when
    not causal), computing whole blocks.
    """
    if attention in ("full", "linear") or window <= 0:
        return n
    sides = 1 if causal else 2
    if attention == "sliding":
        return min(n, sides * window)
    return min(n, (sides + 1) * window)


@formula(
    "flops.attention_core",
    "F = 2 * 2*B*h*n_q*n_k*hd  (QK^T + AV); causal full: /2",
    "Vaswani et al. 2017; torch.utils.flop_counter.sdpa_flop_count",
)
def attention_core_flops(
    batch: int, heads: int, n_q: int, n_k: int, head_dim: int, *, causal_half: bool = False
) -> int:
    """FLOPs of QK^T and softmax(S)V for all heads (GQA broadcasts K, V: same count)."""
    f = 2 * matmul_flops(batch * heads * n_q, head_dim, n_k)
    return f // 2 if causal_half else f


@formula(
    "flops.linear_attention_core",
    "F = 2 * 2*B*h*n*hd^2  (phi(K)^T V, then phi(Q) (K^T V))",
    "Katharopoulos et al. 2020, arXiv:2006.16236",
)
def linear_attention_core_flops(batch: int, heads: int, n: int, head_dim: int) -> int:
    """FLOPs of kernelised linear attention's two products per head."""
    return 2 * matmul_flops(batch * heads * n, head_dim, head_dim)


def _core(
    batch: int,
    n: int,
    heads: int,
    head_dim: int,
    *,
    attention: AttentionKind,
    window: int,
    causal: bool,
    convention: Convention,
) -> int:
    if attention == "linear":
        return linear_attention_core_flops(batch, heads, n, head_dim)
    if convention == "flop_counter":
        return attention_core_flops(batch, heads, n, n, head_dim)
    n_k = attention_keys(n, attention, window, causal)
    return attention_core_flops(batch, heads, n, n_k, head_dim, causal_half=causal and n_k == n)


def dense_flops(
    tokens: int, d_model: int, heads: int, kv_heads: int, head_dim: int, d_ff: int, mlp: MLPKind
) -> int:
    """FLOPs of one block's q/k/v/o projections and MLP over `tokens` tokens (no attention core)."""
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    proj = matmul_flops(tokens, d_model, q_dim + 2 * kv_dim) + matmul_flops(tokens, q_dim, d_model)
    ffn = matmul_flops(tokens, d_model, d_ff) * (3 if mlp == "swiglu" else 2)
    return proj + ffn


@formula(
    "flops.transformer_layer",
    "F = 2T*d*(q+2kv) + 2T*q*d + core + 2T*d*d_ff*(2|3)",
    "Kaplan et al. 2020, arXiv:2001.08361; torch.utils.flop_counter",
)
def transformer_layer_forward_flops(
    batch: int,
    n: int,
    d_model: int,
    heads: int,
    d_ff: int,
    *,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp: MLPKind = "gelu",
    attention: AttentionKind = "full",
    window: int = 0,
    causal: bool = True,
    convention: Convention = "archcheck",
) -> int:
    """Forward FLOPs of one block at batch x n (projections + attention core + MLP)."""
    kv, hd = kv_heads_and_head_dim(d_model, heads, kv_heads, head_dim)
    dense = dense_flops(batch * n, d_model, heads, kv, hd, d_ff, mlp)
    core = _core(
        batch, n, heads, hd, attention=attention, window=window, causal=causal,
        convention=convention,
    )  # fmt: skip
    return dense + core


@formula(
    "flops.transformer",
    "F_fwd = L*F_layer + 2*B*n*d*vocab; F_train = 3*F_fwd (flop_counter: core x3.5)",
    "Kaplan et al. 2020, arXiv:2001.08361",
)
def transformer_flops(
    layers: int,
    batch: int,
    n: int,
    d_model: int,
    heads: int,
    *,
    d_ff: int,
    vocab: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp: MLPKind = "gelu",
    attention: AttentionKind = "full",
    window: int = 0,
    causal: bool = True,
    convention: Convention = "archcheck",
    attention_kernel: Kernel = "flash",
) -> Flops:
    """Forward and training-step FLOPs of a Transformer LM at batch x n.

    `attention_kernel` matters only for the "flop_counter" convention (math: core x3 in training).
    """
    kv, hd = kv_heads_and_head_dim(d_model, heads, kv_heads, head_dim)
    # One layer = transformer_layer_forward_flops, kept in its two parts for the SDPA backward.
    dense = dense_flops(batch * n, d_model, heads, kv, hd, d_ff, mlp)
    core = _core(
        batch, n, heads, hd, attention=attention, window=window, causal=causal,
        convention=convention,
    )  # fmt: skip
    head = matmul_flops(batch * n, d_model, vocab) if vocab else 0
    forward = layers * (dense + core) + head
    if convention == "flop_counter" and attention != "linear" and attention_kernel != "math":
        cores = layers * core
        return Flops(forward, 3 * (forward - cores) + (7 * cores) // 2)
    return Flops(forward, 3 * forward)


@formula(
    "flops.transformer_decode_step",
    "F = L*(2B*d*(q+2kv) + 2B*q*d + 4B*h*ctx*hd + mlp) + 2B*d*vocab",
    "Pope et al. 2022, arXiv:2211.05102",
)
def transformer_decode_step_flops(
    layers: int,
    batch: int,
    context: int,
    d_model: int,
    heads: int,
    *,
    d_ff: int,
    vocab: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    mlp: MLPKind = "gelu",
) -> int:
    """FLOPs of generating one token per sequence with a KV cache holding `context` positions."""
    kv, hd = kv_heads_and_head_dim(d_model, heads, kv_heads, head_dim)
    dense = dense_flops(batch, d_model, heads, kv, hd, d_ff, mlp)
    core = attention_core_flops(batch, heads, 1, context, hd)
    head = matmul_flops(batch, d_model, vocab) if vocab else 0
    return layers * (dense + core) + head


@formula(
    "flops.recurrent",
    "F_fwd = B*n*Σ_l dirs*gates*2*(in_l + H)*H + 2*B*n*H*dirs*out; F_train = 3*F_fwd",
    "torch.nn.LSTM equations; LSTM 4 gates, GRU 3, RNN 1",
)
def recurrent_flops(
    kind: RecurrentKind,
    layers: int,
    batch: int,
    n: int,
    *,
    input_size: int,
    hidden: int,
    bidirectional: bool = False,
    head_out: int | None = None,
    pooled_head: bool = False,
) -> Flops:
    """Forward/training FLOPs of a stacked RNN/GRU/LSTM plus an output head at every step (or
    once per sample after pooling over time, `pooled_head`)."""
    g, dirs = GATES[kind], (2 if bidirectional else 1)
    per_step = 0
    for layer in range(layers):
        layer_in = input_size if layer == 0 else hidden * dirs
        per_step += dirs * g * matmul_flops(1, layer_in + hidden, hidden)
    head = matmul_flops(1, hidden * dirs, head_out) if head_out else 0
    forward = batch * n * per_step + batch * (1 if pooled_head else n) * head
    return Flops(forward, 3 * forward)


@formula(
    "flops.conv_output_length",
    "n_out = floor((n + pad - dil*(k-1) - 1)/s) + 1; same/causal pad = dil*(k-1)",
    "torch.nn.Conv1d shape formula",
)
def conv_output_length(
    n: int, kernel: int, stride: int = 1, dilation: int = 1, padding: Padding = "same"
) -> int:
    """Output positions of one convolution ("same" and "causal" pad dil*(k-1) in total)."""
    span = dilation * (kernel - 1)
    if padding in ("same", "causal"):
        pad = span
    elif padding == "valid":
        pad = 0
    else:
        pad = 2 * int(padding)
    return max(0, (n + pad - span - 1) // stride + 1)


@formula(
    "flops.conv_stack",
    "F_fwd = Σ_l 2*B*n_out_l^dims*c_in*c_out*k^dims + head; F_train = 3*F_fwd",
    "torch.utils.flop_counter.conv_flop_count",
)
def conv_stack_flops(
    batch: int,
    n: int,
    in_channels: int,
    channels: list[int],
    kernels: list[int],
    *,
    strides: list[int] | None = None,
    dilations: list[int] | None = None,
    padding: Padding = "same",
    head_out: int | None = None,
    dims: int = 1,
    pooled_head: bool = False,
) -> Flops:
    """FLOPs of a conv stack (dims=2: square images of side n) plus a Linear head.

    The head runs at every output position (per-token prediction) or once per sample when
    `pooled_head` (classification after global pooling).
    """
    strides = strides or [1] * len(channels)
    dilations = dilations or [1] * len(channels)
    forward, c_prev, length = 0, in_channels, n
    for c, k, s, dil in zip(channels, kernels, strides, dilations, strict=True):
        length = conv_output_length(length, k, s, dil, padding)
        forward += batch * 2 * length**dims * c_prev * c * k**dims
        c_prev = c
    if head_out:
        positions = 1 if pooled_head else length**dims
        forward += batch * matmul_flops(positions, c_prev, head_out)
    return Flops(forward, 3 * forward)


@formula("flops.article_rnn_macs", "MACs = n*d^2  (recurrent matrix only)", "source article")
def article_rnn_macs(n: int, d: int) -> int:
    """The article's RNN cost: n steps of one d x d matrix-vector product (MACs, not FLOPs)."""
    return n * d * d


@formula("flops.article_attention_macs", "MACs = n^2*d_k (one head, QK^T)", "source article")
def article_attention_macs(n: int, d_k: int) -> int:
    """The article's attention cost: the QK^T product of one head (MACs)."""
    return n * n * d_k


@formula("flops.article_ffn_macs", "MACs = 2*n*d*d_ff", "source article")
def article_ffn_macs(n: int, d: int, d_ff: int) -> int:
    """The article's FFN cost: two n x d x d_ff products (MACs)."""
    return 2 * n * d * d_ff


def flops_from_spec(
    spec: Spec, n: int | None = None, batch: int | None = None, convention: Convention = "archcheck"
) -> Flops:
    """FLOPs at the [train] shape (n defaults to the family's training n, batch to [train]
    batch): the family unit wires spec fields into the formulas above."""
    from ..families import family_of

    fam = family_of(spec)
    n = n if n is not None else fam.train_n(spec)
    b = batch if batch is not None else spec.train.batch
    return fam.flops(spec, n, b, convention)
