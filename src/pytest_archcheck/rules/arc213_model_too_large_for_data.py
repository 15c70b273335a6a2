"""ARC213 `model-too-large-for-data`: More parameters than the training tokens can feed, even
repeated for many epochs.

One file per rule, as in ruff: the decorated function is the rule's static check, and its
docstring is the rule's docs page (`archcheck rule ARC213`, docs/rules/ARC213.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..families import family_of
from ..spec.model import Spec
from .context import RuleContext, Violation
from .registry import rule

# Hoffmann et al. 2022 (Chinchilla): compute-optimal training uses about 20 tokens per parameter.
TOKENS_PER_PARAM_OPTIMAL = 20.0
# Muennighoff et al. 2023: repeated data is worth almost as much as unique data up to about
# 4 epochs, and further epochs stop paying off at about 16.
USEFUL_EPOCHS = 16.0
# So below 20/16 = 1.25 unique tokens per parameter, no amount of repetition gives the model its
# compute-optimal token count: it is too large for the data.
MIN_TOKENS_PER_PARAM = TOKENS_PER_PARAM_OPTIMAL / USEFUL_EPOCHS


@rule("ARC213", "model-too-large-for-data", severity="warning", concern="pitfalls")
def too_large_for_data(ctx: RuleContext) -> Iterator[Violation]:
    """More parameters than the training tokens can feed, even repeated for many epochs.

    ## What it does
    With `[data] tokens` (unique training tokens the loss is computed on), compares them with
    the model's parameter count. It reports fewer than 1.25 tokens per parameter: compute-optimal
    training uses about 20 tokens per parameter (Chinchilla), and repeating data stops helping
    after about 16 epochs (Muennighoff et al.), so 20 / 16 = 1.25 unique tokens per parameter is
    the least that can feed the model. The message names the size that fits: the hidden size of
    a recurrent model (the article's "an LSTM hidden state too large overfits small data"), else
    `d_model`.

    This is a heuristic from language-model scaling studies, not a law: it says the model will
    mostly memorise, not that it cannot be trained. Set `[data] tokens` only for per-token
    objectives (language modelling); for one label per sample see ARC214.

    ## Why is this bad?
    A model that sees each token many times memorises the training set: the validation loss
    turns up while the training loss keeps falling, and the memory and compute bought for the
    extra parameters are spent on overfitting.

    ## Example
    ```toml
    [model]
    family = "lstm"
    vocab = 10000
    d_model = 512
    hidden = 2048
    layers = 2
    [data]
    tokens = 2_000_000     # 2 M tokens for ~69 M parameters
    ```

    ## Use instead
    A smaller model (the message gives the hidden size or `d_model` that fits), more data, or
    regularisation chosen with the overfitting in mind.

    ## References
    - Hoffmann et al. 2022, Training Compute-Optimal Large Language Models: https://arxiv.org/abs/2203.15556
    - Muennighoff et al. 2023, Scaling Data-Constrained Language Models: https://arxiv.org/abs/2305.16264
    - The article's pitfalls: "LSTM 隐状态过大在小数据上容易过拟合".
    """
    tokens = ctx.spec.data.tokens
    if tokens is None:
        return
    params = ctx.estimate.params
    if tokens >= MIN_TOKENS_PER_PARAM * params:
        return
    limit = int(tokens / MIN_TOKENS_PER_PARAM)
    key, current, fitting = _size_that_fits(ctx.spec, limit)
    fix = f"at most ~{limit:,} parameters fit {tokens:,} tokens"
    if fitting is not None:
        fix += f": {key} {current} -> {fitting}, or more data"
    else:
        fix += f": no {key} does (the vocabulary's embeddings alone are too many); more data"
    yield Violation(
        f"{params:,} parameters for {tokens:,} training tokens ({tokens / params:.2f} per "
        f"parameter): even {USEFUL_EPOCHS:g} epochs give {USEFUL_EPOCHS * tokens / params:.1f} "
        f"tokens per parameter, under the ~{TOKENS_PER_PARAM_OPTIMAL:g} of compute-optimal "
        "training; the model will mostly memorise",
        ("model", key) if key in ctx.spec.model.model_fields_set else ("data", "tokens"),
        fix=fix,
        data={"params": params, "tokens": tokens, "max_params": limit},
    )


def _size_that_fits(spec: Spec, limit: int) -> tuple[str, int, int | None]:
    """The width key to shrink (`hidden` for a recurrent model, else `d_model`), its value, and
    the largest value (a multiple of 8, as kernels like) whose parameter count is within `limit`;
    None when even 8 does not fit (embeddings dominate: shrink the vocabulary or get data)."""
    from ..formulas.params import params_from_spec

    fam = family_of(spec)
    key = "hidden" if fam.recurrent else "d_model"
    current = getattr(spec.model, key) or spec.model.d_model

    def count(width: int) -> int:
        update: dict[str, int] = {key: width}
        if key == "d_model" and spec.model.d_ff is not None:  # keep the MLP ratio
            update["d_ff"] = max(1, spec.model.d_ff * width // spec.model.d_model)
        if key == "d_model" and spec.model.heads:  # keep whole heads
            update["heads"] = max(1, min(spec.model.heads, width // 8))
            if spec.model.kv_heads:
                update["kv_heads"] = max(1, min(spec.model.kv_heads, update["heads"]))
        m = spec.model.model_copy(update=update)
        return params_from_spec(spec.model_copy(update={"model": m}))

    lo, hi = 0, current // 8  # search width = 8·k for the largest k that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(8 * mid) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return key, current, (8 * lo if lo > 0 else None)
