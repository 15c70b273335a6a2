"""ARC211 `full-attention-beyond-kernel-threshold`: Full attention at n beyond what a materialising
kernel (or dense attention) handles.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC211`, docs/rules/ARC211.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from .context import RuleContext, Violation
from .registry import rule

EFFICIENT_KERNEL_THRESHOLD = 2048  # article: n <= 2048 full attention is acceptable
DENSE_ATTENTION_LIMIT = 8192  # article: n > 8192 needs sparse/linear attention


@rule("ARC211", "full-attention-beyond-kernel-threshold", severity="warning", concern="pitfalls")
def attention_kernel(ctx: RuleContext) -> Iterator[Violation]:
    """Full attention at n beyond what a materialising kernel (or dense attention) handles.

    ## What it does
    Flags full attention with `attention_kernel = "math"` (scores materialised) when
    n > 2048, and full attention of any kernel when n > 8192, the article's thresholds.

    ## Why is this bad?
    The math kernel stores B·h·n² scores per layer: at n = 4096, 8 heads and batch 2 that is
    512 MiB per layer in fp16 before softmax and dropout copies. Beyond 8192, even
    IO-aware kernels spend most time on n² work.

    ## Example
    ```toml
    [train]
    attention_kernel = "math"
    [budget]
    max_n = 4096
    ```

    ## Use instead
    `attention_kernel = "flash"` up to 8192; sliding-window, sparse or linear attention beyond.

    ## References
    - Dao et al. 2022, FlashAttention: https://arxiv.org/abs/2205.14135
    """
    m = ctx.spec.model
    if not family_of(ctx.spec).attention or m.attention != "full":
        return
    n = ctx.spec.budget_n
    if n > DENSE_ATTENTION_LIMIT:
        yield Violation(
            f"full attention at n = {n} > {DENSE_ATTENTION_LIMIT}: n² work dominates even with "
            "IO-aware kernels",
            ("model", "attention"),
            fix="use sliding-window, sparse or linear attention",
        )
    elif n > EFFICIENT_KERNEL_THRESHOLD and ctx.spec.train.attention_kernel == "math":
        yield Violation(
            f'attention_kernel = "math" materialises n² scores at n = {n} > '
            f"{EFFICIENT_KERNEL_THRESHOLD}",
            ("train", "attention_kernel"),
            fix='use attention_kernel = "flash" (or "efficient")',
        )
