"""The [data] lengths that ARC208 (heavy padding) and ARC212 (budget from the mean) both read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..families import family_of
from .context import RuleContext, Violation

if TYPE_CHECKING:
    from ..lengths import Lengths, LengthsError


def _read_lengths(ctx: RuleContext, ref: str) -> Lengths | LengthsError:
    """The [data] lengths a string names; callables only under --probe (a device is measured)."""
    from ..lengths import LengthsError, read_lengths

    try:
        return read_lengths(
            ref,
            Path(ctx.loaded.path).parent,
            ctx.loaded.root,
            evaluate_callables=ctx.measured is not None,
        )
    except LengthsError as exc:
        return exc


def _padding_from_data(ctx: RuleContext, data: Lengths, allowed: float) -> Iterator[Violation]:
    from ..lengths import padding_report
    from ..units import format_count

    m, n = ctx.spec.model, ctx.spec.budget_n
    attends = family_of(ctx.spec).attention
    per_pair = 4 * m.layers * m.head_count * m.head_dim if attends else None
    r = padding_report(data, n, ctx.spec.train.batch, flops_per_pair=per_pair)
    if r.pad_to_max_n <= allowed:
        return
    saved = (
        f" ({format_count(r.attention_flops_saved)} FLOPs per pass over the data)"
        if r.attention_flops_saved
        else ""
    )
    yield Violation(
        f"padding every batch to n = {n} makes {r.pad_to_max_n:.0%} of tokens padding (allowed "
        f"{allowed:.0%}); lengths P50 {r.p50}, P90 {r.p90}, max {r.max} over {r.sequences} "
        f"sequences; random batches of {r.batch} padded to their longest: "
        f"{r.random_batches:.0%}; length bucketing: {r.bucketed:.0%}, saving "
        f"{r.attention_saving:.0%} of attention cost{saved}",
        ("budget", "max_padding"),
        fix="bucket batches by length or pack sequences",
        data={"padding_ratio": r.pad_to_max_n, **r.to_json()},
    )
