"""ARC104 `span-not-covered`: The architecture has no path from position t−d to t for the required
span d.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC104`, docs/rules/ARC104.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..families import family_of
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC104", "span-not-covered", concern="span")
def span_covered(ctx: RuleContext) -> Iterator[Violation]:
    """The architecture has no path from position t−d to t for the required span d.

    ## What it does
    Computes the reach per direction: centered CNN L·(k−1)/2 (times dilation), causal CNN/TCN
    Σ(k−1)·dilation, sliding-window attention L·w, full attention and RNNs unlimited, and
    compares it with `budget.span`. The message names the layers that would be needed.

    ## Why is this bad?
    A model cannot learn a dependency its computation graph does not connect: no amount of
    data or training fixes a receptive field shorter than the span.

    ## Example
    ```toml
    [model]
    family = "cnn"
    kernel = 3
    layers = 8
    [budget]
    span = 512
    ```

    ## Use instead
    Dilated convolutions (TCN), attention, or enough layers; the message gives the count.

    ## References
    - Araujo et al. 2019, Computing Receptive Fields of CNNs: https://distill.pub/2019/computing-receptive-fields/
    - Bai et al. 2018, TCN: https://arxiv.org/abs/1803.01271
    """
    span = ctx.spec.budget.span
    if span is None:
        return
    p = ctx.estimate.path_info
    where = "into the past" if p.directions == "past" else "per direction"
    if p.covered is False:
        need = f"; {p.layers_needed} layers would be needed" if p.layers_needed else ""
        m = ctx.spec.model
        if p.layers_needed and family_of(ctx.spec).convolutional:
            # With dilations doubling per layer (1, 2, 4, ...), L layers of kernel k reach
            # r * (2^L - 1) per direction, r = (k-1) causal or (k-1)/2 centered (Bai et al. 2018).
            k = max(m.kernel_list())
            r = (k - 1) if p.directions == "past" else (k - 1) // 2
            if r > 0:
                doubling = math.ceil(math.log2(span / r + 1))
                need = f"; {p.layers_needed} layers at dilation 1, or {doubling} with dilations doubling"
        rf = f" (receptive field R = {p.receptive_field})" if p.receptive_field else ""
        yield Violation(
            f"reach {p.reach} positions {where}{rf} does not cover span {span}{need}",
            ("budget", "span"),
            fix="add dilation (TCN), attention, or layers",
            data={"reach": p.reach, "layers_needed": p.layers_needed},
        )
