"""ARC212 `budget-from-mean-length`: The budget's `max_n` sits near the mean length while the P90
length exceeds it.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC212`, docs/rules/ARC212.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ._lengths import _read_lengths
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC212", "budget-from-mean-length", severity="warning", concern="pitfalls")
def mean_length(ctx: RuleContext) -> Iterator[Violation]:
    """The budget's `max_n` sits near the mean length while the P90 length exceeds it.

    ## What it does
    From [data] lengths (inline statistics, or a lengths file as for ARC208), reports when P90
    exceeds `max_n`: the budget was set for a typical sequence, and at least one in ten
    sequences is longer. Without `[data] lengths`, the lengths a real run saw are used when the
    model has a training log (`<model name>.run.json`, written by `pytest_archcheck.runlog`).

    ## Why is this bad?
    If P90 is twice the mean, attention memory at P90 is four times the budgeted figure; the
    long tail either crashes or is silently truncated.

    ## Example
    ```toml
    [budget]
    max_n = 512
    [data]
    lengths = { mean = 480, p90 = 1100 }
    ```

    ## Use instead
    Set `max_n` from P90 or the maximum, and budget memory there.

    ## References
    - The article's pitfall list: "只用平均 n 估算成本会踩坑：P90 若是 2 倍，注意力显存就是 4 倍".
    """
    lengths, max_n = ctx.spec.data.lengths, ctx.spec.budget.max_n
    if max_n is None:
        return
    mean: float | None
    p90: int | None
    source = ""
    if lengths is None:  # the lengths a real run saw (runlog/), when it left a training log
        run = ctx.run_log
        if run is None or isinstance(run, Exception) or not run.lengths:
            return
        p90, mean, source = run.length_percentile(90), None, f" in the run ({run.path})"
    elif isinstance(lengths, str):
        data = _read_lengths(ctx, lengths)
        if isinstance(data, Exception):  # ARC208 reports it
            return
        p90, mean = data.percentile(90), data.mean
    else:
        p90, mean = lengths.p90, lengths.mean
    if p90 is not None and p90 > max_n:
        ratio = (p90 / max_n) ** 2
        shown = f" (mean {mean:g})" if mean is not None else ""
        yield Violation(
            f"P90 length {p90}{shown}{source} exceeds max_n {max_n}: attention memory at P90 is "
            f"{ratio:.1f}× the budgeted figure",
            ("budget", "max_n"),
            fix=f"set max_n >= {p90} and budget memory there",
            data={"p90": p90, "max_n": max_n},
        )
