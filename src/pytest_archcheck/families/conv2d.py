"""Image CNN family: ResNet-style stacks of BasicBlocks over square images (`input = "image"`).

Reference module (families/reference/conv2d.py): a 3x3 stem conv (in_channels -> c_0, no bias)
+ BatchNorm + ReLU, then one BasicBlock per layer (3x3 conv with the layer's stride, BN, ReLU,
3x3 conv, BN, a 1x1 projection + BN shortcut when the stride or the width changes, ReLU), global
average pooling and a Linear classifier (`classes`, default 10). n is the image side
(`image_size`, default 224) everywhere: estimate, probe and budgets.

Saved bytes (p: activation bytes): the fp32 image; the stem's conv output (kept by BN) and ReLU
output, BN statistics; per block four feature maps (conv1 out, ReLU, conv2 out, final ReLU) and
the shortcut's conv output; the pooled features; logits. Forward and backward are walked tensor
by tensor (`resnet_activations`): the early-backward peak holds the pool and ReLU gradients, BN
and conv gradients of the block being differentiated beside what is still saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ..formulas.registry import formula
from . import Family, ForwardSaved, Problem, Shape, register
from ._base import LiveBytes

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


def resnet_op_latency(spec: Spec, device: Device) -> LatencyEstimate:
    """The reference ResNet's inference call op by op (`latency.conv_ops`), on a device with
    conv keys: the stem conv, BatchNorm (an empty output and the kernel: two aten ops) and
    ReLU; per BasicBlock its two 3x3 convs with their BatchNorms, ReLU between them, the 1x1
    shortcut conv and its BatchNorm where the shape changes, the residual add and ReLU; then
    the mean over the image and the classifier's addmm. The ops match the aten ops the
    reference module dispatches (tests/families/test_latency_op_count.py)."""
    from ..formulas.flops import conv_output_length
    from ..formulas.latency import ConvOp, conv_op_latency

    m, inf = spec.model, spec.infer
    side, chans = image_side(spec), m.channel_list()
    taps = KERNEL * KERNEL
    convs = [ConvOp(m.in_channels or 3, chans[0], taps, side * side)]
    moved = [(2, 2 * chans[0] * side * side), (1, 2 * chans[0] * side * side)]  # BN, ReLU
    c_in = chans[0]
    for c, st in zip(chans, m.stride_list(), strict=True):
        side = conv_output_length(side, KERNEL, st, 1, 1)
        x = c * side * side  # one output's elements
        convs += [ConvOp(c_in, c, taps, side * side), ConvOp(c, c, taps, side * side)]
        moved += [(2, 2 * x), (1, 2 * x), (2, 2 * x)]  # BN, ReLU, BN
        if st != 1 or c_in != c:
            convs.append(ConvOp(c_in, c, 1, side * side))
            moved.append((2, 2 * x))  # the shortcut's BN
        moved += [(1, 3 * x), (1, 2 * x)]  # the residual add, ReLU
        c_in = c
    moved.append((1, c_in * side * side))  # the mean over the image
    head = (inf.batch, c_in, m.classes or DEFAULT_CLASSES)
    return conv_op_latency(
        device, inf.dtype or spec.train.dtype, inf.batch, convs, elementwise=moved,
        dispatch_ops=1, head=head,  # the classifier weight's t
    )  # fmt: skip


class ImageSide:
    """n of an image model (estimate, probe and budgets alike): the image side."""

    def train_n(self, spec: Spec) -> int:
        return image_side(spec)

    def budget_n(self, spec: Spec) -> int:
        return image_side(spec)

    def infer_n(self, spec: Spec) -> int:
        return image_side(spec)


@register
class Conv2d(ImageSide, Family):
    name = "conv2d"
    serves = ("cnn",)
    inputs = ("image",)
    convolutional = True
    models_cross_entropy = True
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

        if device.per_op_conv:
            return resnet_op_latency(spec, device)
        kernels, strides, outs = layer_list(spec)
        m, inf = spec.model, spec.infer
        return conv_latency(
            device, inf.dtype or spec.train.dtype, inf.batch, image_side(spec),
            in_channels=m.in_channels or 3, channels=outs, kernels=kernels, strides=strides,
            dilations=[1] * len(kernels), padding=1, dims=2, overhead_s=overhead_s,
            head_out=m.classes or DEFAULT_CLASSES, pooled_head=True,
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
    "walk: image + stem 2*b*c0*n²*p + Σ_blocks (4 (+1 shortcut))*b*c*side²*p + BN stats + pooled;"
    " backward walked block by block (pool, ReLU, BN, conv gradients)",
    "torch.nn.Conv2d / BatchNorm2d / F.relu saved tensors, autograd's order (families/conv2d.py)",
)
def resnet_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes the reference ResNet's training step holds, walked tensor by tensor in the order
    torch allocates and frees them (the fake probe's timeline; the CUDA emulation runs the same
    kernels, every tensor rounded to the allocator's 512-byte blocks).

    Forward, per conv + BN (+ ReLU): the conv output is saved by BatchNorm (native_batch_norm
    saves its input and two per-channel statistics in the activation dtype), the BN output lives
    until the ReLU after it exists, the ReLU output is saved (threshold_backward reads it, the
    next conv saves it as its input). A block's second BN output `y` is a Python local of
    BasicBlock.forward: it lives until the final ReLU returns, beside the add's output (and the
    shortcut BN's output until the add). Autocast casts every conv weight (and the image, which
    needs no gradient) to 16 bits and the convs save the casts; the fp32 image dies with forward.

    Backward, last block first (autograd runs the ready node with the highest sequence number:
    the shortcut, created after the main path, goes first): mean's backward materialises the pool
    gradient (div, the full last feature map); threshold_backward gives the block's output
    gradient, alive until both branches consumed it (identity: until the input gradients are
    summed); BN backward and conv backward each produce a full map (plus fp32 parameter gradients;
    under autocast the weight gradient is computed in 16 bits, then copied to fp32); the two input
    gradients are summed by an add. The early-backward peak is the maximum of that walk beyond the
    end-of-forward saved set (`backward_extra`, parameter gradients included)."""
    from ..runtime import Precision

    m = spec.model
    pr = Precision.of(spec, target)
    p, lowp = pr.act, pr.lowp
    stat = p if not target.cuda else 4  # save_mean / save_invstd per channel
    b = batch
    chans = m.channel_list()
    c0 = chans[0]
    cin = m.in_channels or 3
    classes = m.classes or DEFAULT_CLASSES
    w = LiveBytes(target.cuda)

    def conv_bn(tag: str, c_out: int, c_in: int, k: int, side: int) -> int:
        """conv (+ its autocast weight cast) and BN; returns the map's bytes, BN output held."""
        if lowp:
            w.alloc(f"{tag}.wcast", c_out * c_in * k * k * 2)  # saved by the conv
        o = b * c_out * side * side * p
        w.alloc(f"{tag}.conv", o)  # saved by BN
        w.alloc(f"{tag}.bn", o)
        w.alloc(f"{tag}.mean", c_out * stat)
        w.alloc(f"{tag}.invstd", c_out * stat)
        return o

    # ---- forward -------------------------------------------------------------------------
    w.alloc("image", b * cin * n * n * 4)
    if lowp:
        w.alloc("image16", b * cin * n * n * 2)  # the cast the stem conv saves
    conv_bn("stem", c0, cin, KERNEL, n)
    w.alloc("r-1", b * c0 * n * n * p)  # ReLU output, saved
    w.free("stem.bn")
    c_in, side = c0, n
    shapes: list[tuple[int, int, int, int, bool]] = []
    for i, (c, st) in enumerate(zip(chans, m.stride_list(), strict=True)):
        out = (side + 2 - KERNEL) // st + 1
        short = st != 1 or c_in != c
        shapes.append((c_in, side, c, out, short))
        conv_bn(f"{i}.1", c, c_in, KERNEL, out)
        w.alloc(f"{i}.y1", b * c * out * out * p)  # ReLU, saved
        w.free(f"{i}.1.bn")
        conv_bn(f"{i}.2", c, c, KERNEL, out)  # its BN output is `y`, alive until return
        o = b * c * out * out * p
        if short:
            conv_bn(f"{i}.s", c, c_in, 1, out)
        w.alloc(f"{i}.add", o)
        w.free(f"{i}.s.bn")
        w.alloc(f"r{i}", o)  # the final ReLU, saved
        w.free(f"{i}.add", f"{i}.2.bn")
        c_in, side = c, out
    w.alloc("pooled", b * c_in * p)  # mean's output, saved by the classifier's mm
    if lowp:
        w.alloc("fc.wcast", classes * c_in * 2)  # saved by addmm
        w.alloc("fc.bcast", classes * 2)  # not saved: freed once forward returns
    forward_peak = w.peak
    acts = w.live
    # Cross-entropy over the classes (probe/build.py ProbeLoss): the addmm output (held by
    # the loop through backward), random int64 targets, under autocast a transient fp32 copy
    # of the logits, log_softmax's fp32 output (saved), the loss.
    logits = head_logits_bytes(b, classes, p)
    w.alloc("held", b * classes * p)
    w.alloc("targets", b * 8)
    if lowp:
        w.alloc("f32", b * classes * 4)
    w.alloc("logprobs", b * classes * 4)
    w.free("f32")
    w.alloc("logits", 4)  # the loss
    forward_peak = max(forward_peak, w.peak)

    # ---- backward ------------------------------------------------------------------------
    w.free("logits", "fc.bcast")
    if lowp:
        w.free("image")  # the fp32 image is not saved: it dies with forward's locals
    w.alloc("loss", 4, rounded=False)  # its allocator rounding is formulas/peak.py's
    w.mark()
    w.alloc("dloss", 4)  # ones_like
    # nll_loss's and log_softmax's fp32 gradients; then the log-probs and targets die;
    # autocast casts the logits' gradient back to 16 bits
    w.alloc("dnll", b * classes * 4)
    w.alloc("dlsm", b * classes * 4)
    w.free("dnll", "logprobs", "targets")
    if lowp:
        w.alloc("dlogits16", b * classes * 2)
        w.free("dlsm")
    w.alloc("dpooled", b * c_in * p)
    w.free("dlogits16", "dlsm")
    w.alloc("fc.grad", classes * c_in * 4 + classes * 4)  # fp32 parameter gradients
    w.free("pooled", "fc.wcast")
    # mean's backward: grad.expand(...) / (h*w), a full map
    w.alloc("g", b * c_in * side * side * p)
    w.free("dpooled")

    def bn_conv_backward(
        tag: str, grad: str, out: str, c_out: int, c_in_: int, k: int, defer: bool = False
    ) -> None:
        """BN backward (frees the conv output it saved), then conv backward into `out`; the
        fp32 copy of a 16-bit weight gradient is made by the cast's own node (ToCopyBackward),
        which runs after the engine has summed `out` into its input buffer when `defer`."""
        sz = w.held[f"{tag}.conv"]
        w.alloc(f"{tag}.dbn", sz)
        w.alloc(f"{tag}.pgrad", 2 * c_out * 4)  # BN weight and bias gradients, fp32
        w.free(f"{tag}.conv", f"{tag}.mean", f"{tag}.invstd")
        if grad:
            w.free(grad)
        if out:
            w.alloc(out, out_bytes[0])
        wg = c_out * c_in_ * k * k
        if lowp:
            w.alloc(f"{tag}.wg16", wg * 2)  # the 16-bit weight gradient, copied to fp32
        w.free(f"{tag}.dbn")
        w.free(f"{tag}.wcast")
        if not defer:
            w.alloc(f"{tag}.pgrad", wg * 4)
            w.free(f"{tag}.wg16")

    out_bytes = [0]
    for i in range(len(shapes) - 1, -1, -1):
        c_in, side, c, out, short = shapes[i]
        o = b * c * out * out * p
        xin = b * c_in * side * side * p
        w.alloc("t", o)  # threshold_backward of the final ReLU
        w.free("g", f"r{i}")
        out_bytes[0] = xin
        if short:
            bn_conv_backward(f"{i}.s", "", "gx.s", c, c_in, 1)
            # the main BN backward is the output gradient's last reader
            sz = w.held[f"{i}.2.conv"]
            w.alloc(f"{i}.2.dbn", sz)
            w.alloc(f"{i}.2.pgrad", 2 * c * 4)
            w.free("t")
            w.free(f"{i}.2.conv", f"{i}.2.mean", f"{i}.2.invstd")
            out_bytes[0] = o
            w.alloc("gy1", o)
            if lowp:
                w.alloc(f"{i}.2.wg16", c * c * KERNEL * KERNEL * 2)
            w.free(f"{i}.2.dbn", f"{i}.2.wcast")
            w.alloc(f"{i}.2.pgrad", c * c * KERNEL * KERNEL * 4)
            w.free(f"{i}.2.wg16")
        else:
            out_bytes[0] = o
            bn_conv_backward(f"{i}.2", "", "gy1", c, c, KERNEL)
        w.alloc("ty1", o)  # threshold_backward of the first ReLU
        w.free("gy1", f"{i}.y1")
        out_bytes[0] = xin
        bn_conv_backward(f"{i}.1", "ty1", "gx", c, c_in, KERNEL, defer=lowp)
        w.alloc("g", xin)  # the two input gradients summed
        w.free("gx.s" if short else "t", "gx")
        if lowp:  # then ToCopyBackward makes conv1's fp32 weight gradient
            w.alloc(f"{i}.1.pgrad", c * c_in * KERNEL * KERNEL * 4)
            w.free(f"{i}.1.wg16")
    # stem: ReLU and BN backward; the conv computes only its weight gradient (the image needs none)
    w.alloc("t", b * c0 * n * n * p)
    w.free("g", "r-1")
    out_bytes[0] = 0
    bn_conv_backward("stem", "t", "", c0, cin, KERNEL)
    extra = w.peak - acts
    return ForwardSaved(
        acts,
        0,
        logits,
        backward_extra=extra,
        forward_peak=forward_peak if forward_peak > acts + logits else 0,
        formula="activations.resnet",
    )


def head_logits_bytes(rows: int, classes: int, act: int) -> int:
    """End of forward under cross-entropy: the classifier's addmm output (`act` bytes), the
    fp32 log-probabilities, the random int64 targets, the scalar loss. Autocast's fp32 copy of
    the logits is not among them: it dies inside the loss, once log_softmax has run."""
    return rows * classes * (act + 4) + rows * 8 + 4


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
