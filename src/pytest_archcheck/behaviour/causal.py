"""ARC205: outputs at t of a causal model must not depend on inputs after t.

Two structural tests, both decided by exact zeros: (1) replace every input after t and require
outputs at positions <= t to be bit-identical (masked keys get weight exp(-inf) = 0, and 0 * v
adds nothing); (2) the gradient of the output at t with respect to inputs after t must be
exactly zero.

The incremental decoding path is tested when the model exposes one, meaning either
  * forward() accepts `past_key_values` and `use_cache` (Hugging Face style; the cache is read
    from the output's `past_key_values` attribute/key or its second element), or
  * the model has a `step(x_t, state) -> (y_t, state)` method (state None at t = 0, x_t is
    the input at t with a length-1 sequence axis).
Token-by-token outputs must match the full forward within relative 1e-9 (different summation
orders, float64); a mismatch means the full forward sees the future or the cache path is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..findings import Finding
from ..spec.model import Spec
from ._codes import Locations, finding
from ._harness import (
    Inputs,
    Leaves,
    accepts,
    call,
    first_tensor,
    is_causal,
    probe_mode,
    rel_diff,
    seq_view,
)

INCREMENTAL_TOL = 1e-9


def check_causality(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    n: int = 12,
    batch: int = 2,
    seed: int = 0,
) -> list[Finding]:
    """ARC205 by perturbation, gradient, and (when exposed) the incremental decoding path."""
    if not is_causal(spec):
        return []
    with probe_mode(model):
        inp = Inputs(spec, model, seed)
        ax = inp.seq_axis
        x = inp.make(batch, n)
        t = n // 2
        x2 = x.clone()
        tail = x2.narrow(ax, t + 1, n - t - 1)
        tail.copy_(inp.fresh_like(tail))
        with torch.no_grad():
            y1 = seq_view(first_tensor(call(model, x, spec)), batch, n)
            y2 = seq_view(first_tensor(call(model, x2, spec)), batch, n)
        if y1 is None or y2 is None:
            return []
        past1, past2 = y1[:, : t + 1], y2[:, : t + 1]
        changed = (past1 != past2).flatten(2).any(-1).any(0)
        leaked_at = [int(i) for i in torch.nonzero(changed).flatten()]
        reach: list[int] = []
        xg = x.clone()
        with Leaves(model, xg) as leaves:
            y = seq_view(first_tensor(call(model, xg, spec)), batch, n)
            if y is not None:
                support = leaves.grad_support(inp.random_sum(y[:, t]), ax, n)
                if support is not None:
                    future = support[:, t + 1 :].sum(0)
                    reach = [t + 1 + int(i) for i in torch.nonzero(future).flatten()]
        if not (leaked_at or reach):  # structurally causal: now test the decoding path
            return _incremental(model, spec, path, locations, x=x, full=y1)
        delta = float((past1 - past2).abs().max())
    parts = []
    if leaked_at:
        parts.append(
            f"outputs at positions {_span(leaked_at)} change (max |Δ| = {delta:.2e}) "
            f"when only inputs after position {t} change"
        )
    if reach:
        parts.append(
            f"the gradient of the output at {t} is nonzero at later positions {_span(reach)}"
        )
    return [
        finding(
            "ARC205",
            "; ".join(parts) + ": the model sees the future",
            path=path,
            model=spec.name,
            locations=locations,
            keys=("model.causal",),
            fix=(
                "mask attention causally (SDPA is_causal=True, or an (L, S) mask "
                "blocking keys j > i), pad convolutions on the left only, and use "
                "unidirectional recurrences; or set model.causal = false"
            ),
            data={"t": t, "perturbation_leaks": leaked_at, "gradient_leaks": reach},
        )
    ]


def _span(positions: list[int]) -> str:
    return str(positions[0]) if len(positions) == 1 else f"{positions[0]}..{positions[-1]}"


def _cache_of(out: Any) -> Any:
    if isinstance(out, Mapping):
        return out.get("past_key_values")
    cache = getattr(out, "past_key_values", None)
    if cache is None and isinstance(out, tuple) and len(out) > 1:
        cache = out[1]
    return cache


def _incremental(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None,
    *,
    x: Tensor,
    full: Tensor,
) -> list[Finding]:
    """Compare token-by-token decoding with the full forward (exposed paths only)."""
    batch, n = full.shape[0], full.shape[1]
    steps: list[Tensor] = []
    kind = ""
    with torch.no_grad():
        if accepts(model.forward, "past_key_values", "use_cache"):
            kind = "past_key_values"
            cache = None
            for t in range(n):
                kw: dict[str, Any] = {"use_cache": True}
                if cache is not None:
                    kw["past_key_values"] = cache
                out = model(x[:, t : t + 1], **kw)
                steps.append(first_tensor(out).reshape(batch, -1))
                cache = _cache_of(out)
        elif callable(getattr(model, "step", None)):
            kind = "step"
            state: Any = None
            step: Any = model.step
            for t in range(n):
                y_t, state = step(x[:, t : t + 1], state)
                steps.append(first_tensor(y_t).reshape(batch, -1))
        else:
            return []
    for t, y_t in enumerate(steps):
        diff = rel_diff(full[:, t].reshape(batch, -1), y_t)
        if diff > INCREMENTAL_TOL:
            return [
                finding(
                    "ARC205",
                    f"incremental decoding ({kind}) disagrees with the full forward at "
                    f"position {t} (relative difference {diff:.2e} > {INCREMENTAL_TOL:g}): "
                    "either the full forward sees the future or the cached path mis-handles "
                    "positions or the cache",
                    path=path,
                    model=spec.name,
                    locations=locations,
                    keys=("model.causal",),
                    fix="make step t of the cached path use position t and every cached key",
                    data={"path": kind, "t": t, "relative_difference": diff},
                )
            ]
    return []
