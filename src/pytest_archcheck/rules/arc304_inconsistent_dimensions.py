"""ARC304 `inconsistent-dimensions`: Dimensions that no model can have (heads not dividing d_model,
and similar).

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC304`, docs/rules/ARC304.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from .context import RuleContext, Violation
from .registry import rule


@rule(
    "ARC304", "inconsistent-dimensions", concern="config", load_kinds=("inconsistent-dimensions",)
)
def inconsistent_dimensions(ctx: RuleContext) -> Iterator[Violation]:
    """Dimensions that no model can have (heads not dividing d_model, and similar).

    ## What it does
    Checks that `d_model` is divisible by `heads`, `heads` by `kv_heads` (grouped-query
    attention), that rotary embeddings get an even head dimension, that sliding or local
    attention has a `window`, that per-layer CNN lists match `layers`, that the inference shape
    fits the positional table, and that tensor parallelism divides the heads.

    ## Why is this bad?
    Such a spec describes a model that fails at construction; every number computed from it
    (parameters, memory, FLOPs) would be fiction.

    ## Example
    ```toml
    [model]
    d_model = 768
    heads = 10
    ```

    ## Use instead
    ```toml
    [model]
    d_model = 768
    heads = 12
    ```

    ## References
    - Ainslie et al. 2023, GQA: https://arxiv.org/abs/2305.13245
    """
    m, t = ctx.spec.model, ctx.spec.train
    if m.family == "transformer":
        if m.d_model % m.head_count:
            yield Violation(
                f"d_model {m.d_model} is not divisible by heads {m.head_count}",
                ("model", "heads"),
                fix="choose heads that divide d_model",
            )
        if m.kv_head_count > m.head_count:
            yield Violation(
                f"kv_heads {m.kv_head_count} exceeds heads {m.head_count}", ("model", "kv_heads")
            )
        elif m.head_count % m.kv_head_count:
            yield Violation(
                f"heads {m.head_count} is not a multiple of kv_heads {m.kv_head_count}",
                ("model", "kv_heads"),
                fix="grouped-query attention shares each KV head by a whole number of query heads",
            )
        if m.positional == "rotary" and (m.d_model // m.head_count) % 2:
            yield Violation(
                f"rotary embeddings need an even head dimension, got {m.d_model // m.head_count}",
                ("model", "positional"),
            )
        if m.attention in ("sliding", "local") and m.window <= 0:
            yield Violation(f'attention = "{m.attention}" needs window > 0', ("model", "window"))
        if t.tensor_parallel > 1 and m.head_count % t.tensor_parallel:
            yield Violation(
                f"tensor_parallel {t.tensor_parallel} does not divide heads {m.head_count}",
                ("train", "tensor_parallel"),
            )
        if m.input == "tokens" and m.vocab is None:
            yield Violation(
                "token input needs a vocab size",
                ("model", "vocab"),
                fix='set model.vocab, or input = "embeddings"',
            )
    if m.family in ("cnn", "tcn") and m.padding == "causal" and m.family == "cnn" and not m.causal:
        yield Violation('padding = "causal" contradicts causal = false', ("model", "causal"))
    if t.world_size % t.tensor_parallel:
        yield Violation(
            f"world_size {t.world_size} is not a multiple of tensor_parallel {t.tensor_parallel}",
            ("train", "world_size"),
        )
