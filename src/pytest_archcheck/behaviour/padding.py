"""ARC206: padding must not change any output at a real token.

The probe right-pads each row by a different amount and then (a) appends more padding and,
when the model takes a 1 = keep mask through `mask_arg`, (b) replaces the tokens under the
mask's zeros with random ones. Outputs at real positions (or the whole output, when the model
pools over the sequence) must not move. This catches a missing key_padding_mask, a mask of the
wrong polarity, and pooling that averages pads. Right padding never leaks into a causal model's
real positions, so causal decoders pass by construction.

Margin: extra masked keys change reduction lengths, so "unchanged" is max relative difference
<= 1e-9 in float64 (rounding is ~1e-16; a leak moves outputs by ~1e-2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..findings import Finding
from ..spec.model import Spec
from ._codes import Locations, finding
from ._harness import Inputs, call, first_tensor, probe_mode, rel_diff, seq_view

PADDING_TOL = 1e-9


def padded_batch(inp: Inputs, batch: int, n: int) -> tuple[Tensor, Tensor, list[int]]:
    """Right-padded input, its 1 = keep mask (B, n) and the real length of each row."""
    x = inp.make(batch, n)
    lengths = [max(1, n - 3 - 2 * b) for b in range(batch)]
    keep = torch.zeros(batch, n, dtype=torch.long)
    for b, m in enumerate(lengths):
        keep[b, :m] = 1
    pad = inp.spec.model.pad_id
    if pad is not None and x.dtype == torch.long:
        x = x.masked_fill(keep == 0, pad)
    return x, keep, lengths


def check_padding(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    n: int = 12,
    batch: int = 2,
    extra: int = 4,
    seed: int = 0,
) -> list[Finding]:
    """ARC206: appended pads and changed masked tokens must leave real outputs unchanged."""
    pad, mask_arg = spec.model.pad_id, spec.model.mask_arg
    if spec.model.input != "tokens" and mask_arg is None:
        return []
    if pad is None and mask_arg is None:
        return []
    with probe_mode(model), torch.no_grad():
        inp = Inputs(spec, model, seed)
        x, keep, lengths = padded_batch(inp, batch, n)
        mask = keep if mask_arg else None
        base = first_tensor(call(model, x, spec, mask))
        b_seq = seq_view(base, batch, n)
        trials: list[tuple[str, Tensor, Tensor | None]] = []
        if x.dtype == torch.long and pad is not None:
            more = torch.full((batch, extra), pad, dtype=x.dtype)
        else:
            more = inp.fresh_like(x[:, :extra])
        trials.append(
            (
                f"appending {extra} pad tokens",
                torch.cat([x, more], 1),
                None if mask is None else torch.cat([mask, torch.zeros_like(mask[:, :extra])], 1),
            )
        )
        if mask_arg:
            swapped = torch.where(
                keep.bool().view(*keep.shape, *[1] * (x.dim() - 2)), x, inp.fresh_like(x)
            )
            trials.append((f"changing the tokens where {mask_arg} == 0", swapped, mask))
        worst: tuple[float, str, bool] | None = None
        for what, xt, mt in trials:
            out = first_tensor(call(model, xt, spec, mt))
            o_seq = seq_view(out, batch, xt.shape[1])
            if b_seq is not None and o_seq is not None:
                diff = max(rel_diff(b_seq[b, :m], o_seq[b, :m]) for b, m in enumerate(lengths))
                pooled = False
            else:
                diff, pooled = rel_diff(base, out), True
            if diff > PADDING_TOL and (worst is None or diff > worst[0]):
                worst = (diff, what, pooled)
    if worst is None:
        return []
    diff, what, pooled = worst
    source = f"{mask_arg} (1 = keep)" if mask_arg else f"tokens == pad_id ({pad})"
    if pooled:
        msg = (
            f"the pooled output changes by {diff:.2e} (relative) when {what}: the pooling "
            "averages padded positions"
        )
        fix = "pool with the mask: (h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)"
    else:
        msg = (
            f"outputs at real tokens change by {diff:.2e} (relative) when {what}: padding "
            "leaks into real positions"
        )
        fix = (
            f"build the padding mask from {source} and pass it to attention with the API's "
            "polarity (nn.MultiheadAttention key_padding_mask: True = pad; SDPA attn_mask: "
            "True = attend)"
        )
    return [
        finding(
            "ARC206",
            msg,
            path=path,
            model=spec.name,
            locations=locations,
            keys=("model.mask_arg", "model.pad_id"),
            fix=fix,
            data={"relative_difference": diff, "trial": what, "pooled": pooled},
        )
    ]
