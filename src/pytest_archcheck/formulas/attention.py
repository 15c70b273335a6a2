"""Attention-matrix, logits and the article's activation terms, in bytes.

The score matrix S = QK^T has B*h*n_q*n_k entries per layer. Only the "math" SDPA kernel
materialises it (and autograd keeps the softmax output for backward); FlashAttention (Dao et
al. 2022, arXiv:2205.14135) and the memory-efficient kernel (Rabe & Staats 2021,
arXiv:2112.05682) work in tiles and store O(n) statistics instead. How many copies of S the
math kernel keeps alive belongs to the family units (families/transformer.py); here is one copy.
"""

from __future__ import annotations

from typing import Literal

from .registry import formula

Kernel = Literal["flash", "efficient", "math"]


@formula(
    "attention.matrix",
    "bytes = B * h * n^2 * dtype_bytes",
    "source article; Vaswani et al. 2017",
)
def attention_matrix_bytes(batch: int, heads: int, n: int, dtype_bytes: int = 2) -> int:
    """Bytes of one layer's full n x n attention matrix (all heads): the article's formula."""
    return batch * heads * n * n * dtype_bytes


@formula(
    "attention.scores",
    "math: B * h * n_q * n_k * dtype_bytes; flash/efficient: 0",
    "arXiv:2205.14135; arXiv:2112.05682",
)
def attention_scores_bytes(
    batch: int,
    heads: int,
    n_q: int,
    n_k: int | None = None,
    *,
    dtype_bytes: int = 2,
    kernel: Kernel = "math",
) -> int:
    """Bytes of one materialised score matrix per layer; 0 for kernels that never store it.

    Masked (causal, sliding-window) math attention still allocates the full n_q x n_k matrix.
    """
    if kernel != "math":
        return 0
    return batch * heads * n_q * (n_q if n_k is None else n_k) * dtype_bytes


@formula(
    "attention.logits",
    "bytes = B * n * vocab * (compute_bytes + 4)",
    "torch.nn.functional.cross_entropy (fp32 log-softmax)",
)
def logits_bytes(batch: int, n: int, vocab: int, compute_bytes: int = 4) -> int:
    """Bytes of the LM logits plus the fp32 log-probabilities the loss keeps for backward.

    Convention: logits in the compute dtype (B*n*V*compute_bytes) and one fp32 copy
    (B*n*V*4) from `cross_entropy`'s log-softmax, which runs in fp32 under autocast and is saved
    for backward. fp32 training therefore books 8 B per logit, bf16/fp16 6 B.
    """
    return batch * n * vocab * (compute_bytes + 4)


@formula("attention.qkv_activations", "bytes = 3 * B * n * d * dtype_bytes", "source article")
def qkv_activation_bytes(batch: int, n: int, d_model: int, dtype_bytes: int = 2) -> int:
    """The article's Q/K/V activation term for one layer."""
    return 3 * batch * n * d_model * dtype_bytes


@formula("attention.ffn_activations", "bytes = B * n * d_ff * dtype_bytes", "source article")
def ffn_activation_bytes(batch: int, n: int, d_ff: int, dtype_bytes: int = 2) -> int:
    """The article's FFN hidden activation term for one layer."""
    return batch * n * d_ff * dtype_bytes


@formula(
    "attention.window_saving",
    "full / windowed = n^2 / (n*w) = n / w",
    "source article; Beltagy et al. 2020 (Longformer), arXiv:2004.05150",
)
def window_saving(n: int, window: int) -> float:
    """How many times fewer score entries a window of w keys per query needs than full attention."""
    return n / min(n, window)
