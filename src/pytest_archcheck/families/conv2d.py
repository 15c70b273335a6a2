"""Image CNN family: ResNet-style stacks of BasicBlocks over square images (`input = "image"`).

Reference module (families/reference/conv2d.py): a 3x3 stem conv (in_channels -> c_0, no bias)
+ BatchNorm + ReLU, then one BasicBlock per layer (3x3 conv with the layer's stride, BN, ReLU,
3x3 conv, BN, a 1x1 projection + BN shortcut when the stride or the width changes, ReLU), global
average pooling and a Linear classifier (`classes`, default 10). n is the image side
(`image_size`, default 224) everywhere: estimate, probe and budgets.

Saved bytes (p: activation bytes): the fp32 image; the stem's conv output (kept by BN) and ReLU
output, BN statistics; per block four feature maps (conv1 out, ReLU, conv2 out, final ReLU) and
the shortcut's conv output; the pooled features; logits. Early backward adds the last block's
input (or output) gradient.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ..formulas.registry import formula
from . import Family, ForwardSaved, Problem, Shape, register

if TYPE_CHECKING:
    from ..formulas.devices import Device
    from ..formulas.flops import Flops
    from ..formulas.latency import LatencyEstimate
    from ..formulas.path import PathReport
    from ..runtime import Target
    from ..spec.model import Spec

DEFAULT_IMAGE_SIZE = 224
DEFAULT_CLASSES = 10
KERNEL = 3  # BasicBlock convolutions


def image_side(spec: Spec) -> int:
    return spec.model.image_size or DEFAULT_IMAGE_SIZE


def layer_list(spec: Spec) -> tuple[list[int], list[int], list[int]]:
    """Every conv on the main path in order: (kernels, strides, out_channels), stem first."""
    m = spec.model
    chans = m.channel_list()
    kernels, strides, outs = [KERNEL], [1], [chans[0]]
    for c, st in zip(chans, m.stride_list(), strict=True):
        kernels += [KERNEL, KERNEL]
        strides += [st, 1]
        outs += [c, c]
    return kernels, strides, outs


@register
class Conv2d(Family):
    name = "conv2d"
    serves = ("cnn",)
    inputs = ("image",)
    convolutional = True
    flops_formula = "flops.resnet"
    latency_formula = "latency.conv_stack"
    path_formula = "path.conv"
    formula_names: ClassVar[dict[str, str]] = {
        "reach": "path.conv_reach",
        "receptive_field": "path.receptive_field",
        "path_length": "path.conv_path_length",
    }
    summary = "ResNet-style image CNNs (BasicBlocks, BatchNorm, pooled classifier)"
    sequence = False

    def param_shapes(self, spec: Spec) -> list[Shape]:
        m = spec.model
        chans = m.channel_list()
        out: list[Shape] = [
            (chans[0], m.in_channels or 3, KERNEL, KERNEL),
            (chans[0],),
            (chans[0],),
        ]
        c_in = chans[0]
        for c, st in zip(chans, m.stride_list(), strict=True):
            out += [(c, c_in, KERNEL, KERNEL), (c,), (c,), (c, c, KERNEL, KERNEL), (c,), (c,)]
            if st != 1 or c_in != c:
                out += [(c, c_in, 1, 1), (c,), (c,)]
            c_in = c
        classes = m.classes or DEFAULT_CLASSES
        return [*out, (classes, c_in), (classes,)]

    def buffer_bytes(self, spec: Spec) -> int:
        """BatchNorm running mean and variance (fp32) and the int64 batch counter, per BN."""
        m = spec.model
        chans = m.channel_list()
        bns = [chans[0]]
        c_in = chans[0]
        for c, st in zip(chans, m.stride_list(), strict=True):
            bns += [c, c] + ([c] if (st != 1 or c_in != c) else [])
            c_in = c
        return sum(2 * 4 * c + 8 for c in bns)

    def train_n(self, spec: Spec) -> int:
        return image_side(spec)

    def budget_n(self, spec: Spec) -> int:
        return image_side(spec)

    def infer_n(self, spec: Spec) -> int:
        return image_side(spec)

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        return resnet_activations(spec, n, batch, target)

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        return resnet_flops(spec, n, batch)

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        from ..formulas.path import conv_path

        kernels, strides, _ = layer_list(spec)
        return conv_path(span, kernels, [1] * len(kernels), strides, True)

    def latency(self, spec: Spec, device: Device, overhead_s: float) -> LatencyEstimate:
        from ..formulas.latency import conv_latency

        kernels, strides, outs = layer_list(spec)
        m, inf = spec.model, spec.infer
        return conv_latency(
            device, inf.dtype or spec.train.dtype, inf.batch, image_side(spec),
            in_channels=m.in_channels or 3, channels=outs, kernels=kernels, strides=strides,
            dilations=[1] * len(kernels), padding=1, dims=2, overhead_s=overhead_s,
        )  # fmt: skip

    def is_causal(self, spec: Spec) -> bool:
        return False

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        m = spec.model
        if any(k != KERNEL for k in m.kernel_list()) and m.kernel is not None:
            yield (
                f"the image family models ResNet BasicBlocks of {KERNEL}x{KERNEL} convolutions; "
                f"model.kernel = {m.kernel} is not modelled",
                ("model", "kernel"),
                "remove model.kernel (and describe your own network with a factory)",
            )
        if m.dilations is not None and any(d != 1 for d in m.dilations):
            yield (
                "the image family models undilated ResNet BasicBlocks; model.dilations is not "
                "modelled",
                ("model", "dilations"),
                "remove model.dilations",
            )

    def input_width(self, spec: Spec) -> int:
        return spec.model.in_channels or 3

    def reference_module(self, spec: Spec) -> Any:
        from .reference.conv2d import ResNet

        return ResNet(spec)


@formula(
    "flops.resnet",
    "F_fwd = Σ_convs 2*B*side_out²*c_in*c_out*k² + 2*B*c*classes; F_train = 3*F_fwd",
    "torch.utils.flop_counter.conv_flop_count; He et al. 2016 BasicBlock",
)
def resnet_flops(spec: Spec, n: int, batch: int) -> Flops:
    """FLOPs of the reference ResNet at image side n: stem, both 3x3 convs of every block and
    its 1x1 projection shortcut, and the classifier (convolutions and matmuls only)."""
    from ..formulas.flops import Flops

    m = spec.model
    chans = m.channel_list()
    c0 = chans[0]
    fwd = 2 * batch * n * n * (m.in_channels or 3) * c0 * KERNEL * KERNEL
    c_in, side = c0, n
    for c, st in zip(chans, m.stride_list(), strict=True):
        out = (side + 2 - KERNEL) // st + 1
        fwd += 2 * batch * out * out * c_in * c * KERNEL * KERNEL  # conv1 (stride st)
        fwd += 2 * batch * out * out * c * c * KERNEL * KERNEL  # conv2
        if st != 1 or c_in != c:
            fwd += 2 * batch * out * out * c_in * c  # 1x1 projection
        c_in, side = c, out
    fwd += 2 * batch * c_in * (m.classes or DEFAULT_CLASSES)
    return Flops(fwd, 3 * fwd)


@formula(
    "activations.resnet",
    "image + stem 2*b*c0*n²*p + Σ_blocks (4 (+1 shortcut))*b*c*side²*p + BN stats + pooled",
    "torch.nn.Conv2d / BatchNorm2d / F.relu saved tensors (families/conv2d.py)",
)
def resnet_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes the reference ResNet's training forward keeps for backward (see the module docs)."""
    from ..runtime import Precision

    m = spec.model
    p = Precision.of(spec, target).act
    b = batch
    chans = m.channel_list()
    c0 = chans[0]
    acts = b * (m.in_channels or 3) * n * n * 4  # the image
    acts += 2 * b * c0 * n * n * p + 2 * c0 * 4  # stem conv out (kept by BN), ReLU out, stats
    c_in, side = c0, n
    last_in = last_out = 0
    last_short = False
    for c, st in zip(chans, m.stride_list(), strict=True):
        out_side = (side + 2 - KERNEL) // st + 1
        o = b * c * out_side * out_side * p
        acts += 4 * o + 2 * 2 * c * 4  # c1 out, ReLU, c2 out, final ReLU; two BNs' stats
        short = st != 1 or c_in != c
        if short:
            acts += o + 2 * c * 4
        last_in, last_out = b * c_in * side * side * p, o
        last_short = short
        c_in, side = c, out_side
    acts += b * c_in * p  # pooled features
    logits = b * (m.classes or DEFAULT_CLASSES) * p + 4
    # Backward of the last block: its output gradient and one BN gradient are alive while the
    # shortcut (or identity path) produces the input gradient.
    extra = last_in if last_short else last_out
    return ForwardSaved(acts, 0, logits, backward_extra=extra, formula="activations.resnet")
