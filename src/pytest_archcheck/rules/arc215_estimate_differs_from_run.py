"""ARC215 `estimate-differs-from-run`: The training log of a real run measured a peak more than
10 % away from the estimate at the same batch and length.

One file per rule, as in ruff: the decorated function is the rule's static check, and its
docstring is the rule's docs page (`archcheck rule ARC215`, docs/rules/ARC215.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..units import format_bytes
from .context import RuleContext, Violation
from .registry import rule

TOLERANCE = 0.10  # the estimate is a budget gate: off by more than this, the budget is not safe


@rule("ARC215", "estimate-differs-from-run", severity="warning", concern="memory")
def differs_from_run(ctx: RuleContext) -> Iterator[Violation]:
    """The training log of a real run measured a peak more than 10 % away from the estimate at
    the same batch and length.

    ## What it does
    Reads the run log next to the spec (`<model name>.run.json`, or `[data] run_log`), written
    by `pytest_archcheck.runlog.record_run`, `trainer_callback` or `lightning_callback` during
    a real training run: the peak memory torch measured (`torch.cuda.max_memory_allocated`, or
    torch's `MemTracker` on the CPU) and the batch and padded length of the step where it fell.
    It estimates the peak at that batch and length on the run's device kind (cpu or cuda) and
    reports a difference above 10 %, with both numbers. A log that cannot be read is reported
    too (the rule never ignores a broken log silently).

    ## Why is this bad?
    Every memory budget (ARC101, ARC102) rests on the estimate. If a real run disagrees, either
    the spec does not describe the model that was trained (another width, a different loss,
    checkpointing not declared) or the estimate misses something: the budget gate is then
    guarding the wrong number. The article: record the real peak in the training log and use
    it to decide.

    ## Example
    `gpt.run.json` says the run peaked at 22.1 GiB at batch 8 × n 1024 while the spec estimates
    17.0 GiB there: the spec leaves out the 50,257-token cross-entropy.

    ## Use instead
    Make the spec describe the trained model (widths, dtype, `checkpointing`, `loss`), or set
    the budget from the measured run; rerun the training log after a change.

    ## References
    - The article's best practices: "记录一次完整训练的峰值显存，而不是只看模型参数量" and
      "训练日志里固定记录 P90 n、峰值显存与吞吐".
    """
    run = ctx.run_log
    if run is None:
        return
    if isinstance(run, Exception):
        yield Violation(str(run), ("data", "run_log"), fix="rerun the training log writer")
        return
    from ..estimate import train_memory
    from ..runtime import target_for

    if "memory" in ctx.estimate.refused:
        return  # no estimate to compare (ARC307 says why)
    est = train_memory(ctx.spec, run.peak_n, run.peak_batch, target_for(ctx.spec, run.device))
    delta = est.total / run.peak_bytes - 1
    if abs(delta) <= TOLERANCE:
        return
    yield Violation(
        f"estimate {format_bytes(est.total)} at batch {run.peak_batch} × n {run.peak_n} "
        f"({run.device}), run peaked {format_bytes(run.peak_bytes)} ({run.path}): "
        f"{delta:+.1%}",
        ("model", "name"),
        fix="make the spec describe the trained model, or budget from the measured peak",
        data={"estimate": est.total, "run": run.peak_bytes, "delta": delta},
    )
