"""1-D convolution family: text CNNs (centred padding) and TCNs (causal left padding, dilations).

Reference module (families/reference/conv1d.py): token embedding (vocab x d_model) or float
inputs of `in_channels` (else d_model) features -> per layer F.pad + nn.Conv1d(k, stride,
dilation) + ReLU (+ dropout) -> an LM head at every position (tied to the embedding when asked
and c_last == d_model) or a classifier on the mean over positions (`classes`). `family = "tcn"`
or `padding = "causal"` pads on the left only; "same" pads dil·(k−1) split around; "valid" none;
an integer p pads p on each side.

Residual temporal blocks (`residual = true`, locuslab/TCN's `TemporalBlock`): the layers go in
pairs of one kernel, dilation and width; a skip runs around each pair, through a 1x1
convolution (c x c_in, with the convs' bias) where the width changes, added before a last ReLU.
`weight_norm = true` gives every k-wide convolution a (c, 1, 1) gain beside its weight
(`torch.nn.utils.parametrizations.weight_norm`). Both change the parameters (counted exactly),
the FLOPs (the 1x1 skip convolutions added) and the path length (a path may skip whole
blocks); the training peak and the latency of such a stack are not modelled (refused, naming
the key): the probe measures the repository's class.

Saved bytes (p: activation bytes): token ids; per layer the padded input the conv keeps (or the
first layer's unpadded input), the ReLU output and, with dropout, its mask; the head's
batch-major input (LM) or pooled features (classes); under autocast the 16-bit weight copies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..formulas.registry import formula
from . import Family, ForwardSaved, Problem, Shape, register
from ._base import DEFAULT_VOCAB, LiveBytes, NotModelled, head_out

if TYPE_CHECKING:
    from ..formulas.devices import Device
    from ..formulas.flops import Flops, Padding
    from ..formulas.latency import LatencyEstimate
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import ModelTable, Spec


def causal(m: ModelTable) -> bool:
    """Left padding only: a TCN, or any conv stack with padding = "causal" (or "chomp")."""
    return m.family == "tcn" or m.padding in ("causal", "chomp")


def input_width(m: ModelTable) -> int:
    return m.in_channels if (m.input != "tokens" and m.in_channels) else m.d_model


def padding(m: ModelTable) -> Padding:
    """The padding the reference module applies: "valid" and an explicit width win (as in
    ConvStack), else a TCN pads causally whatever `padding` says."""
    if m.padding == "valid" or (isinstance(m.padding, int) and not isinstance(m.padding, bool)):
        return m.padding
    if m.padding == "chomp":
        return "causal"  # the same outputs; flops add the chomped positions
    return "causal" if m.family == "tcn" else m.padding


def unmodelled_layout(m: ModelTable) -> str | None:
    """The key of a layout whose training peak (and reference module) is not modelled:
    residual blocks, weight_norm, chomped padding; None for a plain stack."""
    if m.residual:
        return "residual"
    if m.weight_norm:
        return "weight_norm"
    return "padding" if m.padding == "chomp" else None


def residual_blocks(m: ModelTable) -> list[tuple[int, int, int]]:
    """(index of the block's first layer, c_in, c_out) of each residual block (`residual`: the
    layers in pairs); a block whose c_in differs from its c_out has a 1x1 skip convolution."""
    if not m.residual:
        return []
    out: list[tuple[int, int, int]] = []
    c_prev = input_width(m)
    chans = m.channel_list()
    for i in range(0, len(chans) - 1, 2):
        out.append((i, c_prev, chans[i + 1]))
        c_prev = chans[i + 1]
    return out


def skip_convs(m: ModelTable) -> list[tuple[int, int]]:
    """(c_in, c_out) of each residual block's 1x1 skip convolution."""
    return [(c_in, c) for _, c_in, c in residual_blocks(m) if c_in != c]


@formula(
    "path.residual_conv_path_length",
    "fewest layers on a path reaching d when each block of two convs (reach r_b) may be "
    "skipped (0 layers, 1 through a 1x1 skip conv): the largest blocks first",
    "Bai et al. 2018, arXiv:1803.01271 (TCN residual blocks); DESIGN.md §4 path length",
)
def residual_path_length(span: int, blocks: list[tuple[int, bool]]) -> int | None:
    """Fewest conv layers on a path covering `span` through residual blocks given as (reach,
    has a 1x1 skip conv). Taking a block costs its two convs, skipping it costs the skip's one
    layer (or none): for each number of skip-conv blocks taken, the largest reaches first."""
    plain = sorted((r for r, conv in blocks if not conv), reverse=True)
    convs = sorted((r for r, conv in blocks if conv), reverse=True)
    best: int | None = None
    for a in range(len(convs) + 1):
        reach = sum(convs[:a])
        layers = 2 * a + (len(convs) - a)
        for c in range(len(plain) + 1):
            if c:
                reach += plain[c - 1]
            if reach >= span:
                total = layers + 2 * c
                best = total if best is None else min(best, total)
                break
    return best


def tied(spec: Spec) -> bool:
    m = spec.model
    kind, _ = head_out(m)
    return bool(
        m.tied_embeddings
        and m.input == "tokens"
        and kind == "lm"
        and m.channel_list()[-1] == m.d_model
    )


def conv1d_op_latency(spec: Spec, device: Device) -> LatencyEstimate:
    """The reference ConvStack's inference call op by op (`latency.conv_ops`), on a device with
    conv keys: the embedding's gather (token input) and a transpose; per layer F.pad (a copy
    of its input into the padded tensor), the convolution and ReLU (dropout dispatches nothing
    in eval); then the head: an LM head's transpose, view (a copy at batch > 1), mm, bias add
    and view back, or a classifier's mean over positions and addmm. The ops match the aten
    ops the reference module dispatches (tests/families/test_latency_op_count.py)."""
    from ..formulas.flops import conv_output_length
    from ..formulas.latency import ConvOp, conv_op_latency

    m, inf = spec.model, spec.infer
    length, c_prev = spec.infer_n, input_width(m)
    convs: list[ConvOp] = []
    moved: list[tuple[int, int]] = []
    views = 1  # the transpose to channels-first
    if m.input == "tokens":
        moved.append((1, 2 * length * c_prev))  # the embedding's gather
    pad = padding(m)
    for k, dil, st, c in zip(
        m.kernel_list(), m.dilation_list(), m.stride_list(), m.channel_list(), strict=True
    ):
        out = conv_output_length(length, k, st, dil, pad)
        padded = (out - 1) * st + dil * (k - 1) + 1  # the positions the conv reads
        moved.append((1, c_prev * (length + padded)))  # F.pad: read, write the padded copy
        convs.append(ConvOp(c_prev, c, k, out))
        moved.append((1, 2 * c * out))  # ReLU
        length, c_prev = out, c
    kind, width = head_out(m)
    head = None
    if width and kind == "classes":
        moved.append((1, c_prev * length))  # the mean over positions
        views += 1  # the weight's t
        head = (inf.batch, c_prev, width)
    elif width:
        views += 4  # transpose back, the weight's t, view to rows, _unsafe_view back
        if inf.batch > 1:  # the transposed activations are copied into rows (clone)
            moved.append((1, 2 * length * c_prev))
        moved.append((1, 2 * length * width))  # the bias add after mm
        head = (inf.batch * length, c_prev, width)
    return conv_op_latency(
        device, inf.dtype or spec.train.dtype, inf.batch, convs, elementwise=moved,
        dispatch_ops=views, head=head,
    )  # fmt: skip


@register
class Conv1d(Family):
    name = "conv1d"
    serves = ("cnn", "tcn")
    convolutional = True
    models_cross_entropy = True
    flops_formula = "flops.conv_stack"
    latency_formula = "latency.conv_stack"
    path_formula = "path.conv"
    formula_names: ClassVar[dict[str, str]] = {
        "reach": "path.conv_reach",
        "receptive_field": "path.receptive_field",
        "path_length": "path.conv_path_length",
    }
    summary = "1-D convolution stacks over sequences: text CNNs and (dilated, causal) TCNs"

    def param_shapes(self, spec: Spec) -> list[Shape]:
        m = spec.model
        out: list[Shape] = []
        if m.input == "tokens":
            out.append((m.vocab or DEFAULT_VOCAB, m.d_model))
        c_prev = input_width(m)
        for c, k in zip(m.channel_list(), m.kernel_list(), strict=True):
            out.append((c, c_prev, k))
            out += [(c, 1, 1)] if m.weight_norm else []  # weight_norm's gain
            out += [(c,)] if m.bias != "none" else []
            c_prev = c
        for c_in, c in skip_convs(m):
            out.append((c, c_in, 1))
            out += [(c,)] if m.bias != "none" else []
        _, width = head_out(m)
        if width:
            if not tied(spec):
                out.append((width, c_prev))
            out.append((width,))
        return out

    def not_modelled(self, spec: Spec) -> dict[str, NotModelled]:
        m = spec.model
        key = unmodelled_layout(m)
        if key is None:
            return {}
        value = '"chomp"' if key == "padding" else "true"
        return {
            "memory": NotModelled(
                f"{key} = {value}: the training-peak formula models plain conv stacks with "
                "F.pad padding; residual temporal blocks (the skip sums, the chomped copies, "
                "weight_norm's recomputed weights) are not modelled",
                ("model", key),
                "measure it: `archcheck probe SPEC --device fake` (or `check --probe`) runs a "
                "training step of the repository's own class (model.factory)",
            )
        }

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        if (refused := self.not_modelled(spec).get("memory")) is not None:
            raise refused
        return conv1d_activations(spec, n, batch, target)

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        from ..formulas.flops import Flops, conv_stack_flops

        m = spec.model
        kind, width = head_out(m)
        main = conv_stack_flops(
            batch, n, input_width(m), m.channel_list(), m.kernel_list(),
            strides=m.stride_list(), dilations=m.dilation_list(), padding=padding(m),
            head_out=width, dims=1, pooled_head=kind == "classes",
        )  # fmt: skip
        # the residual blocks' 1x1 skip convolutions, at every position (stride 1)
        extra = sum(batch * 2 * n * c_in * c for c_in, c in skip_convs(m))
        if m.padding == "chomp":  # each conv also computes the dil·(k−1) outputs it drops
            c_prev = input_width(m)
            for c, k, d in zip(m.channel_list(), m.kernel_list(), m.dilation_list(), strict=True):
                extra += batch * 2 * d * (k - 1) * c_prev * c * k
                c_prev = c
        return Flops(main.forward + extra, main.train_step + 3 * extra)

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        from dataclasses import replace

        from ..formulas.path import _cover, conv_layer_reach, conv_path

        m = spec.model
        report = conv_path(span, m.kernel_list(), m.dilation_list(), m.stride_list(), not causal(m))
        if not m.residual or not span:
            return report
        # a path may skip a whole block through its skip connection
        reaches = [
            conv_layer_reach(k, d, not causal(m))
            for k, d in zip(m.kernel_list(), m.dilation_list(), strict=True)
        ]
        blocks = [(reaches[i] + reaches[i + 1], c_in != c) for i, c_in, c in residual_blocks(m)]
        path_length, covered = _cover(span, report.reach, residual_path_length(span, blocks))
        return replace(report, path_length=path_length, covered=covered)

    def layers_needed(self, spec: Spec, span: int) -> int | None:
        from ..formulas.path import layers_needed

        m = spec.model
        if m.residual:
            return None  # blocks of two convs with growing dilations: not one layer's count
        return layers_needed(span, m.kernel_list()[0], 1, centered=not causal(m))

    def latency(self, spec: Spec, device: Device, overhead_s: float) -> LatencyEstimate | None:
        from ..formulas.latency import conv_latency

        m, inf = spec.model, spec.infer
        if unmodelled_layout(m) is not None:
            return None  # the skip sums, chomps and weight_norm's kernels are not in the model
        if device.per_op_conv:
            return conv1d_op_latency(spec, device)
        kind, width = head_out(m)
        return conv_latency(
            device, inf.dtype or spec.train.dtype, inf.batch, spec.infer_n,
            in_channels=input_width(m), channels=m.channel_list(), kernels=m.kernel_list(),
            strides=m.stride_list(), dilations=m.dilation_list(), padding=padding(m), dims=1,
            overhead_s=overhead_s, head_out=width, pooled_head=kind == "classes",
        )  # fmt: skip

    def is_causal(self, spec: Spec) -> bool:
        m = spec.model
        return m.causal if "causal" in m.model_fields_set else causal(m)

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        m = spec.model
        if m.family == "cnn" and m.padding == "causal" and not m.causal:
            yield ('padding = "causal" contradicts causal = false', ("model", "causal"), None)
        if m.residual:
            yield from _residual_pairs(m)
        yield from _no_position_left(spec)

    def input_kind(self, spec: Spec) -> str:
        return "channels" if spec.model.input == "embeddings" else spec.model.input

    def input_width(self, spec: Spec) -> int:
        return input_width(spec.model)

    def reference_module(self, spec: Spec) -> Any:
        from .reference.conv1d import ConvStack

        m = spec.model
        if (key := unmodelled_layout(m)) is not None:
            from ..probe.build import FactoryError

            raise FactoryError(
                f"model.{key}: the reference conv stack has no residual temporal blocks, "
                "weight_norm or chomped padding; set model.factory to the repository's class"
            )
        return ConvStack(spec)


def _residual_pairs(m: ModelTable) -> Iterator[Problem]:
    """`residual` blocks are pairs of layers of one kernel, dilation and width, stride 1."""
    k, d, c = m.kernel_list(), m.dilation_list(), m.channel_list()
    if m.layers % 2:
        yield (
            f"residual = true pairs the layers into blocks of two convolutions; layers = "
            f"{m.layers} is odd",
            ("model", "layers"),
            "layers = 2 x the number of residual blocks",
        )
        return
    for i in range(0, m.layers, 2):
        if (k[i], d[i], c[i]) != (k[i + 1], d[i + 1], c[i + 1]):
            yield (
                f"residual block {i // 2} (layers {i} and {i + 1}) mixes kernels, dilations "
                f"or widths ({k[i]}/{d[i]}/{c[i]} vs {k[i + 1]}/{d[i + 1]}/{c[i + 1]})",
                ("model", "dilations"),
                "give both convolutions of a block the same kernel, dilation and width",
            )
            return
    if any(st != 1 for st in m.stride_list()):
        yield (
            "residual blocks with strided convolutions are not modelled (the skip would need "
            "its own stride)",
            ("model", "strides"),
            None,
        )


def _no_position_left(spec: Spec) -> Iterator[Problem]:
    """A stack whose valid/strided convolutions leave no output position at the spec's n has
    nothing to train or infer: every figure would describe an empty output (the probe refuses
    it), so the spec is refused instead of estimated."""
    from ..formulas.flops import conv_output_length

    m = spec.model
    pad = padding(m)
    for n in sorted({spec.train_n, spec.budget_n}):
        length = n
        for k, st, d in zip(m.kernel_list(), m.stride_list(), m.dilation_list(), strict=True):
            length = conv_output_length(length, k, st, d, pad)
        if length < 1:
            key = ("model", "padding") if "padding" in m.model_fields_set else ("model", "kernel")
            yield (
                f"the convolutions leave no output position at n = {n} (kernels "
                f"{m.kernel_list()}, strides {m.stride_list()}, dilations {m.dilation_list()}, "
                f'padding {pad!r}): nothing to train; use longer sequences, padding = "same" '
                "or fewer/smaller strided layers",
                key,
                None,
            )
            return


@formula(
    "activations.conv1d",
    "ids + Σ_l (b*c_in*(s+pad)*p + b*c*s_out*p (+ mask)) + head input + autocast weights"
    " (each made as its layer runs); backward walked (activations.conv1d_backward)",
    "torch.nn.Conv1d / F.relu saved tensors (families/conv1d.py)",
)
def conv1d_activations(
    spec: Spec, n: int, batch: int, target: Target, incoming: int = 0
) -> ForwardSaved:
    """Bytes a conv stack's training forward keeps for backward (see the module docs).

    `incoming`: bytes of the gradient a later stage hands back to a stack without a head
    (families/hybrid.py: the stem of a hybrid), alive until the stack's backward consumes it."""
    from ..runtime import Precision
    from .recurrent import head_logits

    m, t = spec.model, spec.train
    pr = Precision.of(spec, target)
    p = pr.act
    b = batch
    chans = m.channel_list()
    c_first = input_width(m)
    c_in = c_first
    tokens = m.input == "tokens"
    kind, width = head_out(m)
    bias = m.bias != "none"
    saved = b * n * 8 if tokens else b * n * c_first * 4  # token ids / the input itself
    hold = b * n * c_first * 4 if tokens else 0  # `h` when not saved: embedding output
    s = n
    drop = t.dropout > 0
    peak = 0
    layers: list[_Layer] = []
    for i, (k, dil, st, c) in enumerate(
        zip(m.kernel_list(), m.dilation_list(), m.stride_list(), chans, strict=True)
    ):
        total = dil * (k - 1)
        if m.padding == "valid":
            pad = 0
        elif isinstance(m.padding, int) and not isinstance(m.padding, bool):
            pad = 2 * m.padding
        else:
            pad = total
        p_in = 4 if i == 0 else p
        s_in = s
        padded = b * c_in * (s + pad) * p_in  # F.pad copies, even for zero padding
        s = (s + pad - total - 1) // st + 1
        y = b * c * s * p
        if pr.lowp:  # autocast's copies of this conv's weight and bias, made as it runs
            saved += 2 * (c * c_in * k + (c if bias else 0))
        if pr.lowp and i == 0:
            kept = padded // 2  # the 16-bit cast the conv saves
            peak = max(peak, saved + hold + padded + kept + y)  # inside the conv
        else:
            kept = padded
            peak = max(peak, saved + hold + kept + y)
        saved += kept
        layers.append(
            _Layer(
                kept=kept,
                unpadded=b * c_in * s_in * 4 if i == 0 else b * c_in * s_in * p,
                y=y,
                noise=b * c * s * pr.mask if drop else 0,
                weight=c * c_in * k,
                bias=c if bias else 0,
            )
        )
        peak = max(peak, saved + hold + 2 * y)  # ReLU output allocated, conv output alive
        saved += y  # ReLU output
        if drop:
            noise = b * c * s * pr.mask
            peak = max(peak, saved + hold + noise + y)  # noise and the dropout output
            saved += noise
            hold = y  # the dropout output is the next `h`
        else:
            hold = 0  # `h` is the saved ReLU output
        c_in = c
    end = saved + hold  # the model output is `hold` (dropout) or the last ReLU output
    logits = 4
    head_casts = 2 * width * (c_in + 1) if pr.lowp and width else 0  # autocast weight + bias
    if kind == "lm" and width:
        end += head_casts
        # The head's matmul folds the (b, s, c) transposed view into (b·s, c): a copy, saved
        # by mm -- except at b = 1, where that reshape is a view (no copy).
        end += b * s * c_in * p if b > 1 else 0
        logits += head_logits(b * s * width, pr.act, pr.lowp)
        if pr.lowp and hold and b > 1:
            # Autocast's linear saves only its batch-major copy: the last dropout output dies
            # when forward returns, before the loss's fp32 copy of the logits exists (at b = 1
            # the reshape is a view of that output, which the linear then saves itself).
            peak = max(peak, end + b * s * width * p)
            end -= hold
    elif width:
        # The classifier pools over positions: the mean saves nothing, so the last dropout
        # output dies with forward; the pooled features are saved by the Linear.
        peak = max(peak, end + b * c_in * p)
        end += b * c_in * p - hold + head_casts
        logits += head_logits(b * width, pr.act, pr.lowp)
    elif pr.lowp:
        logits += b * s * c_in * 4  # loss: output.float()
    # Cross-entropy over the head (probe/build.py ProbeLoss): head_logits counted the logits
    # and, under autocast, a fp32 tensor of their size -- the saved log-probabilities; in fp32
    # those are added here; random targets unless an LM over tokens predicts its own ids (an
    # output as long as its input). Under autocast the transient fp32 copy of the logits
    # exists while log_softmax runs.
    rows = b if kind == "classes" else b * s
    targets = not (tokens and kind == "lm" and s == n)
    if width:
        logits += 0 if pr.lowp else rows * width * 4
        logits += rows * 8 if targets else 0
        if pr.lowp:
            peak = max(peak, end + logits + rows * width * 4)
    peak = max(peak, end + logits)
    extra = conv1d_backward(
        layers,
        _Head(kind, b, c_in, s, width or 0, p, pr.lowp, hold, targets),
        tokens=tokens,
        embedding=(m.vocab or DEFAULT_VOCAB) * m.d_model * 4 if tokens else 0,
        dropped=0 if tokens else b * n * c_first * 4,
        cuda=target.cuda,
        incoming=incoming,
    )
    # the end of backward: every gradient, the output the loop holds (+ the scalar loss), and
    # with a tied head the two partial gradients of the shared weight before autograd adds them
    rnd = LiveBytes(target.cuda).rnd
    held = rnd(rows * width * p) + rnd(4) if width else 0
    shared = 2 * (m.vocab or DEFAULT_VOCAB) * m.d_model * 4 if (width and tied(spec)) else 0
    return ForwardSaved(
        end,
        0,
        logits,
        backward_extra=extra,
        forward_peak=peak if peak > end + logits else 0,
        held_through_backward=held,
        end_backward=shared,
        formula="activations.conv1d",
    )


@dataclass(frozen=True)
class _Layer:
    """One conv layer's tensors, bytes (elements for weight and bias)."""

    kept: int  # the conv's saved input: the padded copy (layer 0 under autocast: its 16-bit cast)
    unpadded: int  # the gradient constant_pad_nd's backward returns (fp32 at layer 0)
    y: int  # the ReLU output (saved), and each gradient map of the layer's output
    noise: int  # the dropout noise (CPU) or mask (CUDA) kept for backward; 0 without dropout
    weight: int
    bias: int


@dataclass(frozen=True)
class _Head:
    """The output head: shapes and dtypes its backward allocates."""

    kind: str  # "lm" (a Linear at every position), "classes" (on the mean), "none"
    b: int
    c: int  # channels of the last layer
    s: int  # positions of the last layer
    width: int  # vocab or classes; 0 without a head
    p: int  # activation bytes
    lowp: bool  # autocast: 16-bit gradients, then fp32 copies into the parameters' .grad
    hold: int  # the last dropout output (the model's last map), 0 without dropout
    targets: bool = True  # the loss allocated random targets (rows int64)


@formula(
    "activations.conv1d_backward",
    "walk from the end of forward: loss gradient, head backward (16-bit then fp32 copies"
    " under autocast), per layer (last first) dropout, ReLU, conv, pad backward, embedding",
    "autograd's order on the reference ConvStack, measured with the probe's tracker (torch 2.13)",
)
def conv1d_backward(
    layers: list[_Layer],
    head: _Head,
    *,
    tokens: bool,
    embedding: int,
    dropped: int,
    cuda: bool,
    incoming: int = 0,
) -> int:
    """Early backward of the reference conv stack, walked tensor by tensor in autograd's order
    (the fake probe's timeline; each tensor rounded as the CUDA allocator rounds it on a CUDA
    target). Returns the largest live bytes beyond the end of forward's saved set, parameter
    gradients included (formulas/peak.py's backward phase adds no gradients of its own).

    When forward returns, the float input (F.pad copied it), under autocast the 16-bit bias
    copies (no conv or addmm saves them) and, where nothing saved it, the last dropout output
    die; the loss stays. Then ones_like and the head's backward:

    - classifier (on the mean): under autocast the logits' gradient cast back to 16 bits;
      addmm's backward (the pooled features' gradient, the weight gradient by mm, the bias
      gradient by sum -- 16-bit under autocast, then copied to fp32 by the casts'
      ToCopyBackward); the pooled features and the 16-bit weight copy die; mean's backward
      (div: grad.expand / s, a full last map);
    - LM head: the same at every position: the bias gradient (sum), the weight gradient (mm),
      the batch-major input gradient (mm, b·s x c); the saved batch-major copy (at b = 1 the
      last map itself, when it is a dropout output) dies; the transpose back is a view;
    - no head: sum's backward is a view of ones_like; under autocast the fp32 copy's backward
      casts it to a 16-bit map.

    Per layer, last first: dropout's mul backward (a map; its noise dies), threshold_backward
    (a map; the saved ReLU output dies), convolution_backward (the input's gradient when it
    needs one -- the first layer's float input does not --, weight and bias gradients; the
    saved input and, under autocast, the 16-bit weight copy die; the copies to fp32 run in
    decreasing sequence order: layer 0's input cast first, then weight, then bias),
    constant_pad_nd's backward (the unpadded gradient) and, for tokens,
    embedding_dense_backward (the embedding's fp32 gradient)."""
    h = head
    gp = 2 if h.lowp else 4  # bytes of a gradient as autograd first computes it
    w = LiveBytes(cuda)
    w.release(dropped)
    if h.lowp:  # the 16-bit bias copies
        for layer in layers:
            w.release(2 * layer.bias)
        if h.width:
            w.release(2 * h.width)
    if h.hold and (h.kind == "none" or (h.kind == "lm" and h.b > 1 and not h.lowp)):
        w.release(h.hold)  # nothing saved the last dropout output
    w.alloc("loss", 4, rounded=False)  # in `logits` at the end of forward; alive to the end
    rows = h.b if h.kind == "classes" else h.b * h.s
    ce = h.kind in ("classes", "lm") and h.width > 0
    if ce:  # cross-entropy's tensors of the end of forward (in `logits` there)
        w.alloc("held", rows * h.width * h.p)  # the logits, held by the loop to the end
        w.alloc("logprobs", rows * h.width * 4)
        if h.targets:
            w.alloc("targets", rows * 8)
    w.mark()
    w.alloc("dloss", 4)  # ones_like
    g = ""  # the key of the gradient flowing back ("": a view of ones_like)
    if incoming:  # a later stage's gradient (hybrid stem): autocast casts it to 16 bits
        w.alloc("incoming", incoming)
        g = "incoming"
    if ce:
        # nll_loss's and log_softmax's fp32 gradients; the log-probs then die; autocast
        # casts the logits' gradient back to 16 bits
        w.alloc("dnll", rows * h.width * 4)
        w.alloc("dlsm", rows * h.width * 4)
        w.free("dnll", "logprobs", "targets")
        if h.lowp:
            w.alloc("dlogits16", rows * h.width * 2)
            w.free("dlsm")
        if h.kind == "classes":
            w.alloc("gin", rows * h.c * h.p)
            w.alloc("head.wg", h.width * h.c * gp)
            w.alloc("head.bg", h.width * gp)
        else:
            w.alloc("head.bg", h.width * gp)
            w.alloc("head.wg", h.width * h.c * gp)
            w.alloc("gin", rows * h.c * h.p)
        w.free("dlogits16", "dlsm")
        if h.kind == "classes":
            w.release(rows * h.c * h.p)  # the pooled features, saved by addmm
        if h.lowp:
            w.release(h.width * h.c * 2)  # the 16-bit weight copy addmm saved
        if h.kind == "lm":
            # the saved batch-major copy; at b = 1 a view of the last map, which dies here
            # when it is a dropout output (a ReLU output stays saved by threshold_backward)
            w.release(rows * h.c * h.p if h.b > 1 else h.hold)
        if h.lowp:
            for key, elems in (("head.wg", h.width * h.c), ("head.bg", h.width)):
                w.alloc(f"{key}32", elems * 4)  # the fp32 copy exists before the 16-bit dies
                w.free(key)
        g = "gin"
        if h.kind == "classes":
            w.alloc("div", h.b * h.c * h.s * h.p)  # mean's backward
            w.free("gin")
            g = "div"
    elif h.lowp:
        w.alloc("g16", h.b * h.c * h.s * 2)  # ToCopyBackward of output.float()
        w.free("incoming")
        g = "g16"
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if layer.noise:
            w.alloc("drop", layer.y)  # mul backward
            w.free(g)
            w.release(layer.noise)
            g = "drop"
        w.alloc("t", layer.y)  # threshold_backward
        w.free(g)
        w.release(layer.y)  # the saved ReLU output
        needs_input = i > 0 or tokens
        if needs_input:
            w.alloc("gx", layer.kept)
        w.alloc(f"{i}.wg", layer.weight * gp)
        if layer.bias:
            w.alloc(f"{i}.bg", layer.bias * gp)
        w.free("t")
        w.release(layer.kept)  # the conv's saved input
        if h.lowp:
            w.release(layer.weight * 2)  # the 16-bit weight copy the conv saved
            if i == 0 and needs_input:  # the input cast's ToCopyBackward: fp32 again
                w.alloc("gx32", 2 * layer.kept)
                w.free("gx")
            for key, elems in ((f"{i}.wg", layer.weight), (f"{i}.bg", layer.bias)):
                if elems:
                    w.alloc(f"{key}32", elems * 4)
                    w.free(key)
        if not needs_input:
            break
        w.alloc("gu", layer.unpadded)  # constant_pad_nd's backward
        w.free("gx", "gx32")
        g = "gu"
    if tokens:
        w.alloc("emb.grad", embedding)
        w.free(g)
    return w.peak
