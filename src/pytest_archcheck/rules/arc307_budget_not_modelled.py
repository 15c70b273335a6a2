"""ARC307 `budget-not-modelled`: A budget needs a figure the formulas do not model for this
architecture; only a measurement can check it.

One file per rule, as in ruff: the decorated function is the rule's static check, and its
docstring is the rule's docs page (`archcheck rule ARC307`, docs/rules/ARC307.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from .context import RuleContext, Violation
from .registry import rule

# which budget keys need which figure (Family.not_modelled names the figures)
NEEDS: dict[str, tuple[str, ...]] = {
    "memory": ("memory", "max_n"),
    "kv_cache": ("infer_memory",),
}


@rule("ARC307", "budget-not-modelled", severity="warning", concern="config")
def budget_not_modelled(ctx: RuleContext) -> Iterator[Violation]:
    """A budget needs a figure the formulas do not model for this architecture; only a
    measurement can check it.

    ## What it does
    Some figures are not modelled by the static formulas for some specs: the training peak of
    an encoder-decoder with activation checkpointing, of BART or Whisper where the CPU runs the
    math attention kernel under autocast (attention dropout in bf16), of a Transformer class
    that computes attention itself, of a local/global stack whose windowed and global layers
    run different attention kernels (Gemma-2 on CUDA in bf16), of a ViT with `patch_norm`;
    and an encoder-decoder's KV cache. When the spec sets a budget that needs one of them (`budget.memory` or
    `budget.max_n` for the training peak, `budget.infer_memory` for the KV cache) and no
    measurement is at hand, archcheck reports this instead of a number: the budget is not
    checked statically. Under `archcheck check --probe` the measured training peak checks
    `budget.memory` (ARC101) and this finding is not reported for it.

    ## Why is this bad?
    A budget that no check can evaluate passes silently, which is what a budget gate must never
    do; an estimate borrowed from another architecture (a decoder-only formula for T5) would be
    a wrong number printed with confidence.

    ## Example
    ```toml
    [model]
    extends = "t5-small/config.json"
    [train]
    checkpointing = true
    [budget]
    memory = "24 GiB"
    ```

    ## Use instead
    Run the probe, which trains one step of the model itself (the transformers class for a
    config.json) on fake tensors: `archcheck check --probe`, or `archcheck probe SPEC --device
    fake`. Or remove the budget.

    ## References
    - docs/supported-architectures.md: what each architecture's formulas model.
    """
    if not ctx.estimate.refused:
        return
    b = ctx.spec.budget
    measured = ctx.measured is not None and ctx.measured.peak_bytes is not None
    for figure, exc in ctx.estimate.refused.items():
        if figure == "memory" and measured:
            continue
        keys = [k for k in NEEDS.get(figure, ()) if getattr(b, k) is not None]
        if keys:
            yield Violation(
                f"`budget.{keys[0]}` is not checked: {exc}",
                ("budget", keys[0]),
                fix=exc.fix,
            )
