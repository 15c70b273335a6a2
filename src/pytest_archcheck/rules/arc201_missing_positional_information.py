"""ARC201 `missing-positional-information`: A non-causal Transformer without positional information
cannot see token order.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC201`, docs/rules/ARC201.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC201", "missing-positional-information", concern="pitfalls")
def missing_positional(ctx: RuleContext) -> Iterator[Violation]:
    """A non-causal Transformer without positional information cannot see token order.

    ## What it does
    Statically flags `positional = "none"` on a bidirectional (non-causal) Transformer. Under
    `--probe` it also permutes the input sequence and checks whether the outputs permute
    exactly with it; a model that is permutation-equivariant cannot use order. Causal decoders
    are exempt: the causal mask itself leaks position (Haviv et al. 2022).

    ## Why is this bad?
    Self-attention is permutation-equivariant; without positional encodings the model treats
    the sequence as a bag of tokens, so "dog bites man" equals "man bites dog".

    ## Example
    ```toml
    [model]
    causal = false
    positional = "none"
    ```

    ## Use instead
    ```toml
    [model]
    causal = false
    positional = "sinusoidal"   # or learned / rotary / alibi / relative
    ```

    ## References
    - Vaswani et al. 2017, §3.5: https://arxiv.org/abs/1706.03762
    - Haviv et al. 2022, Transformer LMs without positional encodings still learn positional information: https://arxiv.org/abs/2203.16634
    """
    m = ctx.spec.model
    if (
        family_of(ctx.spec).attention  # attention alone is permutation-equivariant
        and not m.causal
        and m.positional == "none"
    ):
        yield Violation(
            'bidirectional Transformer with positional = "none" is permutation-equivariant: '
            "it cannot tell token order",
            ("model", "positional"),
            fix="add positional information (sinusoidal, learned, rotary, alibi or relative)",
        )
