"""ARC105 `sequential-steps-exceed-latency`: The model's sequential steps alone make the P95
latency budget infeasible.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC105`, docs/rules/ARC105.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..units import format_seconds
from ._common import _sequential_bound
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC105", "sequential-steps-exceed-latency", concern="latency")
def sequential_latency(ctx: RuleContext) -> Iterator[Violation]:
    """The model's sequential steps alone make the P95 latency budget infeasible.

    ## What it does
    Multiplies the number of steps that must run one after another (n for RNN/LSTM/GRU, the
    layer count for CNNs and Transformers, plus one step per generated token) by the roofline
    time of each step on the budget's device, and reports when even that lower bound exceeds
    `budget.p95_latency`.

    ## Why is this bad?
    Sequential steps cannot be parallelised away: more GPUs shorten neither an RNN's 1,024
    time steps nor autoregressive decoding. If the bound misses the budget, no optimisation
    of the kernels will meet it.

    ## Example
    ```toml
    [model]
    family = "lstm"
    [infer]
    seq_len = 4096
    [budget]
    p95_latency = "20 ms"
    ```

    ## Use instead
    An architecture whose sequential steps do not grow with n (CNN, Transformer), shorter
    inputs, or fewer generated tokens.

    ## References
    - Vaswani et al. 2017, Table 1 (sequential operations): https://arxiv.org/abs/1706.03762
    """
    budget = ctx.spec.budget.p95_latency
    if budget is None or not _sequential_bound(ctx):
        return
    lat = ctx.estimate.latency
    if lat is not None and lat.seconds > budget:
        yield Violation(
            f"estimated latency {format_seconds(lat.seconds)} ({lat.sequential_steps} sequential "
            f"steps on {lat.device}) exceeds the P95 budget {format_seconds(budget)}",
            ("budget", "p95_latency"),
            fix="reduce sequential steps (shorter infer.seq_len / new_tokens, a parallel architecture)",
            data={"estimate_s": lat.seconds, "sequential_steps": lat.sequential_steps},
        )
