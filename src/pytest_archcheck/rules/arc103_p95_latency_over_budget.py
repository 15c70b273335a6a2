"""ARC103 `p95-latency-over-budget`: Measured (or, without a probe, estimated) P95 inference
latency exceeds `budget.p95_latency`.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC103`, docs/rules/ARC103.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..units import format_seconds
from ._common import _sequential_bound
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC103", "p95-latency-over-budget", concern="latency")
def p95_latency(ctx: RuleContext) -> Iterator[Violation]:
    """Measured (or, without a probe, estimated) P95 inference latency exceeds `budget.p95_latency`.

    ## What it does
    Under `--probe` on a CPU or GPU, times at least 200 inference forwards at the [infer] shape
    after warm-up, with the device synchronised, and compares the 95th percentile with the
    budget. Without a measurement it uses the roofline estimate on `budget.device`, labelled as
    an estimate (sequential-bound models are reported as ARC105 instead).

    ## Why is this bad?
    A model that meets its accuracy target but misses the P95 target cannot ship; online
    services commonly require P95 < 200 ms.

    ## Example
    ```toml
    [infer]
    batch = 32
    seq_len = 4096
    [budget]
    p95_latency = "50 ms"
    ```

    ## Use instead
    Smaller inference batches, a KV cache, fewer sequential steps, or a faster device.

    ## References
    - Dean & Barroso 2013, The Tail at Scale: https://doi.org/10.1145/2408776.2408794
    """
    budget = ctx.spec.budget.p95_latency
    if budget is None:
        return
    p95 = ctx.measured.p95_s if ctx.measured is not None else None
    if p95 is not None:
        if p95 > budget:
            yield Violation(
                f"measured P95 latency {format_seconds(p95)} on {ctx.measured.latency_device if ctx.measured else None} "
                f"exceeds the budget {format_seconds(budget)}",
                ("budget", "p95_latency"),
                fix="reduce infer.batch or infer.seq_len, or use a faster device",
                data={"p95_s": p95},
            )
        return
    lat = ctx.estimate.latency
    if lat is not None and not _sequential_bound(ctx) and lat.seconds > budget:
        yield Violation(
            f"estimated latency {format_seconds(lat.seconds)} on {lat.device} (roofline, no "
            f"measurement) exceeds the P95 budget {format_seconds(budget)}",
            ("budget", "p95_latency"),
            fix="measure with --probe on the target device, or reduce the [infer] shape",
            data={"estimate_s": lat.seconds},
        )
