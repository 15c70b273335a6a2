"""ARC304 `inconsistent-dimensions`: Dimensions that no model can have (heads not dividing d_model,
and similar).

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC304`, docs/rules/ARC304.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
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
    t = ctx.spec.train
    for message, key, fix in family_of(ctx.spec).dimension_problems(ctx.spec):
        yield Violation(message, key, fix=fix)
    if t.world_size % t.tensor_parallel:
        yield Violation(
            f"world_size {t.world_size} is not a multiple of tensor_parallel {t.tensor_parallel}",
            ("train", "world_size"),
        )
