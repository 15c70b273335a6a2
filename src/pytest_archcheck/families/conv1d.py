"""1-D convolution family: text CNNs (centred padding) and TCNs (causal left padding, dilations).

Reference module (families/reference/conv1d.py): token embedding (vocab x d_model) or float
inputs of `in_channels` (else d_model) features -> per layer F.pad + nn.Conv1d(k, stride,
dilation) + ReLU (+ dropout) -> an LM head at every position (tied to the embedding when asked
and c_last == d_model) or a classifier on the mean over positions (`classes`). `family = "tcn"`
or `padding = "causal"` pads on the left only; "same" pads dil·(k−1) split around; "valid" none;
an integer p pads p on each side.

Saved bytes (p: activation bytes): token ids; per layer the padded input the conv keeps (or the
first layer's unpadded input), the ReLU output and, with dropout, its mask; the head's
batch-major input (LM) or pooled features (classes); under autocast the 16-bit weight copies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ..formulas.registry import formula
from . import Family, ForwardSaved, Problem, Shape, register
from ._base import DEFAULT_VOCAB, head_out

if TYPE_CHECKING:
    from ..formulas.devices import Device
    from ..formulas.flops import Flops, Padding
    from ..formulas.latency import LatencyEstimate
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import ModelTable, Spec


def causal(m: ModelTable) -> bool:
    """Left padding only: a TCN, or any conv stack with padding = "causal"."""
    return m.family == "tcn" or m.padding == "causal"


def input_width(m: ModelTable) -> int:
    return m.in_channels if (m.input != "tokens" and m.in_channels) else m.d_model


def padding(m: ModelTable) -> Padding:
    return "causal" if m.family == "tcn" else m.padding


def tied(spec: Spec) -> bool:
    m = spec.model
    kind, _ = head_out(m)
    return bool(
        m.tied_embeddings
        and m.input == "tokens"
        and kind == "lm"
        and m.channel_list()[-1] == m.d_model
    )


@register
class Conv1d(Family):
    name = "conv1d"
    serves = ("cnn", "tcn")
    convolutional = True
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
            out += [(c,)] if m.bias != "none" else []
            c_prev = c
        _, width = head_out(m)
        if width:
            if not tied(spec):
                out.append((width, c_prev))
            out.append((width,))
        return out

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        return conv1d_activations(spec, n, batch, target)

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        from ..formulas.flops import conv_stack_flops

        m = spec.model
        kind, width = head_out(m)
        return conv_stack_flops(
            batch, n, input_width(m), m.channel_list(), m.kernel_list(),
            strides=m.stride_list(), dilations=m.dilation_list(), padding=padding(m),
            head_out=width, dims=1, pooled_head=kind == "classes",
        )  # fmt: skip

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        from ..formulas.path import conv_path

        m = spec.model
        return conv_path(span, m.kernel_list(), m.dilation_list(), m.stride_list(), not causal(m))

    def layers_needed(self, spec: Spec, span: int) -> int | None:
        from ..formulas.path import layers_needed

        m = spec.model
        return layers_needed(span, m.kernel_list()[0], 1, centered=not causal(m))

    def latency(self, spec: Spec, device: Device, overhead_s: float) -> LatencyEstimate:
        from ..formulas.latency import conv_latency

        m, inf = spec.model, spec.infer
        return conv_latency(
            device, inf.dtype or spec.train.dtype, inf.batch, spec.infer_n,
            in_channels=input_width(m), channels=m.channel_list(), kernels=m.kernel_list(),
            strides=m.stride_list(), dilations=m.dilation_list(), padding=padding(m), dims=1,
            overhead_s=overhead_s,
        )  # fmt: skip

    def is_causal(self, spec: Spec) -> bool:
        m = spec.model
        return m.causal if "causal" in m.model_fields_set else causal(m)

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        m = spec.model
        if m.family == "cnn" and m.padding == "causal" and not m.causal:
            yield ('padding = "causal" contradicts causal = false', ("model", "causal"), None)

    def input_kind(self, spec: Spec) -> str:
        return "channels" if spec.model.input == "embeddings" else spec.model.input

    def input_width(self, spec: Spec) -> int:
        return input_width(spec.model)

    def reference_module(self, spec: Spec) -> Any:
        from .reference.conv1d import ConvStack

        return ConvStack(spec)


@formula(
    "activations.conv1d",
    "ids + Σ_l (b*c_in*(s+pad)*p + b*c*s_out*p (+ mask)) + head input + autocast weights",
    "torch.nn.Conv1d / F.relu saved tensors (families/conv1d.py)",
)
def conv1d_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes a conv stack's training forward keeps for backward (see the module docs)."""
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
    if pr.lowp:  # autocast copies of the conv and head weights and biases
        c_prev = c_first
        for k, c in zip(m.kernel_list(), chans, strict=True):
            saved += 2 * (c * c_prev * k + (c if bias else 0))
            c_prev = c
        if width:
            saved += 2 * width * (c_prev + 1)
    hold = b * n * c_first * 4 if tokens else 0  # `h` when not saved: embedding output
    s = n
    drop = t.dropout > 0
    peak = 0
    layers: list[tuple[int, int, int]] = []  # (saved conv input, its unpadded size, ReLU out)
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
        if pr.lowp and i == 0:
            kept = padded // 2  # the 16-bit cast the conv saves
            peak = max(peak, saved + hold + padded + kept + y)  # inside the conv
        else:
            kept = padded
            peak = max(peak, saved + hold + kept + y)
        saved += kept
        layers.append((kept, b * c_in * s_in * p_in if pad or i == 0 else 0, y))
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
    if kind == "lm" and width:
        # The head's matmul folds the (b, s, c) transposed view into (b·s, c): a copy, saved
        # by mm -- except at b = 1, where that reshape is a view (no copy).
        end += b * s * c_in * p if b > 1 else 0
        logits += head_logits(b * s * width, pr.act, pr.lowp)
        if pr.lowp and hold:
            # Autocast's linear saves only its batch-major copy: the last dropout output dies
            # when forward returns, before the loss's fp32 copy of the logits exists.
            peak = max(peak, end + b * s * width * p)
            end -= hold
    elif width:
        # The classifier pools over positions: the mean saves nothing, so the last dropout
        # output dies with forward; the pooled features are saved by the Linear.
        peak = max(peak, end + b * c_in * p)
        end += b * c_in * p - hold
        logits += head_logits(b * width, pr.act, pr.lowp)
    elif pr.lowp:
        logits += b * s * c_in * 4  # loss: output.float()
    peak = max(peak, end + logits)
    extra = (width or 0) * c_in * 4
    if kind == "classes" and width and not pr.lowp and not target.cuda:
        dropped = 0 if tokens else b * n * c_first * 4
        extra = _pooled_backward(
            layers, b * c_in * p, width * (c_in + 1) * 4, tokens, drop, dropped
        )
    return ForwardSaved(
        end,
        0,
        logits,
        backward_extra=extra,
        forward_peak=peak if peak > end + logits else 0,
        formula="activations.conv1d",
    )


def _pooled_backward(
    layers: list[tuple[int, int, int]],
    pooled: int,
    head_grads: int,
    tokens: bool,
    drop: bool,
    dropped: int,
) -> int:
    """Early backward of a pooled classifier stack (fp32, CPU), walked in autograd's order:
    the head's gradients (its input gradient, fp32 weight and bias gradients), mean's backward
    (div: grad.expand / s, a full last map), then per layer, last first: dropout's mul backward
    (a map; its noise dies), threshold_backward (a map; the saved ReLU output dies),
    convolution_backward (the padded input's gradient; the saved padded input dies) and
    constant_pad_nd's backward (a new unpadded tensor) -- the first layer's input needs no
    gradient unless it is an embedding. Returns the largest live bytes beyond the end of
    forward's saved set."""
    # the float input itself is saved by nothing (F.pad copies it): it dies with forward
    live = pooled + head_grads - dropped  # dpooled beside the head's parameter gradients
    best = live
    live -= pooled  # the pooled features (saved by addmm) die once mm's backward ran
    live += layers[-1][2]  # div
    best = max(best, live)
    live -= pooled  # dpooled
    g = layers[-1][2]
    for i in range(len(layers) - 1, -1, -1):
        kept, unpadded, y = layers[i]
        if drop:
            live += y  # mul backward
            best = max(best, live)
            live -= g + y  # the incoming gradient and the noise
            g = y
        live += y  # threshold_backward
        best = max(best, live)
        live -= g + y  # incoming gradient, saved ReLU output
        if i == 0 and not tokens:
            live -= y + kept  # only the weight gradient: T and the saved input die
            break
        live += kept  # the padded input's gradient
        best = max(best, live)
        live -= y + kept  # T, the saved padded input
        g = kept
        if unpadded and unpadded != kept:
            live += unpadded  # constant_pad_nd backward
            best = max(best, live)
            live -= g
            g = unpadded
    return best
