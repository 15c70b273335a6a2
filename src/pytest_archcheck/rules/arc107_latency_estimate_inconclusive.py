"""ARC107 `latency-estimate-inconclusive`: The latency estimate meets the P95 budget by less
than its own measured error, so without a measurement the budget is undecided.

One file per rule, as in ruff: the decorated function is the rule's static check, and its
docstring is the rule's docs page (`archcheck rule ARC107`, docs/rules/ARC107.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from ..formulas.devices import lookup_device
from ..formulas.latency import accuracy_for, eager_steps, latency_upper
from ..units import format_seconds
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC107", "latency-estimate-inconclusive", severity="warning", concern="latency")
def latency_inconclusive(ctx: RuleContext) -> Iterator[Violation]:
    """The latency estimate meets the P95 budget by less than its own measured error.

    ## What it does
    Without a latency measurement, takes the estimate that ARC103 and ARC105 compare with
    `budget.p95_latency` and, when it meets the budget, works out the largest P95 a clock has
    shown for such an estimate on this kind of device (`latency.upper` in the formulas page):
    the roofline at the lowest fraction of peak measured, plus the eager framework's largest
    measured per-step cost (Python, dispatch, kernel launches; an H200 ran a small
    Transformer's layers at about 0.5 ms each, 30x their roofline), times the largest P95/P50
    measured. When that bound exceeds the budget, the budget is undecided and this warns.

    ## Why is this bad?
    A roofline is a lower bound for big kernels and says nothing about the hundreds of small
    ones an eager forward launches: a static "pass" on a budget within the estimate's error
    is a guess. A latency gate that passes models which miss their target is worse than none.

    ## Example
    ```toml
    [infer]
    batch = 1
    seq_len = 896
    new_tokens = 128   # 128 decode steps x 12 layers, each paying the eager per-step cost
    [budget]
    device = "H100-80GB"
    p95_latency = "100 ms"
    ```

    ## Use instead
    Measure it: `archcheck check --probe` on the target device times the model (ARC103 then
    reads the clock), or calibrate a CPU host (`archcheck calibrate`) for a tighter estimate;
    or give the budget the headroom the estimate needs.

    ## References
    - Williams, Waterman & Patterson 2009, Roofline: https://doi.org/10.1145/1498765.1498785
    - Chowdhery et al. 2022, PaLM, Table 3 (model FLOPs utilisation): https://arxiv.org/abs/2204.02311
    - the measured tables: docs/benchmarks.md, "Latency estimate versus a clock"
    """
    budget = ctx.spec.budget.p95_latency
    if budget is None or (ctx.measured is not None and ctx.measured.p95_s is not None):
        return
    lat = ctx.estimate.latency
    if lat is None or lat.seconds > budget:
        return  # ARC103 / ARC105 report an estimate over the budget
    device = lookup_device(ctx.spec.budget.device or lat.device, ctx.spec.project_devices)
    # the op-by-op row's evidence is one forward (the prefill); decode steps on a CPU measured
    # 0.46-1.53 of their estimate (benchmarks/latency_decode_cpu.py): the wider row for them
    unit = family_of(ctx.spec)
    accuracy = accuracy_for(
        device, lat.ops > 0 and ctx.spec.infer.new_tokens == 0, unit.convolutional
    )
    m = ctx.spec.model
    steps = eager_steps(lat.sequential_steps, unit.recurrent, m.layers, ctx.spec.infer.new_tokens)
    upper = latency_upper(lat.seconds, steps, accuracy)
    if upper <= budget:
        return
    yield Violation(
        f"estimated latency {format_seconds(lat.seconds)} on {lat.device} meets the P95 budget "
        f"{format_seconds(budget)}, but clocks on this kind of device have shown up to "
        f"{format_seconds(upper)} for such an estimate (latency.upper: roofline at "
        f"{accuracy.roofline_ratio:g} of peak, {format_seconds(accuracy.step_s)} per eager step, "
        f"P95/P50 {accuracy.p95_over_p50:g}): the budget is undecided without a measurement",
        ("budget", "p95_latency"),
        fix="measure it with `archcheck check --probe` on the target device, or calibrate the "
        "host (`archcheck calibrate`)",
        data={"estimate_s": lat.seconds, "upper_s": upper, "budget_s": budget},
    )
