"""ARC207 `bptt-shorter-than-span`: Truncated BPTT length is shorter than the required dependency
span.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC207`, docs/rules/ARC207.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC207", "bptt-shorter-than-span", concern="span")
def bptt_span(ctx: RuleContext) -> Iterator[Violation]:
    """Truncated BPTT length is shorter than the required dependency span.

    ## What it does
    For RNN/LSTM/GRU specs, compares `train.bptt` (the truncation length) with `budget.span`.
    Gradients never flow further back than the truncation length, so that is the span the
    model can be trained to use.

    ## Why is this bad?
    With bptt = 35 the loss at step t gets no gradient from inputs before t − 35: a dependency
    of 256 steps cannot be learned, however large the hidden state.

    ## Example
    ```toml
    [model]
    family = "lstm"
    [train]
    bptt = 35
    [budget]
    span = 256
    ```

    ## Use instead
    `bptt >= span` (memory grows linearly with it), or an architecture with a shorter path.

    ## References
    - Williams & Peng 1990, truncated BPTT; Zaremba et al. 2014: https://arxiv.org/abs/1409.2329
    """
    t, span = ctx.spec.train, ctx.spec.budget.span
    recurrent = family_of(ctx.spec).recurrent
    if recurrent and t.bptt is not None and span is not None and t.bptt < span:
        yield Violation(
            f"bptt {t.bptt} truncates gradients before span {span}: dependencies longer than "
            f"{t.bptt} steps cannot be learned",
            ("train", "bptt"),
            fix=f"set bptt >= {span}",
            data={"bptt": t.bptt, "span": span},
        )
