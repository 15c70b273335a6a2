"""ARC104 / ARC207 / ARC304: measured reach and receptive field against the spec.

Reach is the gradient support of one interior output: the input positions whose gradient is
not exactly zero (Distill's receptive field, Araujo et al. 2019, "Computing Receptive Fields of
Convolutional Neural Networks"). Attention and recurrent models are measured as they are.
Convolutional models are measured on a positive surrogate (a deep copy whose convolutions and
linear layers average with weight 1/fan_in, zero biases, batch norm as identity, max pooling
replaced by average pooling of the same geometry), so that the support is the structural one
rather than what ReLU and argmax happen to pass at one random init. From the centre unit u of a
layer and its neighbour u + 1 come Distill's size r, effective stride j (start(u+1) - start(u))
and effective padding P = u·j - start(u).

For recurrent models the horizon is also measured through a user train-step callable
`train_step(model, x) -> outputs` that runs the model over the whole batch-first sequence x the
way training does (chunks, detach, ...) and returns per-position outputs (B, T, ...); the
horizon is max over t of (t - first position with nonzero gradient + 1), i.e. the truncation
length of truncated BPTT. Without a callable the declared train.bptt stands in.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..families import family_of
from ..findings import Finding
from ..spec.model import Spec
from ._codes import Locations, TrainStep, finding
from ._harness import (
    Inputs,
    LeafHooks,
    Leaves,
    call,
    feature_size,
    first_tensor,
    is_causal,
    probe_mode,
    seq_view,
)

TRANSFORMER_MAX_N = 64


@dataclass(frozen=True)
class Field:
    """Receptive field of one layer's units per spatial axis (Distill: r, j, P)."""

    layer: str
    size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    clipped: bool


@dataclass(frozen=True)
class Reach:
    """How far back (left) and ahead (right) the output at position t sees, in positions."""

    left: int
    right: int
    n: int
    t: int
    bounded_left: bool
    bounded_right: bool
    fields: list[Field] = field(default_factory=list)

    @property
    def receptive_field(self) -> int:
        return self.left + self.right + 1


_MAXPOOL = {f"{p}max_pool{d}d" for p in ("", "_") for d in (1, 2, 3)}
_ADAPTIVE = {f"{p}adaptive_max_pool{d}d" for p in ("", "_") for d in (1, 2, 3)}


class _AveragePools(TorchFunctionMode):
    """Max pooling passes gradient to one argmax; average pooling of the same geometry to all."""

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _MAXPOOL:
            names = (
                "input",
                "kernel_size",
                "stride",
                "padding",
                "dilation",
                "ceil_mode",
                "return_indices",
            )
            b = dict(zip(names, args, strict=False)) | kwargs
            if not b.get("return_indices"):
                return _avg_pool(b)
        if name in _ADAPTIVE:
            x, size = args[0], args[1] if len(args) > 1 else kwargs["output_size"]
            ret = args[2] if len(args) > 2 else kwargs.get("return_indices", False)
            if not ret:
                fn = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)
                return fn[int(name[-2]) - 1](x, size)
        return func(*args, **kwargs)


def _avg_pool(b: dict[str, Any]) -> Tensor:
    x: Tensor = b["input"]
    d = x.dim() - 2
    k = _tuple(b["kernel_size"], d)
    s = _tuple(b.get("stride") or b["kernel_size"], d)
    p = _tuple(b.get("padding", 0), d)
    dil = _tuple(b.get("dilation", 1), d)
    if all(v == 1 for v in dil):
        fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[d - 1]
        return fn(x, k, s, p, bool(b.get("ceil_mode", False)), True)
    c = x.shape[1]
    w = torch.full((c, 1, *k), 1.0 / math.prod(k), dtype=x.dtype)
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    return conv(x, w, None, s, p, dil, c)


def _tuple(v: Any, d: int) -> tuple[int, ...]:
    return tuple(int(i) for i in v) if isinstance(v, tuple | list) else (int(v),) * d


def surrogate(model: nn.Module, dtype: torch.dtype = torch.float64) -> nn.Module:
    """A positive, averaging deep copy of `model` whose gradient support is structural."""
    sur = copy.deepcopy(model).to(dtype).eval()
    with torch.no_grad():
        for m in sur.modules():
            if isinstance(m, nn.modules.conv._ConvNd | nn.Linear):
                m.weight.fill_(1.0 / max(1, m.weight[0].numel()))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.running_mean is not None and m.running_var is not None:
                    m.running_mean.zero_()
                    m.running_var.fill_(1.0)
                if m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
        for p in sur.parameters():
            p.requires_grad_(False)
    return sur


def _extent(g: Tensor) -> tuple[list[int], list[int]]:
    """Per spatial axis, first and last index where the summed |gradient| is nonzero."""
    supp = g.abs().sum(0) > 0
    starts, ends = [], []
    for a in range(supp.dim()):
        other = [i for i in range(supp.dim()) if i != a]
        line = supp.any(dim=other) if other else supp
        idx = torch.nonzero(line).flatten()
        starts.append(int(idx[0]) if idx.numel() else -1)
        ends.append(int(idx[-1]) if idx.numel() else -1)
    return starts, ends


def receptive_fields(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    last_only: bool = False,
    dtype: torch.dtype = torch.float64,
) -> list[Field]:
    """Measured receptive field of every conv/pool layer (modules with `kernel_size`).

    With `last_only`, just the last feature map any module completes that still has a spatial
    extent (a ResNet's last block, before global pooling). `input_shape` is (C, *spatial)
    without the batch axis. A field touching the input border is marked `clipped`: its true
    size may be larger, its stride is the input/output size ratio and its padding is not
    reliable. The user's model is not modified. float64 keeps the smallest corner gradient,
    (1/k)^L for L averaging layers of kernel k, above underflow up to L ≈ 600 layers.
    """
    sur = surrogate(model, dtype)
    outs: list[tuple[str, Tensor, bool]] = []

    def hook(name: str, kernel: bool) -> Callable[..., None]:
        return lambda _m, _a, o: outs.append((name, o, kernel)) if isinstance(o, Tensor) else None

    handles = [
        m.register_forward_hook(hook(name, hasattr(m, "kernel_size")))
        for name, m in sur.named_modules()
    ]
    x = torch.ones(1, *input_shape, dtype=dtype, requires_grad=True)
    try:
        with _AveragePools():
            sur(x)
    finally:
        for h in handles:
            h.remove()
    spatial = x.shape[2:]
    maps = [(n, o, k) for n, o, k in outs if o.dim() == x.dim() and o.requires_grad]
    if last_only:  # the last map to be completed that still has a spatial extent
        maps = [(n or "<model>", o, k) for n, o, k in maps if max(o.shape[2:]) > 1][-1:]
    else:
        maps = [(n, o, k) for n, o, k in maps if k]
    fields = []
    for name, o, _ in maps:
        sp = o.shape[2:]
        u = [s // 2 for s in sp]
        at_u: tuple[Any, ...] = (0, slice(None), *u)
        g = torch.autograd.grad(o[at_u].sum(), x, retain_graph=True)[0][0]
        start, end = _extent(g)
        clipped = any(s <= 0 for s in start) or any(e >= spatial[a] - 1 for a, e in enumerate(end))
        v = [min(c + 1, s - 1) for c, s in zip(u, sp, strict=True)]
        start2 = start
        if not clipped:  # a clipped field's start says nothing about the stride
            at_v: tuple[Any, ...] = (0, slice(None), *v)
            g2 = torch.autograd.grad(o[at_v].sum(), x, retain_graph=True)[0][0]
            start2, _ = _extent(g2)
        stride, padding = [], []
        for a in range(len(sp)):
            measured = not clipped and v[a] != u[a]
            j = start2[a] - start[a] if measured else max(1, round(spatial[a] / sp[a]))
            stride.append(j)
            padding.append(u[a] * j - start[a])
        fields.append(
            Field(
                layer=name,
                size=tuple(e - s + 1 for s, e in zip(start, end, strict=True)),
                stride=tuple(stride),
                padding=tuple(padding),
                clipped=clipped,
            )
        )
    return fields


def declared_field(spec: Spec) -> tuple[int, int]:
    """The spec's convolution stack by Distill's closed forms: (r, P) on the input.

    r = Σ_l (k_eff_l − 1) Π_{i<l} s_i + 1 with k_eff = dil·(k−1) + 1; P = Σ_l p_l Π_{i<l} s_i
    with p_l from model.padding ("same": (k_eff−1)/2, "causal" and "chomp": k_eff−1, "valid":
    0, or int).
    """
    m = spec.model
    r, jump, pad = 1, 1, 0
    for k, d, s in zip(m.kernel_list(), m.dilation_list(), m.stride_list(), strict=False):
        keff = d * (k - 1) + 1
        if isinstance(m.padding, int):
            p = m.padding
        else:
            p = {"same": (keff - 1) // 2, "causal": keff - 1, "chomp": keff - 1, "valid": 0}[
                m.padding
            ]
        r += (keff - 1) * jump
        pad += p * jump
        jump *= s
    return r, pad


def measure_reach(model: nn.Module, spec: Spec, *, n: int | None = None, seed: int = 0) -> Reach:
    """Reach of one interior output of a sequence model (or the last conv layer of a CNN)."""
    m = spec.model
    span = spec.budget.span or 0
    causal = is_causal(spec)
    inp = Inputs(spec, model, seed)
    # A token model starts with an embedding, so its convolutions cannot be fed floats
    # directly: measure it like any sequence model, by gradients at the embedding output.
    tokens = m.input == "tokens" and any(isinstance(x, nn.Embedding) for x in model.modules())
    fam = family_of(spec)
    if fam.convolutional and (not tokens or not fam.sequence):
        r_decl, _ = declared_field(spec)
        if m.input == "image":
            size = n or m.image_size or 224
            c = m.in_channels or 3
            fields = receptive_fields(model, (c, size, size), last_only=True)
        else:
            size = n or min(1 << 14, max(64, 2 * r_decl + 16, 2 * span + 16))
            fields = receptive_fields(model, (feature_size(spec, model), size), last_only=True)
        if fields:
            f = fields[-1]
            left = f.padding[0]
            right = f.size[0] - 1 - left
            return Reach(left, right, size, -1, not f.clipped, not f.clipped, fields)
    # a downsampling model (a hybrid's strided stem): output position u stands for input u·S
    stride = fam.output_stride(spec)
    if n is None:
        need = span + 1 if causal else 2 * span + 1
        cap = (TRANSFORMER_MAX_N if fam.attention else 4096) * stride
        n = max(16 * stride, min(need, cap))
    n_out = fam.output_length(spec, n)
    t_out = n_out - 1 if causal else n_out // 2
    t = t_out * stride
    with probe_mode(model):
        x = inp.make(1, n)
        with Leaves(model, x) as leaves:
            y = first_tensor(call(model, x, spec))
            ys = seq_view(y, 1, n_out)
            target = ys[:, t_out] if ys is not None else y
            support = leaves.grad_support(inp.random_sum(target), inp.seq_axis, n)
    if support is None:
        return Reach(t, n - 1 - t, n, t, False, False)
    idx = torch.nonzero(support[0]).flatten()
    lo, hi = (int(idx[0]), int(idx[-1])) if idx.numel() else (t, t)
    return Reach(t - lo, max(0, hi - t), n, t, lo > 0, hi < n - 1)


def measure_horizon(
    model: nn.Module, spec: Spec, train_step: TrainStep, *, T: int, seed: int = 0
) -> int:
    """Gradient horizon of a training pass: max over t of (t − first reached position + 1).

    One backward: the batch holds T copies (B = T) and row b contributes its output at t = b.
    """
    with probe_mode(model):
        inp = Inputs(spec, model, seed)
        x = inp.make(T, T)
        leaves = _SliceLeaves(model, x)
        with leaves:
            y = seq_view(first_tensor(train_step(model, x)), T, T)
            if y is None:
                return T
            diag = y[torch.arange(T), torch.arange(T)]  # row b's output at t = b
            support = leaves.support(inp.random_sum(diag), T)
    horizon = 0
    for b in range(T):
        idx = torch.nonzero(support[b, : b + 1]).flatten()
        if idx.numel():
            horizon = max(horizon, b - int(idx[0]) + 1)
    return horizon


class _SliceLeaves(LeafHooks):
    """Like Leaves, but for token slices x[:, i:j] passed to embeddings chunk by chunk."""

    def __init__(self, model: nn.Module, x: Tensor) -> None:
        super().__init__(model, x)
        self.leaves: list[tuple[int, Tensor]] = []  # (offset along the sequence, leaf)

    def _hook(self, module: nn.Module, args: tuple[Any, ...], out: Tensor) -> Tensor | None:
        a = args[0] if args else None
        x = self.x
        if (
            isinstance(a, Tensor)
            and a.dim() == 2
            and a.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        ):
            offset = (a.storage_offset() - x.storage_offset()) % x.stride(0) // x.stride(1)
            leaf = out.detach().requires_grad_(True)
            self.leaves.append((offset, leaf))
            return leaf
        return None

    def support(self, scalar: Tensor, T: int) -> Tensor:
        if self.x.is_floating_point():
            (g,) = torch.autograd.grad(scalar, self.x, allow_unused=True)
            if g is None:
                return torch.zeros(T, T)
            return g.abs().reshape(T, T, -1).sum(-1)
        out = torch.zeros(T, T, dtype=torch.float64)
        leaves = [leaf for _, leaf in self.leaves]
        grads = torch.autograd.grad(scalar, leaves, allow_unused=True) if leaves else []
        for (off, leaf), g in zip(self.leaves, grads, strict=True):
            if g is not None:
                out[:, off : off + leaf.shape[1]] += g.abs().reshape(T, leaf.shape[1], -1).sum(-1)
        return out


def check_reach(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    train_step: TrainStep | None = None,
    n: int | None = None,
    seed: int = 0,
) -> list[Finding]:
    """ARC104 (span not covered), ARC207 (BPTT horizon < span), ARC304 (spec ≠ model)."""
    m = spec.model
    span = spec.budget.span
    out: list[Finding] = []
    reach = measure_reach(model, spec, n=n, seed=seed)
    causal = is_causal(spec)
    data: dict[str, Any] = {
        "left": reach.left,
        "right": reach.right,
        "receptive_field": reach.receptive_field,
        "n": reach.n,
        "bounded": reach.bounded_left and reach.bounded_right,
    }
    f = reach.fields[-1] if reach.fields else None  # the last feature map's field
    if f is not None:
        data |= {"stride": f.stride, "padding": f.padding, "clipped": f.clipped}
    # declared architecture
    fam = family_of(spec)
    if fam.convolutional and f is not None:
        declared = {"kernel", "layers", "dilations", "strides"} & m.model_fields_set
        r_decl, p_decl = declared_field(spec)
        data |= {"declared_receptive_field": r_decl, "declared_padding": p_decl}
        if declared and not f.clipped and f.size[0] != r_decl:
            out.append(
                finding(
                    "ARC304",
                    f"the spec's convolution stack ({m.layers} layers, kernels "
                    f"{_compact(m.kernel_list())}, dilations {_compact(m.dilation_list())}, "
                    f"strides {_compact(m.stride_list())}) has receptive field {r_decl}, but "
                    f"the factory's model measures {f.size[0]} (gradient support of its last "
                    "feature map)",
                    path=path,
                    model=spec.name,
                    locations=locations,
                    keys=("model.layers", "model.kernel", "model.dilations"),
                    fix="make the spec describe the model the factory builds",
                    data=data,
                )
            )
    elif fam.attention and "layers" in m.model_fields_set:
        count = _attention_calls(model, spec)
        if 0 < count < m.layers:
            out.append(
                finding(
                    "ARC304",
                    f"the spec declares {m.layers} layers, but one forward of the factory's "
                    f"model runs {count} attention calls",
                    path=path,
                    model=spec.name,
                    locations=locations,
                    keys=("model.layers",),
                    fix="make model.layers match the model the factory builds",
                    data={"declared_layers": m.layers, "attention_calls": count},
                )
            )
    elif fam.recurrent and "layers" in m.model_fields_set:
        count = sum(int(r.num_layers) for r in model.modules() if isinstance(r, nn.RNNBase))
        if count and count != m.layers:
            out.append(
                finding(
                    "ARC304",
                    f"the spec declares {m.layers} recurrent layers, the model stacks {count}",
                    path=path,
                    model=spec.name,
                    locations=locations,
                    keys=("model.layers",),
                    fix="make model.layers match the model the factory builds",
                    data={"declared_layers": m.layers, "layers": count},
                )
            )
    if span is None:
        return out
    short_left = reach.bounded_left and reach.left < span
    short_right = not causal and reach.bounded_right and reach.right < span
    if short_left or short_right:
        side = "back" if short_left else "ahead"
        got = reach.left if short_left else reach.right
        out.append(
            finding(
                "ARC104",
                f"measured reach {got} positions {side} (receptive field "
                f"{reach.receptive_field}) < budget.span = {span}: the output at an interior "
                f"position does not depend on the input {span} positions {side}",
                path=path,
                model=spec.name,
                locations=locations,
                keys=("budget.span",),
                fix="add layers, dilation or stride, or use attention/recurrence for long spans",
                data=data | {"span": span},
            )
        )
    if fam.recurrent:
        horizon: int | None = None
        source = ""
        # a downsampling model's outputs are not one per input step: its horizon is not
        # measured through the train step (the declared bptt stands)
        if train_step is not None and fam.output_stride(spec) == 1:
            horizon = measure_horizon(model, spec, train_step, T=span + 1, seed=seed)
            source = "measured through the train step"
        elif spec.train.bptt is not None:
            horizon, source = spec.train.bptt, "declared train.bptt"
        if horizon is not None and horizon < span:
            out.append(
                finding(
                    "ARC207",
                    f"gradient horizon {horizon} ({source}) < budget.span = {span}: truncated "
                    f"BPTT never trains a dependency longer than {horizon} steps",
                    path=path,
                    model=spec.name,
                    locations=locations,
                    keys=("train.bptt", "budget.span"),
                    fix=f"detach the hidden state every >= {span} steps (train.bptt >= {span})",
                    data={"horizon": horizon, "span": span, "source": source},
                )
            )
    return out


def _compact(values: list[int]) -> str:
    """[3, 3, 3] -> "3 x 3"; mixed lists print as lists."""
    return f"{values[0]} x {len(values)}" if values and len(set(values)) == 1 else str(values)


def _attention_calls(model: nn.Module, spec: Spec) -> int:
    from .masks import intercept_attention

    with probe_mode(model), torch.no_grad():
        x = Inputs(spec, model).make(1, 8)
        with intercept_attention(model) as calls:
            call(model, x, spec)
    return len(calls)
