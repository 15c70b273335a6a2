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
