"""ARC208 `heavy-padding`: Padding every batch to `max_n` wastes more than `budget.max_padding` of
the tokens.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC208`, docs/rules/ARC208.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ._lengths import _padding_from_data, _read_lengths
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC208", "heavy-padding", severity="warning", concern="pitfalls")
def heavy_padding(ctx: RuleContext) -> Iterator[Violation]:
    """Padding every batch to `max_n` wastes more than `budget.max_padding` of the tokens.

    ## What it does
    From the lengths in [data], computes the fraction of padded tokens when every sequence is
    padded to `max_n` (1 − mean/max_n), and reports it when it exceeds `budget.max_padding`.
    With real lengths (`lengths = "lengths.json"`: a list, `{"lengths": [...]}` or
    `{"histogram": {"len": count}}`; a one-column CSV; a `.npy` array, never unpickled) it also
    reports P50/P90/max, the padding of random batches of `train.batch` each padded to its own
    longest sequence (simulated with a fixed seed), the padding with length bucketing (sorted,
    then batched), and the attention FLOPs (Σ over batches of B·L²) that bucketing saves. A
    `"module:callable"` returning lengths is evaluated only under `--probe`; a static run
    reports that it was not evaluated. An unreadable lengths file is reported here too.

    ## Why is this bad?
    Padded tokens cost full attention and FFN compute (attention quadratically), and leak into
    pooled outputs when masks are missing.

    ## Example
    ```toml
    [budget]
    max_n = 2048
    max_padding = 0.3
    [data]
    lengths = { mean = 300, p90 = 900, max = 2048 }
    ```

    ## Use instead
    Bucket sequences by length, or pack them.

    ## References
    - Krell et al. 2021, Efficient sequence packing: https://arxiv.org/abs/2107.02027
    """
    b, lengths = ctx.spec.budget, ctx.spec.data.lengths
    if isinstance(lengths, str):
        data = _read_lengths(ctx, lengths)
        if not isinstance(data, Exception):
            if b.max_padding is not None:
                yield from _padding_from_data(ctx, data, b.max_padding)
        else:
            yield Violation(data.message, ("data", "lengths"))
        return
    if b.max_padding is None or lengths is None or lengths.mean is None:
        return
    n = ctx.spec.budget_n
    ratio = max(0.0, 1.0 - lengths.mean / n)
    if ratio > b.max_padding:
        yield Violation(
            f"padding to n = {n} with mean length {lengths.mean:g} makes {ratio:.0%} of tokens "
            f"padding (allowed {b.max_padding:.0%})",
            ("budget", "max_padding"),
            fix="bucket batches by length or pack sequences",
            data={"padding_ratio": ratio},
        )
