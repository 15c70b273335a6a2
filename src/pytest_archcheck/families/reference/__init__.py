"""Reference `nn.Module`s of the family units (torch): what the probe builds when a spec names
no factory. Each is built from spec fields only, so that the unit's `param_shapes` and
`forward_saved` can describe exactly its tensors. Imported lazily by the units."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...spec.model import Spec

from .._base import DEFAULT_VOCAB


def synthetic_inputs(spec: Spec, n: int, batch: int, device: Any, width: int) -> tuple[Any, ...]:
    """Token ids (B, n), images (B, width, n, n), else batch-first features (B, n, width)."""
    import torch

    if spec.model.input == "tokens":
        return (torch.randint(0, spec.model.vocab or DEFAULT_VOCAB, (batch, n), device=device),)
    if spec.model.input == "image":
        return (torch.randn(batch, width, n, n, device=device),)
    return (torch.randn(batch, n, width, device=device),)


def seq2seq_inputs(
    spec: Spec, batch: int, source: tuple[int, ...], target: int, device: Any
) -> tuple[Any, ...]:
    """An encoder-decoder's batch as the transformers classes take it positionally
    (input_ids | input_features, attention_mask, decoder_input_ids): token ids (B, n) when
    `source` is (n,), else features (B, *source); no mask; target ids (B, target)."""
    import torch

    v = spec.model.vocab or DEFAULT_VOCAB
    if len(source) == 1:
        src = torch.randint(0, v, (batch, *source), device=device)
    else:
        src = torch.randn(batch, *source, device=device)
    return (src, None, torch.randint(0, v, (batch, target), device=device))
