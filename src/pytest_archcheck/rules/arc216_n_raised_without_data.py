"""ARC216 `n-raised-without-data`: The longest sequence grew since the previous version of the
model, and the training data did not grow with it.

One file per rule, as in ruff: the decorated function is the rule's static check, and its
docstring is the rule's docs page (`archcheck rule ARC216`, docs/rules/ARC216.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from ..spec.model import PreviousData
from .context import RuleContext, Violation
from .registry import rule

PREVIOUS = ("data", "previous")


@dataclass(frozen=True)
class _Previous:
    """What the previous version declared: its n, its data size, and where that was read."""

    n: int
    samples: int | None
    tokens: int | None
    source: str  # "inline" or the spec file's path as the user wrote it


@rule("ARC216", "n-raised-without-data", severity="warning", concern="pitfalls")
def n_raised_without_data(ctx: RuleContext) -> Iterator[Violation]:
    """The longest sequence grew since the previous version of the model, and the training
    data did not grow with it.

    ## What it does
    With `[data] previous` -- the spec file of the previous version of the model (relative to
    the spec's folder; the one the data was sized for, e.g. a copy of the last trained spec),
    or its figures inline as `{ max_n = …, samples = …, tokens = … }` -- compares the budget n
    (`budget.max_n`, else `train.seq_len`) with the previous one. When n grew by a factor r and
    the data (`[data] tokens` when both versions give it, else `[data] samples`) grew by less
    than r, it reports both pairs of numbers: old n → new n, data then and now.

    When both versions declare neither `tokens` nor `samples`, the rule cannot compare them and
    says so (at `data.previous`) instead of staying silent. A previous spec that cannot be read
    or validated is reported the same way, with the reason.

    This is a heuristic, from the article's pitfall list ("把 `n` 翻倍但不增加数据量时，模型
    容易过拟合且显存激增": doubling n without more data overfits and blows up memory), with
    "in proportion" as the line: at r times the length, the positions, position pairs and
    long-range patterns the model has to fit grow at least r-fold, so r times the data keeps
    the examples per pattern where they were. It does not say the longer model cannot be
    trained, only that the previous run's data no longer supports it.

    ## Why is this bad?
    A longer context adds parameters to fit (a longer positional table), attention patterns
    over more distances, and a quadratic attention cost, while the training set holds the
    same number of examples: the model memorises what it cannot generalise, and the memory
    bought for the longer n is spent on overfitting.

    ## Example
    ```toml
    [budget]
    max_n = 2048            # was 1024
    [data]
    samples = 50_000        # as before
    previous = "v1.archcheck.toml"   # max_n = 1024, samples = 50_000
    ```

    ## Use instead
    Grow the data with n (here to at least 100,000 samples), keep the previous n, or bucket
    by length so that the longer n is used only by the sequences that need it.

    ## References
    - The article's pitfalls: "把 `n` 翻倍但不增加数据量时，模型容易过拟合且显存激增".
    - Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (data must grow with
      the model's capacity): https://arxiv.org/abs/2203.15556
    """
    declared = ctx.spec.data.previous
    if declared is None:
        return
    prev = _previous(ctx, declared)
    if isinstance(prev, str):
        yield Violation(
            f"cannot read the previous version {declared!r}: {prev}",
            PREVIOUS,
            fix="point [data] previous at the previous spec file, or write its figures inline "
            "as { max_n = …, samples = … }",
        )
        return
    new_n = ctx.spec.budget_n
    if new_n <= prev.n:
        return
    data = ctx.spec.data
    where = "inline" if prev.source == "inline" else prev.source
    if data.tokens is not None and prev.tokens is not None:
        what, old, new = "tokens", prev.tokens, data.tokens
    elif data.samples is not None and prev.samples is not None:
        what, old, new = "samples", prev.samples, data.samples
    else:
        yield Violation(
            f"n grew from {prev.n:,} ({where}) to {new_n:,}, but the data sizes cannot be "
            f"compared: the previous version gives samples {_v(prev.samples)}, tokens "
            f"{_v(prev.tokens)}; this one samples {_v(data.samples)}, tokens {_v(data.tokens)}",
            PREVIOUS,
            fix="declare [data] samples (or tokens) in both versions",
        )
        return
    ratio = new_n / prev.n
    # integers: new * old_n < old * new_n  <=>  new / old < new_n / old_n, without rounding
    if new * prev.n >= old * new_n:
        return
    needed = -(-old * new_n // prev.n)  # ceil(old * r)
    key = ("budget", "max_n") if ctx.spec.budget.max_n is not None else ("train", "seq_len")
    yield Violation(
        f"n raised {prev.n:,} -> {new_n:,} (x{ratio:.3g}) since the previous version ({where}) "
        f"while {what} went {old:,} -> {new:,} (x{new / old:.3g}): the longer model will "
        "overfit the same data (a heuristic from the article's pitfalls: doubling n without "
        "more data overfits)",
        key,
        fix=f"at least {needed:,} {what} for n {new_n:,}, or keep n {prev.n:,}",
        data={
            "previous_n": prev.n,
            "n": new_n,
            "measure": what,
            "previous": old,
            "now": new,
            "needed": needed,
            "source": where,
        },
    )


def _v(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def _previous(ctx: RuleContext, declared: str | PreviousData) -> _Previous | str:
    """The previous version's figures, or why they cannot be read."""
    if isinstance(declared, PreviousData):
        return _Previous(declared.max_n, declared.samples, declared.tokens, "inline")
    from ..deps import note_file
    from ..spec.load import load_spec_file

    path = os.path.join(os.path.dirname(ctx.loaded.path), declared)
    note_file(path)  # the static cache re-checks this spec when the previous one changes
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        return f"{type(exc).__name__}: {exc.strerror if isinstance(exc, OSError) else exc}"
    if os.path.abspath(path) == os.path.abspath(ctx.loaded.path):
        return "it is this spec itself"
    loaded = load_spec_file(text, path, ctx.loaded.settings, ctx.loaded.root)
    if loaded.spec is None:
        first = loaded.problems[0] if loaded.problems else None
        why = f"line {first.line}: {first.message}" if first is not None else "it is invalid"
        return f"it does not validate ({why})"
    old = loaded.spec
    return _Previous(old.budget_n, old.data.samples, old.data.tokens, declared)
