"""Helpers shared by the latency rules (ARC103, ARC105)."""

from __future__ import annotations

from .context import RuleContext


def _sequential_bound(ctx: RuleContext) -> bool:
    """Latency dominated by steps that cannot run in parallel: RNN time steps or decoding."""
    from ..spec.model import RECURRENT

    return ctx.spec.model.family in RECURRENT or ctx.spec.infer.new_tokens > 0
