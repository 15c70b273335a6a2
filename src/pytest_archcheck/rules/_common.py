"""Helpers shared by the latency rules (ARC103, ARC105)."""

from __future__ import annotations

from ..families import family_of
from .context import RuleContext


def _sequential_bound(ctx: RuleContext) -> bool:
    """Latency dominated by steps that cannot run in parallel: RNN time steps or decoding."""
    return family_of(ctx.spec).recurrent or ctx.spec.infer.new_tokens > 0
