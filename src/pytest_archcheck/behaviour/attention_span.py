"""Attention spans measured on a model: how far back (or around) its heads actually look.

The article's way to estimate the dependency span d of a task when no formula gives it: train
a small attention model on the data, measure its attention spans, then decide. Given a model and
a sample of real inputs, we record every head's attention weights and report, per layer and
head, the attention distance |t − s| below which 50 % and 90 % of the head's attention mass
falls (mass pooled over all queries of the sample). The P90 over heads is the suggested span.

Weights are read where the model exposes them, never by patching its maths:
- `torch.nn.MultiheadAttention`: a forward pre-hook asks for `need_weights=True,
  average_attn_weights=False` (per-head weights, the slow path that materialises them) and a
  forward hook records them;
- `transformers` models: `output_attentions=True` with eager attention, which returns every
  layer's (batch, heads, query, key) weights.
A model that exposes neither is refused with what to do. Runs under torch.no_grad, eval mode.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


class AttentionSpanError(Exception):
    """The model exposes no attention weights, or the sample cannot be fed to it."""


@dataclass(frozen=True)
class HeadSpan:
    layer: int
    head: int
    p50: int
    p90: int
    mean: float

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "head": self.head,
            "p50": self.p50,
            "p90": self.p90,
            "mean_distance": self.mean,
        }


def _mass_by_distance(weights: torch.Tensor) -> torch.Tensor:
    """(heads, n) attention mass at each distance |t − s|, summed over batch and queries, from
    weights of shape (batch, heads, query, key)."""
    _, h, nq, nk = weights.shape
    q = torch.arange(nq).view(nq, 1)
    k = torch.arange(nk).view(1, nk)
    dist = (q - k).abs()  # (nq, nk)
    w = weights.detach().to(torch.float64).sum(0)  # (heads, nq, nk)
    out = torch.zeros(h, max(nq, nk), dtype=torch.float64)
    out.scatter_add_(1, dist.reshape(1, -1).expand(h, -1), w.reshape(h, -1))
    return out


def _quantile(mass: torch.Tensor, q: float) -> int:
    """Smallest distance whose cumulative mass reaches q of the total."""
    cdf = mass.cumsum(0)
    total = float(cdf[-1])
    if total <= 0:
        return 0
    return int(torch.searchsorted(cdf, torch.tensor(q * total, dtype=cdf.dtype) * (1 - 1e-12)))


class _Recorder:
    """Per-module accumulated mass-by-distance, in the order modules first ran."""

    def __init__(self) -> None:
        self.mass: dict[int, torch.Tensor] = {}
        self.order: list[int] = []

    def add(self, key: int, weights: torch.Tensor) -> None:
        if weights.dim() != 4:
            return
        m = _mass_by_distance(weights)
        if key not in self.mass:
            self.mass[key] = m
            self.order.append(key)
        else:
            prev = self.mass[key]
            width = max(prev.shape[1], m.shape[1])
            grown = torch.zeros(prev.shape[0], width, dtype=torch.float64)
            grown[:, : prev.shape[1]] += prev
            grown[:, : m.shape[1]] += m
            self.mass[key] = grown


def _mha_hooks(model: nn.Module, rec: _Recorder) -> list[Any]:
    handles = []
    for i, mod in enumerate(m for m in model.modules() if isinstance(m, nn.MultiheadAttention)):

        def pre(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

        def post(module: nn.Module, args: Any, kwargs: Any, out: Any, key: int = i) -> None:
            if isinstance(out, tuple) and len(out) > 1 and isinstance(out[1], torch.Tensor):
                w = out[1]
                rec.add(key, w if w.dim() == 4 else w.unsqueeze(0))

        handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(mod.register_forward_hook(post, with_kwargs=True))
    return handles


def measure_spans(model: nn.Module, batches: list[Any]) -> list[HeadSpan]:
    """Per layer and head: P50/P90 attention distance over the sample `batches`."""
    rec = _Recorder()
    is_hf = hasattr(model, "config") and hasattr(model.config, "output_attentions")
    handles = [] if is_hf else _mha_hooks(model, rec)
    setter: Any = getattr(model, "set_attn_implementation", None)
    if is_hf and callable(setter):
        with contextlib.suppress(ValueError, AttributeError):
            setter("eager")  # sdpa/flash never return the weights
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x in batches:
                if is_hf:
                    out = model(x, output_attentions=True)
                    for layer, w in enumerate(getattr(out, "attentions", None) or ()):
                        if isinstance(w, torch.Tensor):
                            rec.add(layer, w)
                else:
                    model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not rec.mass:
        raise AttentionSpanError(
            "the model exposed no attention weights: archcheck reads them from "
            "torch.nn.MultiheadAttention modules and from transformers models "
            "(output_attentions); a custom attention must return its weights to be measured"
        )
    spans = []
    for layer, key in enumerate(rec.order):
        mass = rec.mass[key]
        for head in range(mass.shape[0]):
            m = mass[head]
            total = float(m.sum())
            mean = (
                float((m * torch.arange(m.numel(), dtype=m.dtype)).sum()) / total if total else 0.0
            )
            spans.append(HeadSpan(layer, head, _quantile(m, 0.5), _quantile(m, 0.9), mean))
    return spans


def suggested_span(spans: list[HeadSpan]) -> int:
    """The P90 over heads of each head's P90 distance (nearest rank)."""
    values = sorted(s.p90 for s in spans)
    return values[max(0, math.ceil(0.9 * len(values)) - 1)]


def measure_for_spec(spec: Any, data: str, batch: int, batches: int) -> dict[str, Any]:
    """In the isolated child: build the spec's model (its factory, or the family's reference
    module) and measure its heads on up to `batches` batches of real token sequences read from
    `data` (`.npy`, integers, never unpickled: (sequences, n), or one long stream cut into
    windows of the spec's n)."""
    import numpy as np

    from ..probe.build import build_model, resolve_n

    arr = np.load(data, allow_pickle=False)
    if arr.dtype.kind not in "iu":
        raise AttentionSpanError(f"{data}: expected token ids (integers), got dtype {arr.dtype}")
    n = resolve_n(spec, None)
    if arr.ndim == 1:
        usable = (arr.size // n) * n
        if usable == 0:
            raise AttentionSpanError(f"{data}: {arr.size} tokens, fewer than one window of {n}")
        arr = arr[:usable].reshape(-1, n)
    if arr.ndim != 2:
        raise AttentionSpanError(f"{data}: expected (sequences, n) token ids, got {arr.shape}")
    model = build_model(spec)
    chunks = [
        torch.as_tensor(arr[i : i + batch], dtype=torch.long)
        for i in range(0, min(len(arr), batch * batches), batch)
    ]
    spans = measure_spans(model, chunks)
    return {
        "heads": [s.to_json() for s in spans],
        "suggested_span": suggested_span(spans),
        "sequences": sum(len(c) for c in chunks),
        "n": int(arr.shape[1]),
    }
