"""Pitfall rules (ARC2xx): mistakes that let a model run but not learn what the task needs.

Static rules here read the spec; the behavioural ones (203–206, 209) are documented here and
decided by `behaviour/` on the model itself under `--probe`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..spec.model import RECURRENT
from .context import RuleContext, Violation
from .registry import document, rule

if TYPE_CHECKING:
    from ..lengths import Lengths, LengthsError

SEQUENCE_FAMILIES = frozenset({"transformer"})
EFFICIENT_KERNEL_THRESHOLD = 2048  # article: n <= 2048 full attention is acceptable
DENSE_ATTENTION_LIMIT = 8192  # article: n > 8192 needs sparse/linear attention


@rule("ARC201", "missing-positional-information")
def missing_positional(ctx: RuleContext) -> Iterator[Violation]:
    """A non-causal Transformer without positional information cannot see token order.

    ## What it does
    Statically flags `positional = "none"` on a bidirectional (non-causal) Transformer. Under
    `--probe` it also permutes the input sequence and checks whether the outputs permute
    exactly with it; a model that is permutation-equivariant cannot use order. Causal decoders
    are exempt: the causal mask itself leaks position (Haviv et al. 2022).

    ## Why is this bad?
    Self-attention is permutation-equivariant; without positional encodings the model treats
    the sequence as a bag of tokens, so "dog bites man" equals "man bites dog".

    ## Example
    ```toml
    [model]
    causal = false
    positional = "none"
    ```

    ## Use instead
    ```toml
    [model]
    causal = false
    positional = "sinusoidal"   # or learned / rotary / alibi / relative
    ```

    ## References
    - Vaswani et al. 2017, §3.5: https://arxiv.org/abs/1706.03762
    - Haviv et al. 2022, Transformer LMs without positional encodings still learn positional information: https://arxiv.org/abs/2203.16634
    """
    m = ctx.spec.model
    if (
        m.family in SEQUENCE_FAMILIES
        and not m.causal
        and m.positional == "none"
        and m.input != "image"
    ):
        yield Violation(
            'bidirectional Transformer with positional = "none" is permutation-equivariant: '
            "it cannot tell token order",
            ("model", "positional"),
            fix="add positional information (sinusoidal, learned, rotary, alibi or relative)",
        )


@rule("ARC202", "positional-table-too-short")
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
    if m.family != "transformer" or m.positional != "learned" or m.max_positions is None:
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


@rule("ARC207", "bptt-shorter-than-span")
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
    m, t, span = ctx.spec.model, ctx.spec.train, ctx.spec.budget.span
    if m.family in RECURRENT and t.bptt is not None and span is not None and t.bptt < span:
        yield Violation(
            f"bptt {t.bptt} truncates gradients before span {span}: dependencies longer than "
            f"{t.bptt} steps cannot be learned",
            ("train", "bptt"),
            fix=f"set bptt >= {span}",
            data={"bptt": t.bptt, "span": span},
        )


@rule("ARC208", "heavy-padding", severity="warning")
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


def _read_lengths(ctx: RuleContext, ref: str) -> Lengths | LengthsError:
    """The [data] lengths a string names; callables only under --probe (a device is measured)."""
    from ..lengths import LengthsError, read_lengths

    try:
        return read_lengths(
            ref,
            Path(ctx.loaded.path).parent,
            ctx.loaded.root,
            evaluate_callables="device" in ctx.measured,
        )
    except LengthsError as exc:
        return exc


def _padding_from_data(ctx: RuleContext, data: Lengths, allowed: float) -> Iterator[Violation]:
    from ..lengths import padding_report
    from ..units import format_count

    m, n = ctx.spec.model, ctx.spec.budget_n
    per_pair = 4 * m.layers * m.head_count * m.head_dim if m.family == "transformer" else None
    r = padding_report(data, n, ctx.spec.train.batch, flops_per_pair=per_pair)
    if r.pad_to_max_n <= allowed:
        return
    saved = (
        f" ({format_count(r.attention_flops_saved)} FLOPs per pass over the data)"
        if r.attention_flops_saved
        else ""
    )
    yield Violation(
        f"padding every batch to n = {n} makes {r.pad_to_max_n:.0%} of tokens padding (allowed "
        f"{allowed:.0%}); lengths P50 {r.p50}, P90 {r.p90}, max {r.max} over {r.sequences} "
        f"sequences; random batches of {r.batch} padded to their longest: "
        f"{r.random_batches:.0%}; length bucketing: {r.bucketed:.0%}, saving "
        f"{r.attention_saving:.0%} of attention cost{saved}",
        ("budget", "max_padding"),
        fix="bucket batches by length or pack sequences",
        data={"padding_ratio": r.pad_to_max_n, **r.to_json()},
    )


@rule("ARC210", "forget-bias-not-positive", severity="warning")
def forget_bias(ctx: RuleContext) -> Iterator[Violation]:
    """An LSTM with a long span declares a forget-gate bias that is not positive.

    ## What it does
    When `model.forget_bias` is declared for an LSTM and `budget.span` is long (> 100), reports
    a bias ≤ 0. Under `--probe` the initialised `bias_ih + bias_hh` of the forget gate is read
    from the model itself.

    ## Why is this bad?
    With f ≈ σ(0) = 0.5 the cell state halves every step (0.5^20 ≈ 1e-6); a bias of 1 starts
    training with f ≈ 0.73 and much longer memory.

    ## Example
    ```toml
    [model]
    family = "lstm"
    forget_bias = 0.0
    [budget]
    span = 200
    ```

    ## Use instead
    `forget_bias = 1.0` and initialise it in the factory.

    ## References
    - Jozefowicz et al. 2015, An Empirical Exploration of Recurrent Network Architectures: https://proceedings.mlr.press/v37/jozefowicz15.html
    - Gers et al. 2000, Learning to Forget
    """
    m, span = ctx.spec.model, ctx.spec.budget.span
    if (
        m.family == "lstm"
        and m.forget_bias is not None
        and span is not None
        and span > 100
        and m.forget_bias <= 0
    ):
        yield Violation(
            f"forget-gate bias {m.forget_bias:g} with span {span}: σ({m.forget_bias:g}) = "
            f"{1 / (1 + 2.718281828 ** (-m.forget_bias)):.2f} per step forgets quickly",
            ("model", "forget_bias"),
            fix="initialise the forget-gate bias to 1.0",
        )


@rule("ARC211", "full-attention-beyond-kernel-threshold", severity="warning")
def attention_kernel(ctx: RuleContext) -> Iterator[Violation]:
    """Full attention at n beyond what a materialising kernel (or dense attention) handles.

    ## What it does
    Flags full attention with `attention_kernel = "math"` (scores materialised) when
    n > 2048, and full attention of any kernel when n > 8192, the article's thresholds.

    ## Why is this bad?
    The math kernel stores B·h·n² scores per layer: at n = 4096, 8 heads and batch 2 that is
    512 MiB per layer in fp16 before softmax and dropout copies. Beyond 8192, even
    IO-aware kernels spend most time on n² work.

    ## Example
    ```toml
    [train]
    attention_kernel = "math"
    [budget]
    max_n = 4096
    ```

    ## Use instead
    `attention_kernel = "flash"` up to 8192; sliding-window, sparse or linear attention beyond.

    ## References
    - Dao et al. 2022, FlashAttention: https://arxiv.org/abs/2205.14135
    """
    m = ctx.spec.model
    if m.family != "transformer" or m.attention != "full":
        return
    n = ctx.spec.budget_n
    if n > DENSE_ATTENTION_LIMIT:
        yield Violation(
            f"full attention at n = {n} > {DENSE_ATTENTION_LIMIT}: n² work dominates even with "
            "IO-aware kernels",
            ("model", "attention"),
            fix="use sliding-window, sparse or linear attention",
        )
    elif n > EFFICIENT_KERNEL_THRESHOLD and ctx.spec.train.attention_kernel == "math":
        yield Violation(
            f'attention_kernel = "math" materialises n² scores at n = {n} > '
            f"{EFFICIENT_KERNEL_THRESHOLD}",
            ("train", "attention_kernel"),
            fix='use attention_kernel = "flash" (or "efficient")',
        )


@rule("ARC212", "budget-from-mean-length", severity="warning")
def mean_length(ctx: RuleContext) -> Iterator[Violation]:
    """The budget's `max_n` sits near the mean length while the P90 length exceeds it.

    ## What it does
    From [data] lengths (inline statistics, or a lengths file as for ARC208), reports when P90
    exceeds `max_n`: the budget was set for a typical sequence, and at least one in ten
    sequences is longer.

    ## Why is this bad?
    If P90 is twice the mean, attention memory at P90 is four times the budgeted figure; the
    long tail either crashes or is silently truncated.

    ## Example
    ```toml
    [budget]
    max_n = 512
    [data]
    lengths = { mean = 480, p90 = 1100 }
    ```

    ## Use instead
    Set `max_n` from P90 or the maximum, and budget memory there.

    ## References
    - The article's pitfall list: "只用平均 n 估算成本会踩坑：P90 若是 2 倍，注意力显存就是 4 倍".
    """
    lengths, max_n = ctx.spec.data.lengths, ctx.spec.budget.max_n
    if lengths is None or max_n is None:
        return
    mean: float | None
    p90: int | None
    if isinstance(lengths, str):
        data = _read_lengths(ctx, lengths)
        if isinstance(data, Exception):  # ARC208 reports it
            return
        p90, mean = data.percentile(90), data.mean
    else:
        p90, mean = lengths.p90, lengths.mean
    if p90 is not None and p90 > max_n:
        ratio = (p90 / max_n) ** 2
        shown = f" (mean {mean:g})" if mean is not None else ""
        yield Violation(
            f"P90 length {p90}{shown} exceeds max_n {max_n}: attention memory at P90 is "
            f"{ratio:.1f}× the budgeted figure",
            ("budget", "max_n"),
            fix=f"set max_n >= {p90} and budget memory there",
            data={"p90": p90, "max_n": max_n},
        )


document(
    "ARC203",
    "attention-mask-shape",
    "error",
    "behaviour",
    """
    An attention mask whose shape does not match what the attention API expects.

    ## What it does
    Under `--probe`, intercepts every `scaled_dot_product_attention` and
    `nn.MultiheadAttention` call in a forward and checks each mask against the API's rules:
    `(L, S)` or `(B·h, L, S)` attention masks and `(B, S)` key-padding masks for
    MultiheadAttention, masks broadcastable to `(B, h, L, S)` for SDPA.

    ## Why is this bad?
    Broadcasting can turn a mis-shaped mask into one that applies to the wrong axis (a
    `(B, S)` padding mask broadcast over queries instead of keys) without any error.

    ## Example
    ```python
    F.scaled_dot_product_attention(q, k, v, attn_mask=pad_mask)  # pad_mask: (B, S)
    ```

    ## Use instead
    ```python
    F.scaled_dot_product_attention(q, k, v, attn_mask=pad_mask[:, None, None, :])
    ```

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html
    - https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html
""",
)

document(
    "ARC204",
    "mask-polarity-flipped",
    "error",
    "behaviour",
    """
    A boolean mask of the opposite convention: True = attend versus True = blocked.

    ## What it does
    Under `--probe`, inspects boolean masks at each attention call: SDPA treats True as
    *attend*, `nn.MultiheadAttention` treats True as *blocked*, and Hugging Face
    `attention_mask` uses 1 = keep. A mask that blocks the real tokens and keeps the padding,
    or a causal mask with the triangle on the wrong side, is reported with the fix (`~mask`).

    ## Why is this bad?
    A flipped mask lets the model attend to padding (or to the future) and ignore real tokens;
    training still converges to something, so the bug surfaces only as poor accuracy.

    ## Example
    ```python
    mha(x, x, x, key_padding_mask=batch["attention_mask"].bool())  # HF 1 = keep
    ```

    ## Use instead
    ```python
    mha(x, x, x, key_padding_mask=~batch["attention_mask"].bool())
    ```

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html
""",
)

document(
    "ARC205",
    "causal-leak",
    "error",
    "behaviour",
    """
    A causal model whose output at position t depends on inputs after t.

    ## What it does
    Under `--probe`, perturbs the inputs after t and checks that outputs at and before t are
    unchanged exactly, and that their gradients with respect to later inputs are exactly zero;
    also compares incremental decoding with the full forward when the model exposes it.

    ## Why is this bad?
    A leak lets training read the answer; validation loss looks excellent and generation fails.

    ## Example
    ```python
    F.scaled_dot_product_attention(q, k, v)  # forgot is_causal=True
    ```

    ## Use instead
    ```python
    F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ```

    ## References
    - Radford et al. 2018/2019, GPT: masked self-attention
""",
)

document(
    "ARC206",
    "padding-leak",
    "error",
    "behaviour",
    """
    Outputs at real tokens change when padding changes.

    ## What it does
    Under `--probe`, changes the padding tokens (the spec's `pad_id` or the `mask_arg` mask) or
    appends padding, and checks that no output at a real token changes.

    ## Why is this bad?
    Predictions then depend on how a batch was padded: results differ between batch sizes and
    between training and serving.

    ## Example
    ```python
    encoder(x)  # no src_key_padding_mask; mean-pooling over padded positions
    ```

    ## Use instead
    ```python
    encoder(x, src_key_padding_mask=tokens.eq(pad_id)); masked mean pooling
    ```

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.TransformerEncoder.html
""",
)

document(
    "ARC209",
    "weak-additive-mask",
    "error",
    "behaviour",
    """
    An additive mask too weak for the score range, or fully-masked rows that give NaN.

    ## What it does
    Under `--probe`, checks additive float masks against the dtype and score range (−1e4 in
    fp16 does not zero a softmax whose scores span more than ~1e4·ε; −inf rows make NaN), and
    rows in which every key is masked.

    ## Why is this bad?
    A weak mask lets blocked positions receive attention weight; a fully-masked row turns the
    whole sequence's outputs, and then the loss, into NaN.

    ## Example
    ```python
    mask = (1 - keep) * -1e4  # in fp16 with large scores
    ```

    ## Use instead
    ```python
    mask = torch.where(keep.bool(), 0.0, torch.finfo(scores.dtype).min)
    ```

    ## References
    - https://github.com/huggingface/transformers (finfo.min masking)
""",
)
