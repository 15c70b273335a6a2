"""ARC106 `infer-memory-over-budget`: Inference memory (weights + KV cache + activations) exceeds
`budget.infer_memory`.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC106`, docs/rules/ARC106.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..units import format_bytes
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC106", "infer-memory-over-budget", concern="memory")
def infer_memory(ctx: RuleContext) -> Iterator[Violation]:
    """Inference memory (weights + KV cache + activations) exceeds `budget.infer_memory`.

    ## What it does
    Adds the weights in the inference dtype, the KV cache
    2·layers·batch·kv_heads·n·head_dim·bytes at the [infer] batch and n + new_tokens, and the
    largest live activation, and compares with `budget.infer_memory`.

    ## Why is this bad?
    The KV cache grows linearly with batch and context; serving that fits at n = 2k runs out of
    memory at 32k, after deployment.

    ## Example
    ```toml
    [infer]
    batch = 64
    seq_len = 32768
    [budget]
    infer_memory = "40 GiB"
    ```

    ## Use instead
    Grouped-query attention (fewer `kv_heads`), a smaller serving batch, or a shorter context.

    ## References
    - Pope et al. 2022, Efficiently Scaling Transformer Inference: https://arxiv.org/abs/2211.05102
    """
    budget = ctx.spec.budget.infer_memory
    if budget is None:
        return
    est = ctx.estimate
    total = est.infer_memory
    if total is not None and total > budget:
        yield Violation(
            f"inference memory {format_bytes(total)} (weights {format_bytes(est.infer_weights)}, "
            f"KV cache {format_bytes(est.kv_cache)}) exceeds budget {format_bytes(budget)}",
            ("budget", "infer_memory"),
            fix="use fewer kv_heads (GQA), a smaller infer.batch, or a shorter context",
            data={"infer_bytes": total},
        )
