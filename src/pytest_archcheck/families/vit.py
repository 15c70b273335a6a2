"""Vision Transformer family (`family = "transformer"`, `input = "image"`): ViT and its kin.

The image (`in_channels` x n x n, n = `[train] image_size`, else `[model] image_size`, else
224) is cut into square patches of `patch` pixels by one strided convolution (d_model x
in_channels x patch x patch, with bias), a learned class token is put in front
(`class_token`, default true), learned positions (one row per patch, plus the class token's)
are added, and pre-norm encoder blocks (the Transformer unit's blocks: q/k/v and output
projections, the MLP, two LayerNorms) attend over all (n / patch)² + 1 positions; a final norm,
then a pooler (Linear + tanh on the class token) and/or a `classes` head. Shapes are those of
transformers' `ViTModel` (tests/adapters/test_hf_conformance.py compares them exactly).

Training peak (`activations.vit`): the Transformer unit's encoder blocks at T = (n / patch)² + 1
positions, plus the image the patch convolution saves for its weight gradient, plus three
moments of ViTModel's own: the last block's residual add (ViTLayer keeps its norm output and
attention branch as locals), the end of forward under autocast (the final LayerNorm's fp32
output is the model's output; the pooler's 16-bit copies), and the backward once the pooler's
backward ran (its weight gradient alive; the final norm's and the pooler's outputs freed, as
the summed outputs hold nothing). With dropout (`hidden_dropout_prob`,
`attention_probs_dropout_prob`): the embeddings' dropout mask (the sum of patches, class token
and positions needs a gradient, so its mask is saved), and on the CPU, where attention dropout
runs SDPA's math kernel, the larger of the MLP's and the attention's backward moments of the
last block. Against the fake probe of transformers' ViTModel (2 layers, d 64-256, 64-128-px
images, batch 2 and 8, fp32/bf16, CPU and emulated CUDA, dropout 0 and 0.1): within 0.7 %
(tests/adapters/test_hf_small_widths.py, test_hf_encdec.py). The blocks are ViTModel's: separate q, k, v projections, each saving its own
16-bit cast under autocast (a fused-qkv ViT, timm's or torchvision's, is then overestimated by
2·b·T·d·2 bytes per layer). `patch_norm = true` is vit-pytorch's patch embedding: the
patches rearranged into rows of C·p² pixels, a LayerNorm over them, the Linear projection, a
LayerNorm over its output (2·C·p² + 2·d more parameters, counted); its training peak is not
modelled (refused, naming the key: the probe measures the class). There is no reference module: the probe builds the transformers class from a
config.json (or `model.factory`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..formulas.memo import per_spec
from ..formulas.registry import formula
from . import Family, ForwardSaved, Problem, Shape, register
from ._base import NotModelled
from .conv2d import ImageSide, image_side
from .transformer import bias_parts, classes_head, layer_shapes, matmul_mlp, norm_shapes

if TYPE_CHECKING:
    from ..formulas.flops import Flops
    from ..formulas.path import PathReport
    from ..runtime import Precision, Target
    from ..spec.model import ModelTable, Spec

DEFAULT_PATCH = 16


def patch_side(m: ModelTable) -> int:
    return m.patch or DEFAULT_PATCH


@formula(
    "vit.positions",
    "T = (n // patch)^2 + class_token",
    "Dosovitskiy et al. 2021, arXiv:2010.11929 (N = HW/P^2 patches, plus x_class)",
)
def vit_positions(m: ModelTable, n: int) -> int:
    """Positions the encoder attends over for an n x n image."""
    return (n // patch_side(m)) ** 2 + int(m.class_token)


@formula(
    "flops.vit",
    "F_fwd = 2*B*P*d*C*p^2 + L*(dense(B*T) + 4*B*a*T^2*hd) + pooler + head; F_train = 3*F_fwd",
    "Dosovitskiy et al. 2021; torch.utils.flop_counter (conv, addmm, sdpa)",
)
def vit_flops(spec: Spec, n: int, batch: int) -> int:
    """Forward FLOPs of a ViT on a batch of n x n images."""
    from ..formulas.flops import attention_core_flops, dense_flops, matmul_flops

    m = spec.model
    h, p, c = m.d_model, patch_side(m), m.in_channels or 3
    t, patches = vit_positions(m, n), (n // p) ** 2
    a, hd, kv = m.head_count, m.head_dim, m.kv_head_count
    dense = dense_flops(batch * t, h, a, kv, hd, m.ffn_dim, matmul_mlp(m))
    core = attention_core_flops(batch, a, t, t, hd)
    out = matmul_flops(batch * patches, c * p * p, h) + m.layers * (dense + core)
    if m.pooler:
        out += matmul_flops(batch, h, h)
    if (k := classes_head(spec)) is not None:
        out += matmul_flops(batch, h, k)
    return out


@per_spec(64)
def encoder_spec(spec: Spec, _: None) -> Spec:
    """The Transformer unit's spec of a ViT's blocks: an encoder over T embeddings (no
    positions of its own: the ViT adds them). One object per ViT spec, so that the
    Transformer formula's per-spec memos hit across the n_max search."""
    from ..spec.model import Spec as SpecModel

    m = spec.model
    return SpecModel.model_validate(
        {
            "model": {
                "family": "transformer", "input": "embeddings", "layers": m.layers,
                "d_model": m.d_model, "heads": m.heads, "d_ff": m.d_ff, "mlp": m.mlp,
                "norm": m.norm, "bias": m.bias, "biases": m.biases, "positional": "none",
                "causal": False, "pooler": m.pooler, "head": m.head, "classes": m.classes,
            },
            # the embedding dropout is the ViT's own (activations.vit counts its mask): the
            # unit would take the blocks' input for a grad-free batch the loop holds
            "train": spec.train.model_dump(exclude_none=True) | {"embedding_dropout": 0.0},
        }
    )  # fmt: skip


@formula(
    "activations.vit",
    "activations.transformer at T = (n/p)^2 + 1 (encoder, no mask) + the image the patch "
    "conv saves (b*C*n^2*p; under autocast + its weight cast, the fp32 image in forward)",
    "Dosovitskiy et al. 2021; the Transformer unit's blocks (families/transformer.py)",
)
def vit_activations(spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
    """Bytes a ViT's training forward keeps for backward: the Transformer unit's encoder blocks
    at T positions (their shapes and kernels are the same), plus what the patch embedding adds.
    Checked against the fake probe of transformers' ViTModel (tests/adapters/test_hf_encdec.py)."""
    from dataclasses import replace

    from ..runtime import Precision, attention_kernel
    from .transformer import _mlp_backward, transformer_activations

    m = spec.model
    enc = encoder_spec(spec, None)
    t = vit_positions(m, n)
    fw = transformer_activations(enc, t, batch, target)

    pr = Precision.of(spec, target)
    c, p = m.in_channels or 3, patch_side(m)
    pixels = batch * c * n * n * 4
    # the patch convolution saves its input for its weight gradient: the image itself in
    # fp32, its 16-bit cast (and the weight's) under autocast, the fp32 image then dying
    # with forward
    saved = batch * c * n * n * pr.act + (m.d_model * c * p * p * pr.act if pr.lowp else 0)
    if pr.lowp:
        # q, k and v are separate Linears in ViTModel: under autocast each saves its own
        # 16-bit cast of the fp32 norm output, two more than the fused projection counted
        saved += m.layers * 2 * batch * t * m.d_model * pr.act
    b, h, p = batch, m.d_model, pr.act
    sb, sbh = b * t, b * t * m.d_model
    if spec.train.emb_dropout > 0:
        # ViTEmbeddings' dropout (hidden_dropout_prob) on the fp32 sum of patches, class token
        # and learned positions: the Transformer unit sees a grad-free embeddings input and
        # keeps no mask, but here the sum needs a gradient, so its mask is saved (the input's
        # dtype on the CPU, fp32 even under autocast; one byte on CUDA)
        saved += sbh * (1 if target.cuda else pr.norm)
    fwd = fw.total + saved + (pixels if pr.lowp else 0)
    # What the Transformer unit counts for the final norm and the pooler (its tanh output):
    # gone before the last block returns, present at the end of forward.
    tail = (_norm_saved(m, sb, sbh, pr, target) if m.final_norm else 0) + (
        b * h * p if m.pooler else 0
    )
    # The last block's end, its residual add (ViTLayer.forward, transformers 4.57): the block
    # keeps `hidden_states_norm` (layernorm_before's output: under autocast an fp32 tensor
    # beside the 16-bit copies q/k/v save; in fp32 that very tensor is saved) and
    # `attention_output` (the attention branch, saved by nothing: the add keeps no operand) as
    # locals until it returns, and ViTOutput's add reads the fc2 (dropout) output.
    block_locals = 2 * sbh * p + (sbh * 4 if pr.lowp else 0)
    block_end = fw.activations - tail + saved + block_locals + (pixels if pr.lowp else 0)
    if m.final_norm and m.pooler and pr.lowp:
        # Under autocast the final LayerNorm's output is fp32 and is the model's output
        # (last_hidden_state, alive to the loss); the Transformer unit counted the 16-bit copy
        # a following Linear would save. The pooler's Linear saves the class token's 16-bit
        # copy (b*h*p) and holds its weight's and bias's 16-bit casts until its backward.
        fwd += sbh * (4 - p) + b * h * p + (h * h + h) * p
    # The pooler's weight and bias gradients (h*h*4 + h*4): its backward runs first, so they
    # are alive at every later backward moment the Transformer unit counts.
    pooler_grad = (h * h + h) * 4 if m.pooler else 0
    extra = fw.backward_extra + pooler_grad
    if m.pooler and m.final_norm and classes_head(spec) is None and not spec.train.checkpointing:
        # ViTModel's outputs are summed (no head): once the pooler's backward ran, nothing
        # holds the final norm's output or the pooler's tanh output. The final norm's backward
        # holds its incoming and outgoing gradients (2*sbh*4) without its output; the last
        # block's MLP backward (the Transformer unit's moment, _mlp_backward) without the
        # final norm's saved set and the block output it alone kept.
        out = sbh * (p if pr.lowp else pr.norm)
        mlp_bw = sbh * 4 - sbh * pr.norm + _mlp_backward(enc, target, sbh)
        mlp_bw -= _norm_saved(m, sb, sbh, pr, target)
        extra = max(2 * sbh * 4 - out, mlp_bw) - b * h * p + pooler_grad
        if attention_kernel(enc, target) == "math":
            # attention dropout on the CPU (SDPA's math kernel): the last block's attention
            # backward, the Transformer unit's moment with its s²-sized gradients, can be
            # the larger one (64-px images at d 64: the MLP's; 128 px: the attention's)
            math_bw = fw.backward_extra + pooler_grad
            extra = max(extra, math_bw)
    return replace(
        fw,
        activations=fw.activations + saved,
        backward_extra=extra,
        late_activations=fw.late_activations + saved,
        forward_peak=max(fw.forward_peak + saved + (pixels if pr.lowp else 0), fwd, block_end),
        formula="activations.vit",
    )


def _norm_saved(m: ModelTable, sb: int, sbh: int, pr: Precision, target: Target) -> int:
    """One norm's saved bytes as the Transformer unit counts them (its module docs):
    LayerNorm's mean and rstd plus its output (the 16-bit copy a Linear saves under autocast);
    RMSNorm's fp32 1/rms, x*rsqrt when it decomposes (CPU), and its output."""
    from ..runtime import fused_rms_norm

    if m.norm == "rmsnorm":
        return sb * 4 + (0 if fused_rms_norm(target) else sbh * 4) + sbh * pr.act
    return 2 * sb * 4 + (sbh * pr.act if pr.lowp else sbh * pr.norm)


@register
class VisionTransformer(ImageSide, Family):
    name = "vit"
    serves = ("transformer",)
    inputs = ("image",)
    summary = "Vision Transformers: patch embedding, class token, encoder blocks (ViT)"
    attention = True
    sequence = False
    models_cross_entropy = True  # a `classes` head: the probe trains on its cross-entropy
    no_behaviour = "the behavioural checks probe sequences; a ViT reads images"
    flops_formula = "flops.vit"
    path_formula = "path.attention"

    def param_shapes(self, spec: Spec) -> list[Shape]:
        """cls token, positions, patch projection, blocks, final norm, pooler, head."""
        m = spec.model
        h, p, c = m.d_model, patch_side(m), m.in_channels or 3
        norm = norm_shapes(m, h)
        out: list[Shape] = []
        if m.class_token:
            out.append((1, 1, h))
        if m.positional == "learned":
            out.append((1, vit_positions(m, m.image_size or image_side(spec)), h))
        if m.patch_norm:  # LayerNorm(C·p²), Linear(C·p² -> d), LayerNorm(d)
            out += [(c * p * p,), (c * p * p,), (h, c * p * p), (h,), (h,), (h,)]
        else:
            out += [(h, c, p, p), (h,)]
        for _ in range(m.layers):
            out += layer_shapes(m, bias_parts(m), norm)
        if m.final_norm:
            out += norm
        if m.pooler:
            out += [(h, h), (h,)]
        if (k := classes_head(spec)) is not None:
            out += [(k, h), (k,)]
        return out

    def not_modelled(self, spec: Spec) -> dict[str, NotModelled]:
        if not spec.model.patch_norm:
            return {}
        return {
            "memory": NotModelled(
                "patch_norm = true: the training-peak formula models a patch convolution; the "
                "rearranged patch copy and the two LayerNorms around the projection are not "
                "modelled",
                ("model", "patch_norm"),
                "measure it: `archcheck probe SPEC --device fake` (or `check --probe`) runs a "
                "training step of the repository's own class (model.factory)",
            )
        }

    def forward_saved(self, spec: Spec, n: int, batch: int, target: Target) -> ForwardSaved:
        if (refused := self.not_modelled(spec).get("memory")) is not None:
            raise refused
        return vit_activations(spec, n, batch, target)

    def flops(self, spec: Spec, n: int, batch: int, convention: str = "archcheck") -> Flops:
        from ..formulas.flops import Flops

        forward = vit_flops(spec, n, batch)
        return Flops(forward, 3 * forward)

    def path(self, spec: Spec, span: int | None, n: int) -> PathReport:
        from ..formulas.path import attention_path

        return attention_path(span, spec.model.layers, "full", 0, causal=False)

    def is_causal(self, spec: Spec) -> bool:
        return False

    def dimension_problems(self, spec: Spec) -> Iterator[Problem]:
        m = spec.model
        if m.head_size is None and m.d_model % m.head_count:
            yield (
                f"d_model {m.d_model} is not divisible by heads {m.head_count}",
                ("model", "heads"),
                "choose heads that divide d_model",
            )
        side = image_side(spec)
        if side % patch_side(m):
            yield (
                f"image side {side} is not a multiple of patch {patch_side(m)}: the last "
                f"{side % patch_side(m)} pixels of each row are dropped",
                ("model", "patch"),
                "choose an image size that the patch divides",
            )
        if m.image_size is not None and side != m.image_size and m.positional == "learned":
            yield (
                f"training image side {side} differs from model.image_size {m.image_size}: the "
                "position table holds the patches of model.image_size only",
                ("train", "image_size"),
                "interpolate the position table (interpolate_pos_encoding) and say so in "
                "model.image_size",
            )

    def reference_module(self, spec: Spec) -> Any:
        from ..probe.build import FactoryError

        raise FactoryError(
            "the Vision Transformer has no reference module: extend a Hugging Face "
            "config.json (with transformers installed, the probe builds the class itself) or "
            "set model.factory"
        )

    def input_width(self, spec: Spec) -> int:
        return spec.model.in_channels or 3
