"""ARC102 `max-n-does-not-fit`: The longest sequence `budget.max_n` does not fit the memory budget.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC102`, docs/rules/ARC102.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..units import format_bytes
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC102", "max-n-does-not-fit", concern="memory")
def max_n_fits(ctx: RuleContext) -> Iterator[Violation]:
    """The longest sequence `budget.max_n` does not fit the memory budget.

    ## What it does
    Finds `n_max`, the largest n (a multiple of `budget.granularity`, default 64) whose
    training-step peak at `train.batch` fits `budget.memory`, by exact integer search over the
    memory formula, and reports when `n_max < max_n`, naming the n that would fit.

    ## Why is this bad?
    Data pipelines cut or pad to `max_n`; the first batch that reaches it runs out of memory.
    Because attention memory grows with n², halving the batch is often not enough.

    ## Example
    ```toml
    [budget]
    max_n = 16384
    memory = "24 GiB"
    ```

    ## Use instead
    Set `max_n` to the reported `n_max`, or make longer sequences fit (flash attention,
    checkpointing, a smaller batch, sliding-window attention).

    ## References
    - The article's rule of thumb n_max ≈ sqrt(M / (B·h·bytes)) counts attention scores only;
      archcheck searches the full training-step formula.
    """
    b = ctx.spec.budget
    if b.memory is None or b.max_n is None:
        return
    searched = ctx.measured if ctx.measured is not None and ctx.measured.searched_n_max else None
    if searched is not None:
        n_max = searched.n_max
    elif "memory" in ctx.estimate.refused:
        return  # the formula does not model this peak: ARC307 says so
    elif ctx.estimate.memory.total <= b.memory:
        return  # the peak at max_n fits, so n_max >= max_n: no search needed
    else:
        n_max = ctx.estimate.n_max
    if n_max is None:
        yield Violation(
            f"not even n = {b.granularity} fits the memory budget {format_bytes(b.memory)} "
            f"at batch {ctx.spec.train.batch}",
            ("budget", "max_n"),
            fix="the model states alone may exceed the budget: shard them or use a larger device",
            data={"n_max": None},
        )
    elif n_max < b.max_n:
        yield Violation(
            f"max_n {b.max_n} does not fit the memory budget {format_bytes(b.memory)}"
            f"{_per_rank(ctx)} at batch "
            f"{ctx.spec.train.batch}: the longest n that fits is n_max = {n_max}"
            + (
                f" (found by {searched.probes} probes on {searched.device})"
                if searched is not None
                else " (formula)"
            ),
            ("budget", "max_n"),
            fix=f"set max_n = {n_max}, or reduce memory per token (checkpointing, flash attention)",
            data={"n_max": n_max},
        )


def _per_rank(ctx: RuleContext) -> str:
    """ " per rank (FSDP 8 x TP 2 (world 16))" under a parallel layout, else nothing."""
    from ..spec.parallel import layout_of

    lay = layout_of(ctx.spec)
    return f" per rank ({lay.describe()})" if lay.world_size > 1 else ""
