"""ARC214 `transformer-on-short-sequences`: A Transformer on short sequences with tens of
thousands of samples, where an LSTM or 1D CNN is the safer choice.

One file per rule, as in ruff: the decorated function is the rule's static check, and its
docstring is the rule's docs page (`archcheck rule ARC214`, docs/rules/ARC214.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from .context import RuleContext, Violation
from .registry import rule

SHORT_N = 128  # the article: "局部依赖（如 n<=128 的短文本分类）"
FEW_SAMPLES = 100_000  # the article: "训练集只有几万样本" (tens of thousands of samples)


@rule("ARC214", "transformer-on-short-sequences", severity="warning", concern="pitfalls")
def transformer_short_sequences(ctx: RuleContext) -> Iterator[Violation]:
    """A Transformer on short sequences with tens of thousands of samples, where an LSTM or
    1D CNN is the safer choice.

    ## What it does
    For a model with self-attention whose longest sequence (`budget.max_n`, else
    `train.seq_len`) is at most 128 and whose `[data] samples` is under 100,000, reports the
    article's counter-example. With a declared `budget.span` longer than n the rule stays silent
    (a span beyond a CNN's or LSTM's comfortable reach is what attention is for).

    A heuristic from the article's failure modes, not a law: the thresholds are its numbers
    ("n ≤ 128 short-text classification", "only tens of thousands of samples").

    ## Why is this bad?
    On short sequences every dependency is local: attention's one-step path between any two
    positions buys nothing an LSTM or a few convolution layers cannot reach, while its parameters
    and freedom overfit a small training set; the article's example is `n = 64` sentiment
    classification with tens of thousands of reviews, where validation accuracy drops.

    ## Example
    ```toml
    [model]
    family = "transformer"
    layers = 6
    d_model = 512
    [budget]
    max_n = 64
    [data]
    samples = 40_000
    ```

    ## Use instead
    An LSTM or a 1D CNN baseline first (`archcheck advise`); a Transformer when the data grows
    or the span does.

    ## References
    - The article, "反例/失败模式": "如果任务是局部依赖（如 n<=128 的短文本分类），Transformer
      反而可能因过强全局建模而过拟合，此时 LSTM/1D CNN 仍是更稳妥的选择".
    """
    samples = ctx.spec.data.samples
    if samples is None or samples >= FEW_SAMPLES or not family_of(ctx.spec).attention:
        return
    n = ctx.spec.budget_n
    span = ctx.spec.budget.span
    if n > SHORT_N or (span is not None and span > n):
        return
    yield Violation(
        f"Transformer on sequences of n = {n} (≤ {SHORT_N}) with {samples:,} samples "
        f"(< {FEW_SAMPLES:,}): every dependency is local, and {ctx.estimate.params:,} "
        "parameters overfit a training set this small",
        ("data", "samples"),
        fix="try an LSTM or a 1D CNN baseline first (archcheck advise)",
        data={"n": n, "samples": samples},
    )
