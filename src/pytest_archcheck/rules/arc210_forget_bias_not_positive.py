"""ARC210 `forget-bias-not-positive`: An LSTM with a long span declares a forget-gate bias that is
not positive.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC210`, docs/rules/ARC210.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC210", "forget-bias-not-positive", severity="warning", concern="pitfalls")
def forget_bias(ctx: RuleContext) -> Iterator[Violation]:
    """An LSTM with a long span declares a forget-gate bias that is not positive.

    ## What it does
    When `model.forget_bias` is declared for an LSTM and `budget.span` is long (> 100), reports
    a bias ≤ 0. Under `--probe` the initialised `bias_ih + bias_hh` of the forget gate is read
    from the model itself.

    ## Why is this bad?
    With f ≈ σ(0) = 0.5 the cell state halves every step (0.5^20 ≈ 1e-6); a bias of 1 starts
    training with f ≈ 0.73 and much longer memory.

    ## Example
    ```toml
    [model]
    family = "lstm"
    forget_bias = 0.0
    [budget]
    span = 200
    ```

    ## Use instead
    `forget_bias = 1.0` and initialise it in the factory.

    ## References
    - Jozefowicz et al. 2015, An Empirical Exploration of Recurrent Network Architectures: https://proceedings.mlr.press/v37/jozefowicz15.html
    - Gers et al. 2000, Learning to Forget
    """
    m, span = ctx.spec.model, ctx.spec.budget.span
    if (
        family_of(ctx.spec).has_forget_gate(ctx.spec)
        and m.forget_bias is not None
        and span is not None
        and span > 100
        and m.forget_bias <= 0
    ):
        yield Violation(
            f"forget-gate bias {m.forget_bias:g} with span {span}: σ({m.forget_bias:g}) = "
            f"{1 / (1 + 2.718281828 ** (-m.forget_bias)):.2f} per step forgets quickly",
            ("model", "forget_bias"),
            fix="initialise the forget-gate bias to 1.0",
        )
