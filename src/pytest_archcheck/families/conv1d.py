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
    formula_names: ClassVar[dict[str, str]] = {
        "flops": "flops.conv_stack",
        "reach": "path.conv_reach",
        "receptive_field": "path.receptive_field",
        "path_length": "path.conv_path_length",
        "sequential_steps": "path.conv",
        "latency": "latency.conv_stack",
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
    acts = b * n * 8 if m.input == "tokens" else 0
    s = n
    drop = t.dropout > 0
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
        if pad:
            acts += b * c_in * (s + pad) * p  # the padded copy the conv saves
        elif i == 0:
            acts += b * c_in * s * 4  # the conv saves the (embedding) input itself
        s = (s + pad - total - 1) // st + 1
        acts += b * c * s * p  # ReLU output
        if drop:
            acts += b * c * s * pr.mask
        c_in = c
    kind, width = head_out(m)
    if drop and not (kind == "classes" and width):
        acts += b * c_in * s * p  # the last dropout output (kept by the head's reshape)
    logits = 4
    if kind == "lm" and width:
        acts += b * s * c_in * p  # batch-major copy for the head
        logits += head_logits(b * s * width, pr.act, pr.lowp)
    elif width:
        acts += b * c_in * p  # the pooled features the classifier saves
        logits += head_logits(b * width, pr.act, pr.lowp)
    if pr.lowp:  # autocast copies of the conv and head weights
        c_prev = c_first
        for k, c in zip(m.kernel_list(), chans, strict=True):
            acts += 2 * c * c_prev * k
            c_prev = c
        acts += 2 * (width or 0) * c_prev
    return ForwardSaved(
        acts, 0, logits, backward_extra=(width or 0) * c_in * 4, formula="activations.conv1d"
    )
