"""ARC101 `train-memory-over-budget`: Training-step peak memory per device exceeds `budget.memory`.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC101`, docs/rules/ARC101.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..formulas.sharding import smallest_fitting_change
from ..spec.parallel import layout_of
from ..units import format_bytes
from .context import RuleContext, Violation
from .registry import rule

# formula and measurement further apart than this: the message says which one was checked
APART = 0.05


@rule("ARC101", "train-memory-over-budget", concern="memory")
def train_memory(ctx: RuleContext) -> Iterator[Violation]:
    """Training-step peak memory per device exceeds `budget.memory`.

    ## What it does
    Computes the peak bytes of one training step (forward, backward, optimizer step) at
    `train.batch` × `budget.max_n` on one device: parameters, gradients, optimizer state
    (partitioned by ZeRO and tensor parallelism), activations kept for backward, attention
    scores when the kernel materialises them, and logits with the fp32 loss. Under `--probe`
    the measured peak replaces the formula.

    ## Why is this bad?
    The job runs out of memory on the cluster after it has queued and loaded data, typically
    at the first long batch, which costs hours rather than the seconds this check takes.

    ## Example
    ```toml
    [train]
    batch = 16
    [budget]
    max_n = 4096
    memory = "24 GiB"
    ```

    ## Use instead
    Lower the batch (with gradient accumulation), enable `checkpointing = true`, use
    `attention_kernel = "flash"`, or shard optimizer state with `zero_stage`.

    ## References
    - Korthikanti et al. 2022, Reducing Activation Recomputation: https://arxiv.org/abs/2205.05198
    - Rajbhandari et al. 2019, ZeRO: https://arxiv.org/abs/1910.02054
    """
    budget = ctx.spec.budget.memory
    if budget is None:
        return
    measured = ctx.measured.peak_bytes if ctx.measured is not None else None
    est = ctx.estimate
    refused = "memory" in est.refused
    if refused and measured is None:
        return  # the formula does not model this peak: ARC307 says so
    peak = measured if measured is not None else est.memory.total
    device = ctx.measured.device if ctx.measured is not None else None
    target = ctx.measured.target if ctx.measured is not None else None
    on = f"{device}, target {target}" if target else f"{device}"
    source = f"measured ({on})" if measured is not None else "estimated"
    if peak > budget:
        lay = layout_of(ctx.spec)
        if refused:  # measured; the formula has no breakdown to add
            label, detail, layout = "measured", "no formula estimate", None
        else:
            m = est.memory
            # what is alive where the peak falls (the parts add up to the formula's total)
            parts = ", ".join(f"{t.label} {format_bytes(t.value)}" for t in m.terms() if t.value)
            where = f"{m.phase} phase, target {m.target}"
            label = "formula" if measured is None else f"formula estimate {format_bytes(m.total)}"
            if measured is not None and m.total > 0 and abs(measured / m.total - 1) > APART:
                # the formula models the family's reference module; a factory's own code can
                # keep more or less (a hand-written RMSNorm saves its intermediates): say which
                # figure the budget was checked against, rather than leave two numbers
                label += (
                    f", {100 * (measured / m.total - 1):+.0f} % from the measurement: this "
                    "model's code differs from the family's reference, and the measured peak "
                    "is the one checked"
                )
            detail = f"{where}: {parts}"
            layout = m.layout
        per_rank = f" per rank ({layout or lay.describe()})" if lay.world_size > 1 else ""
        fix = "lower train.batch, set train.checkpointing = true, or shard with train.zero_stage"
        change = None
        if not refused and (lay.world_size > 1 or ctx.spec.train.parallel is not None):
            change = smallest_fitting_change(ctx.spec, est.n, ctx.spec.train.batch, budget)
        if change is not None:
            fix = f"smallest change that fits (formula): {change}"
        yield Violation(
            f"{source} training peak{per_rank} {format_bytes(peak)} exceeds memory budget "
            f"{format_bytes(budget)} at batch {ctx.spec.train.batch} × n {est.n} "
            f"({label}: {detail})",
            ("budget", "memory"),
            fix=fix,
            data={"peak_bytes": peak, "budget_bytes": budget},
        )
