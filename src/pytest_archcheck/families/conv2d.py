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
    """n of an image model: [train] image_size, else [model] image_size, else 224."""
    return spec.train.image_size or spec.model.image_size or DEFAULT_IMAGE_SIZE


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


# --- named image models (torchvision / timm): the main path's layers, written by hand ---------
#
# Each list is the longest input-to-output path of the model's feature extractor along one
# image axis, as (kernel, stride, dilation) per layer, read from torchvision 0.28's source
# (models/resnet.py, vgg.py, inception.py; timm's resnet50 has torchvision's layout: 7x7 stem,
# 3x3 max pool, stride on the bottleneck's 3x3). 1x1 convolutions add nothing to the receptive
# field and are left out; where parallel branches meet, the branch with the widest reach is kept
# (Inception: the double-3x3 / 7x7 factorised branches).

Layer = tuple[int, int, int]  # kernel, stride, dilation along one axis


def _resnet_path(blocks: list[int], bottleneck: bool) -> list[Layer]:
    """Stem 7x7/2 + max pool 3x3/2, then per block its 3x3 convs (BasicBlock: two, the first
    strided; Bottleneck v1.5: one, strided); stages 2-4 start with stride 2."""
    out: list[Layer] = [(7, 2, 1), (3, 2, 1)]
    for stage, count in enumerate(blocks):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            out += [(3, stride, 1)] if bottleneck else [(3, stride, 1), (3, 1, 1)]
    return out


def _vgg_path(convs: list[int]) -> list[Layer]:
    """Per stage its 3x3/1 convs then a 2x2/2 max pool (five stages)."""
    out: list[Layer] = []
    for count in convs:
        out += [(3, 1, 1)] * count + [(2, 2, 1)]
    return out


def _inception_v3_path() -> list[Layer]:
    """torchvision Inception3 up to Mixed_7c: the widest branch of every block."""
    out: list[Layer] = [(3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1)]  # 1a/2, 2a, 2b, max pool/2
    out += [(3, 1, 1), (3, 2, 1)]  # 3b is 1x1; 4a 3x3; max pool 3x3/2
    out += [(3, 1, 1), (3, 1, 1)] * 3  # Mixed_5b-d (InceptionA): 1x1, 3x3, 3x3 (or 1x1, 5x5)
    out += [(3, 1, 1), (3, 2, 1)]  # Mixed_6a (InceptionB): 1x1, 3x3, 3x3/2
    out += [(7, 1, 1), (7, 1, 1)] * 4  # Mixed_6b-e (InceptionC): 7x1, 1x7, 7x1, 1x7 per axis
    out += [(7, 1, 1), (3, 2, 1)]  # Mixed_7a (InceptionD): 1x1, 1x7, 7x1, 3x3/2
    out += [(3, 1, 1), (3, 1, 1)] * 2  # Mixed_7b-c (InceptionE): 1x1, 3x3, then 1x3 | 3x1
    return out


NAMED_PATHS: dict[str, list[Layer]] = {
    "resnet18": _resnet_path([2, 2, 2, 2], bottleneck=False),
    "resnet34": _resnet_path([3, 4, 6, 3], bottleneck=False),
    "resnet50": _resnet_path([3, 4, 6, 3], bottleneck=True),
    "resnet101": _resnet_path([3, 4, 23, 3], bottleneck=True),
    "resnet152": _resnet_path([3, 8, 36, 3], bottleneck=True),
    "vgg11": _vgg_path([1, 1, 2, 2, 2]),
    "vgg13": _vgg_path([2, 2, 2, 2, 2]),
    "vgg16": _vgg_path([2, 2, 3, 3, 3]),
    "vgg19": _vgg_path([2, 2, 4, 4, 4]),
    "inception_v3": _inception_v3_path(),
}
for _name in ("vgg11", "vgg13", "vgg16", "vgg19"):
    NAMED_PATHS[f"{_name}_bn"] = NAMED_PATHS[_name]  # BatchNorm changes no receptive field

NAMED_SOURCES = ("torchvision.models", "timm")


def named_architecture(factory: str | None) -> str | None:
    """ "torchvision.models:resnet50", "torchvision.models.resnet:resnet50" or "timm:resnet50"
    -> "resnet50" when its layer list is known, else None (read from the string: no import)."""
    if factory is None:
        return None
    module, _, name = factory.partition(":")
    if not module.startswith(NAMED_SOURCES):
        return None
    return name if name in NAMED_PATHS else None


@formula(
    "path.image_receptive_field",
    "R = 1 + Σ_l dil_l*(k_l-1)*Π_{i<l} s_i; S = Π_l s_l; reach = floor((R-1)/2)",
    "Araujo et al. 2019 (Distill) eq. 2; layer lists from torchvision 0.28 models/",
)
def image_receptive_field(layers: list[Layer]) -> tuple[int, int, int]:
    """(receptive field R px, effective stride S px, centre-to-edge reach px) of a main path:
    an output pixel sees an R x R window; adjacent outputs are S px apart; from the window's
    centre to its edge is floor((R-1)/2) px (the `reach` a span is compared with)."""
    r, jump = 1, 1
    for k, s, d in layers:
        r += d * (k - 1) * jump
        jump *= s
    return r, jump, (r - 1) // 2


def named_refusal(factory: str) -> str | None:
    """Why a spec whose factory is a named torchvision/timm model is refused, with the exact
    dependency figures (the only ones modelled for it), or None for other factories."""
    name = named_architecture(factory)
    if name is None:
        return None
    r, s, reach = image_receptive_field(NAMED_PATHS[name])
    return (
        f"{factory}: receptive field {r} px, effective stride {s} px, centre-to-edge reach "
        f"{reach} px (exact, from its layer list); its parameters, FLOPs and training memory "
        "are not modelled by the image family (ResNet BasicBlock stacks only), so no estimate "
        "is given: measure them with `archcheck probe` on a spec with your own factory"
    )
