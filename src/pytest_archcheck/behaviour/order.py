"""ARC201 (no order information) and ARC202 (positional table shorter than max_n).

ARC201 is a permutation-equivariance test: a model whose outputs permute exactly with its
input positions cannot tell one order from another. Self-attention without a positional signal
is such a model. The test applies to bidirectional models only: a causal mask is itself a
positional signal (position t sees t keys), so a causal decoder without positional encoding
still sees order and is skipped. The margin: a float64 forward reorders sums under a
permutation, so "exactly" means max relative difference <= 1e-9 (rounding is ~1e-16; any
positional encoding moves outputs by far more than 1e-6).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..findings import ArchcheckError, Finding
from ..spec.model import Spec
from ._codes import Locations, finding
from ._harness import Inputs, call, first_tensor, is_causal, probe_mode, rel_diff, seq_view

EQUIVARIANCE_TOL = 1e-9


def check_positional(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    n: int = 13,
    batch: int = 3,
    seed: int = 0,
) -> list[Finding]:
    """ARC201: do outputs permute exactly with the input positions? (bidirectional only)."""
    if spec.model.input == "image" or is_causal(spec):
        return []
    with probe_mode(model), torch.no_grad():
        inp = Inputs(spec, model, seed)
        x = inp.make(batch, n)
        perm = torch.randperm(n, generator=inp.gen)
        if torch.equal(perm, torch.arange(n)):
            perm = torch.roll(perm, 1)
        ax = inp.seq_axis
        xp = x.index_select(ax, perm)
        y = first_tensor(call(model, x, spec))
        yp = first_tensor(call(model, xp, spec))
        if torch.isnan(y).any():  # NaN outputs (a mask bug) prove nothing about order
            return []
        y_other = first_tensor(call(model, inp.fresh_like(x), spec))
        if rel_diff(y, y_other) <= EQUIVARIANCE_TOL:  # output ignores the input entirely
            return []
        ys, yps = seq_view(y, batch, n), seq_view(yp, batch, n)
        diff = rel_diff(y, yp) if ys is None or yps is None else rel_diff(ys[:, perm], yps)
        if diff > EQUIVARIANCE_TOL:
            return []
        same = x.index_select(0, torch.zeros(batch, dtype=torch.long))
        y_same = first_tensor(call(model, same, spec))
        batch_dependent = rel_diff(y_same[:1].expand_as(y_same), y_same) > EQUIVARIANCE_TOL
    msg = (
        f"outputs permute exactly with the input positions (max relative difference "
        f"{diff:.1e} <= {EQUIVARIANCE_TOL:g} under a random permutation of {n} positions): "
        f"the model cannot see token order"
    )
    fix = "add a positional encoding (sinusoidal, learned, rotary, ALiBi) along the sequence axis"
    if batch_dependent:
        msg += (
            "; identical sequences get different outputs at different batch indices, so a "
            "positional table is indexed along the batch axis (e.g. pe[:x.size(0)] on "
            "batch_first input)"
        )
        fix = "index the positional table by the sequence axis: x + pe[:x.size(1)] (batch_first)"
    return [
        finding(
            "ARC201",
            msg,
            path=path,
            model=spec.name,
            locations=locations,
            keys=("model.positional",),
            fix=fix,
            data={"max_relative_difference": diff, "batch_dependent": batch_dependent},
        )
    ]


_SIZE_RE = re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)")


def check_positional_table(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    n: int | None = None,
    seed: int = 0,
) -> list[Finding]:
    """ARC202: run one forward at n = max_n; a too-short positional table fails there.

    Runs in float32 with batch 1 (the question is whether indexing succeeds, not numerics).
    An nn.Embedding asked for a row it lacks is caught by a pre-hook that records the table's
    name and length; a sliced buffer (x + pe[:, :n]) surfaces as a size mismatch naming it.
    """
    n = n or spec.budget.max_n
    if n is None or spec.model.input == "image":
        return []
    overruns: list[tuple[str, int, int]] = []
    tables = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    looked_up: set[int] = set()

    def pre_hook(name: str) -> Callable[[nn.Embedding, tuple[torch.Tensor, ...]], None]:
        def hook(module: nn.Embedding, args: tuple[torch.Tensor, ...]) -> None:
            looked_up.add(id(module))
            idx = args[0] if args else None
            if isinstance(idx, torch.Tensor) and idx.numel():
                hi = int(idx.max())
                if hi >= module.num_embeddings:
                    overruns.append((name, module.num_embeddings, hi + 1))

        return hook

    handles = [
        m.register_forward_pre_hook(pre_hook(name))
        for name, m in model.named_modules()
        if isinstance(m, nn.Embedding)
    ]

    def enough(module: nn.Module, args: Any) -> None:
        # the second block is about to run: every table has been looked up and one whole
        # block has run at n, with what the stack does between blocks (a position bias inside
        # the blocks or added after each one): the rest of the stack and the head cannot fail
        # on a positional table (issue #18: gpt-small's check took 2.5 s, the head at
        # n = 1024 over 50,257 words the most of it)
        if len(looked_up) == len(tables):
            raise _Enough

    handles += [b.register_forward_pre_hook(enough) for b in second_blocks(model)]
    error: Exception | None = None
    try:
        with probe_mode(model, dtype=torch.float32), torch.no_grad():
            x = Inputs(spec, model, seed).make(1, n)
            try:
                call(model, x, spec)
            except _Enough:
                pass
            except (IndexError, RuntimeError, ValueError, AssertionError) as exc:
                error = exc
    finally:
        for h in handles:
            h.remove()
    if error is None:
        return []
    text = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    table: str | None = None
    length: int | None = None
    if overruns:
        table, length, _ = overruns[0]
    else:
        m = _SIZE_RE.search(str(error))
        if m and "index" not in str(error):
            sizes = sorted({int(m.group(1)), int(m.group(2))})
            length = sizes[0] if sizes[-1] == n else None
            if length is not None:
                table = _table_named(model, length)
        elif "index out of range" not in str(error) and "out of bounds" not in str(error):
            raise ArchcheckError(f"forward at n = {n} failed: {text}") from error
    where = f"positional table `{table}`" if table else "a positional table"
    rows = f" has {length} rows" if length is not None else " is shorter than n"
    return [
        finding(
            "ARC202",
            f"forward at n = max_n = {n} fails: {where}{rows} ({text})",
            path=path,
            model=spec.name,
            locations=locations,
            keys=("budget.max_n", "model.max_positions"),
            fix=(
                f"build the table with at least {n} rows (model.max_positions >= {n})"
                + (f", or lower budget.max_n to {length}" if length else "")
            ),
            data={"n": n, "table": table, "table_length": length, "error": text},
        )
    ]


class _Enough(Exception):
    """Raised from a hook to stop a forward whose remaining work cannot change the answer."""


def second_blocks(model: nn.Module) -> list[nn.Module]:
    """The second module of every stack of repeated blocks (an nn.ModuleList or nn.Sequential
    holding at least two modules of one class, with parameters): the Transformer layers of a
    decoder, of an encoder and of a decoder after it."""
    out: list[nn.Module] = []
    for m in model.modules():
        if not isinstance(m, nn.ModuleList | nn.Sequential):
            continue
        kids = list(m.children())
        repeated = len(kids) >= 2 and type(kids[0]) is type(kids[1])
        if repeated and any(True for _ in kids[0].parameters()):
            out.append(kids[1])
    return out


def _table_named(model: nn.Module, length: int) -> str | None:
    """A parameter or buffer with a dimension of `length`, preferring names that say 'pos'."""
    hits = [
        name for name, t in [*model.named_parameters(), *model.named_buffers()] if length in t.shape
    ]
    pos = [h for h in hits if "pos" in h.lower() or "pe" in h.lower().split(".")[-1]]
    found = pos or hits
    return found[0] if found else None
