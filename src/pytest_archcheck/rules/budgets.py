"""Budget rules (ARC1xx): does the model fit the declared memory, length, latency and span?

Each number in a message comes from `estimate.py` (formulas) or, under `--probe`, from a
measurement; the message says which.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..units import format_bytes, format_seconds
from .context import RuleContext, Violation
from .registry import rule


@rule("ARC101", "train-memory-over-budget")
def train_memory(ctx: RuleContext) -> Iterator[Violation]:
    """Training-step peak memory per device exceeds `budget.memory`.

    ## What it does
    Computes the peak bytes of one training step (forward, backward, optimizer step) at
    `train.batch` × `budget.max_n` on one device: parameters, gradients, optimizer state
    (partitioned by ZeRO and tensor parallelism), activations kept for backward, attention
    scores when the kernel materialises them, and logits with the fp32 loss. Under `--probe`
    the measured peak replaces the formula.

    ## Why is this bad?
    The job runs out of memory on the cluster after it has queued and loaded data, typically
    at the first long batch, which costs hours rather than the seconds this check takes.

    ## Example
    ```toml
    [train]
    batch = 16
    [budget]
    max_n = 4096
    memory = "24 GiB"
    ```

    ## Use instead
    Lower the batch (with gradient accumulation), enable `checkpointing = true`, use
    `attention_kernel = "flash"`, or shard optimizer state with `zero_stage`.

    ## References
    - Korthikanti et al. 2022, Reducing Activation Recomputation: https://arxiv.org/abs/2205.05198
    - Rajbhandari et al. 2019, ZeRO: https://arxiv.org/abs/1910.02054
    """
    budget = ctx.spec.budget.memory
    if budget is None:
        return
    measured = ctx.measured.get("peak_bytes")
    est = ctx.estimate
    peak = measured if measured is not None else est.memory.total
    source = f"measured ({ctx.measured.get('device')})" if measured is not None else "estimated"
    if peak > budget:
        m = est.memory
        detail = (
            f"params {format_bytes(m.params)}, grads {format_bytes(m.grads)}, optimizer "
            f"{format_bytes(m.optimizer)}, activations {format_bytes(m.activations)}, "
            f"attention scores {format_bytes(m.attention_scores)}, logits {format_bytes(m.logits)}"
        )
        label = "formula" if measured is None else f"formula estimate {format_bytes(m.total)}"
        yield Violation(
            f"{source} training peak {format_bytes(peak)} exceeds memory budget "
            f"{format_bytes(budget)} at batch {ctx.spec.train.batch} × n {est.n} "
            f"({label}: {detail})",
            ("budget", "memory"),
            fix="lower train.batch, set train.checkpointing = true, or shard with train.zero_stage",
            data={"peak_bytes": peak, "budget_bytes": budget},
        )


@rule("ARC102", "max-n-does-not-fit")
def max_n_fits(ctx: RuleContext) -> Iterator[Violation]:
    """The longest sequence `budget.max_n` does not fit the memory budget.

    ## What it does
    Finds `n_max`, the largest n (a multiple of `budget.granularity`, default 64) whose
    training-step peak at `train.batch` fits `budget.memory`, by exact integer search over the
    memory formula, and reports when `n_max < max_n`, naming the n that would fit.

    ## Why is this bad?
    Data pipelines cut or pad to `max_n`; the first batch that reaches it runs out of memory.
    Because attention memory grows with n², halving the batch is often not enough.

    ## Example
    ```toml
    [budget]
    max_n = 16384
    memory = "24 GiB"
    ```

    ## Use instead
    Set `max_n` to the reported `n_max`, or make longer sequences fit (flash attention,
    checkpointing, a smaller batch, sliding-window attention).

    ## References
    - The article's rule of thumb n_max ≈ sqrt(M / (B·h·bytes)) counts attention scores only;
      archcheck searches the full training-step formula.
    """
    b = ctx.spec.budget
    if b.memory is None or b.max_n is None:
        return
    if "n_max" in ctx.measured:
        n_max = ctx.measured["n_max"]
    elif ctx.estimate.memory.total <= b.memory:
        return  # the peak at max_n fits, so n_max >= max_n: no search needed
    else:
        n_max = ctx.estimate.n_max
    if n_max is None:
        yield Violation(
            f"not even n = {b.granularity} fits the memory budget {format_bytes(b.memory)} "
            f"at batch {ctx.spec.train.batch}",
            ("budget", "max_n"),
            fix="the model states alone may exceed the budget: shard them or use a larger device",
            data={"n_max": None},
        )
    elif n_max < b.max_n:
        yield Violation(
            f"max_n {b.max_n} does not fit the memory budget {format_bytes(b.memory)} at batch "
            f"{ctx.spec.train.batch}: the longest n that fits is n_max = {n_max}"
            + (
                f" (found by {ctx.measured.get('probes')} probes on {ctx.measured.get('device')})"
                if "n_max" in ctx.measured
                else " (formula)"
            ),
            ("budget", "max_n"),
            fix=f"set max_n = {n_max}, or reduce memory per token (checkpointing, flash attention)",
            data={"n_max": n_max},
        )


def _sequential_bound(ctx: RuleContext) -> bool:
    """Latency dominated by steps that cannot run in parallel: RNN time steps or decoding."""
    from ..spec.model import RECURRENT

    return ctx.spec.model.family in RECURRENT or ctx.spec.infer.new_tokens > 0


@rule("ARC103", "p95-latency-over-budget")
def p95_latency(ctx: RuleContext) -> Iterator[Violation]:
    """Measured (or, without a probe, estimated) P95 inference latency exceeds `budget.p95_latency`.

    ## What it does
    Under `--probe` on a CPU or GPU, times at least 200 inference forwards at the [infer] shape
    after warm-up, with the device synchronised, and compares the 95th percentile with the
    budget. Without a measurement it uses the roofline estimate on `budget.device`, labelled as
    an estimate (sequential-bound models are reported as ARC105 instead).

    ## Why is this bad?
    A model that meets its accuracy target but misses the P95 target cannot ship; online
    services commonly require P95 < 200 ms.

    ## Example
    ```toml
    [infer]
    batch = 32
    seq_len = 4096
    [budget]
    p95_latency = "50 ms"
    ```

    ## Use instead
    Smaller inference batches, a KV cache, fewer sequential steps, or a faster device.

    ## References
    - Dean & Barroso 2013, The Tail at Scale: https://doi.org/10.1145/2408776.2408794
    """
    budget = ctx.spec.budget.p95_latency
    if budget is None:
        return
    p95 = ctx.measured.get("p95_s")
    if p95 is not None:
        if p95 > budget:
            yield Violation(
                f"measured P95 latency {format_seconds(p95)} on {ctx.measured.get('latency_device')} "
                f"exceeds the budget {format_seconds(budget)}",
                ("budget", "p95_latency"),
                fix="reduce infer.batch or infer.seq_len, or use a faster device",
                data={"p95_s": p95},
            )
        return
    lat = ctx.estimate.latency
    if lat is not None and not _sequential_bound(ctx) and lat.seconds > budget:
        yield Violation(
            f"estimated latency {format_seconds(lat.seconds)} on {lat.device} (roofline, no "
            f"measurement) exceeds the P95 budget {format_seconds(budget)}",
            ("budget", "p95_latency"),
            fix="measure with --probe on the target device, or reduce the [infer] shape",
            data={"estimate_s": lat.seconds},
        )


@rule("ARC104", "span-not-covered")
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
        if p.layers_needed and m.family in ("cnn", "tcn"):
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


@rule("ARC105", "sequential-steps-exceed-latency")
def sequential_latency(ctx: RuleContext) -> Iterator[Violation]:
    """The model's sequential steps alone make the P95 latency budget infeasible.

    ## What it does
    Multiplies the number of steps that must run one after another (n for RNN/LSTM/GRU, the
    layer count for CNNs and Transformers, plus one step per generated token) by the roofline
    time of each step on the budget's device, and reports when even that lower bound exceeds
    `budget.p95_latency`.

    ## Why is this bad?
    Sequential steps cannot be parallelised away: more GPUs shorten neither an RNN's 1,024
    time steps nor autoregressive decoding. If the bound misses the budget, no optimisation
    of the kernels will meet it.

    ## Example
    ```toml
    [model]
    family = "lstm"
    [infer]
    seq_len = 4096
    [budget]
    p95_latency = "20 ms"
    ```

    ## Use instead
    An architecture whose sequential steps do not grow with n (CNN, Transformer), shorter
    inputs, or fewer generated tokens.

    ## References
    - Vaswani et al. 2017, Table 1 (sequential operations): https://arxiv.org/abs/1706.03762
    """
    budget = ctx.spec.budget.p95_latency
    if budget is None or not _sequential_bound(ctx):
        return
    lat = ctx.estimate.latency
    if lat is not None and lat.seconds > budget:
        yield Violation(
            f"estimated latency {format_seconds(lat.seconds)} ({lat.sequential_steps} sequential "
            f"steps on {lat.device}) exceeds the P95 budget {format_seconds(budget)}",
            ("budget", "p95_latency"),
            fix="reduce sequential steps (shorter infer.seq_len / new_tokens, a parallel architecture)",
            data={"estimate_s": lat.seconds, "sequential_steps": lat.sequential_steps},
        )


@rule("ARC106", "infer-memory-over-budget")
def infer_memory(ctx: RuleContext) -> Iterator[Violation]:
    """Inference memory (weights + KV cache + activations) exceeds `budget.infer_memory`.

    ## What it does
    Adds the weights in the inference dtype, the KV cache
    2·layers·batch·kv_heads·n·head_dim·bytes at the [infer] batch and n + new_tokens, and the
    largest live activation, and compares with `budget.infer_memory`.

    ## Why is this bad?
    The KV cache grows linearly with batch and context; serving that fits at n = 2k runs out of
    memory at 32k, after deployment.

    ## Example
    ```toml
    [infer]
    batch = 64
    seq_len = 32768
    [budget]
    infer_memory = "40 GiB"
    ```

    ## Use instead
    Grouped-query attention (fewer `kv_heads`), a smaller serving batch, or a shorter context.

    ## References
    - Pope et al. 2022, Efficiently Scaling Transformer Inference: https://arxiv.org/abs/2211.05102
    """
    budget = ctx.spec.budget.infer_memory
    if budget is None:
        return
    est = ctx.estimate
    total = ctx.measured.get("infer_peak_bytes", est.infer_memory)
    if total is not None and total > budget:
        yield Violation(
            f"inference memory {format_bytes(total)} (weights {format_bytes(est.infer_weights)}, "
            f"KV cache {format_bytes(est.kv_cache)}) exceeds budget {format_bytes(budget)}",
            ("budget", "infer_memory"),
            fix="use fewer kv_heads (GQA), a smaller infer.batch, or a shorter context",
            data={"infer_bytes": total},
        )
