"""ARC202 `positional-table-too-short`: A learned positional table has fewer rows than
`budget.max_n`.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC202`, docs/rules/ARC202.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC202", "positional-table-too-short", concern="pitfalls")
def positional_table(ctx: RuleContext) -> Iterator[Violation]:
    """A learned positional table has fewer rows than `budget.max_n`.

    ## What it does
    Compares `max_positions` (minus `position_offset`, e.g. RoBERTa's two reserved rows) of a
    learned table with `budget.max_n` (else `train.seq_len`) and the [infer] length. Under
    `--probe` it runs the model at `max_n` and turns the index error into this finding.

    ## Why is this bad?
    Position max_positions is out of range of the embedding table: the run crashes with an
    index error (on GPU an opaque device-side assert) at the first long sequence.

    ## Example
    ```toml
    [model]
    positional = "learned"
    max_positions = 512
    [budget]
    max_n = 1024
    ```

    ## Use instead
    `max_positions = 1024` (and train it), truncate inputs, or use rotary/ALiBi positions.

    ## References
    - Press et al. 2021, ALiBi (train short, test long): https://arxiv.org/abs/2108.12409
    """
    m = ctx.spec.model
    fam = family_of(ctx.spec)
    if not fam.attention or m.positional != "learned" or m.max_positions is None:
        return
    usable = m.max_positions - m.position_offset
    need = max(ctx.spec.budget_n, ctx.spec.infer.seq_len or 0)
    if ctx.spec.infer.seq_len:
        need = max(need, ctx.spec.infer.seq_len + ctx.spec.infer.new_tokens)
    if usable < need:
        yield Violation(
            f"learned positional table has {usable} usable rows but sequences reach n = {need}",
            ("model", "max_positions"),
            fix=f"set max_positions >= {need + m.position_offset} or cap max_n at {usable}",
            data={"rows": usable, "n": need},
        )
