"""KV cache bytes for autoregressive inference.

Every layer caches one K and one V tensor of shape (batch, kv_heads, n, head_dim):

    bytes = 2 * layers * batch * kv_heads * n * head_dim * dtype_bytes

(Pope et al. 2022, "Efficiently Scaling Transformer Inference", arXiv:2211.05102, §2). Llama-2-7B
in fp16 caches 2 * 32 * 32 * 128 * 2 = 524,288 B per token. The article's
`B * h * n * d_k * 2 bytes` omits the factor 2 (K and V) and the layer count: see docs/errata.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .registry import formula

if TYPE_CHECKING:
    from ..spec.model import Spec


@formula(
    "kvcache.kv_cache",
    "bytes = 2 * layers * B * kv_heads * n * head_dim * dtype_bytes",
    "Pope et al. 2022, arXiv:2211.05102",
)
def kv_cache_bytes(
    layers: int, batch: int, kv_heads: int, n: int, head_dim: int, *, dtype_bytes: int
) -> int:
    """Bytes of the K and V cache of all layers holding n positions."""
    return 2 * layers * batch * kv_heads * n * head_dim * dtype_bytes


@formula(
    "kvcache.article",
    "bytes = B * h * n * d_k * dtype_bytes  (article: one tensor, one layer)",
    "source article (Chinese), KV cache section",
)
def article_kv_cache_bytes(batch: int, heads: int, n: int, d_k: int, dtype_bytes: int = 2) -> int:
    """The article's KV-cache figure: K (or V) of a single layer only. Kept for the errata."""
    return batch * heads * n * d_k * dtype_bytes


@formula(
    "kvcache.recurrent_state",
    "bytes = layers * dirs * B * hidden * (2 if lstm else 1) * dtype_bytes",
    "torch.nn.LSTM (h, c) / GRU, RNN (h)",
)
def recurrent_state_bytes(
    layers: int,
    batch: int,
    hidden: int,
    *,
    dtype_bytes: int,
    lstm: bool,
    bidirectional: bool = False,
) -> int:
    """Inference state of a recurrent model: h (and c for LSTM), constant in n."""
    return layers * (2 if bidirectional else 1) * batch * hidden * (2 if lstm else 1) * dtype_bytes


def kv_cache_positions(spec: Spec) -> int:
    """Positions the cache holds at the end of an [infer] call: prompt n + new_tokens."""
    return spec.infer_n + spec.infer.new_tokens


@formula(
    "memory.inference",
    "bytes = weights at [infer] dtype / tensor_parallel + KV cache",
    "states.inference_weights + kvcache.kv_cache",
)
def inference_bytes(weights: int, kv_cache: int | None) -> int:
    """Inference memory at the [infer] shape: the weights plus the KV cache (when one is kept)."""
    return weights + (kv_cache or 0)


def kv_cache_from_spec(spec: Spec) -> int | None:
    """KV-cache bytes at the [infer] shape from the spec's family unit (None: the family caches
    nothing, e.g. an encoder, which recomputes every position on each call)."""
    from ..families import family_of

    return family_of(spec).kv_cache(spec)
