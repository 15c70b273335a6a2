"""The probing harness: float64 on the CPU, eval mode, no parameter gradients, seeded inputs.

Every check runs the user's model through `probe_mode`, which restores on exit exactly what it
found: each module's train/eval flag, each parameter's tensor, gradient and requires_grad flag,
each buffer, the global RNG state and the default dtype. Inputs follow one convention
(batch first): tokens (B, n), embeddings (B, n, d), convolutional sequence input (B, C, n),
images (B, C, H, W).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from ..families import family_of
from ..findings import ArchcheckError
from ..spec.model import Spec

DTYPES: dict[str, torch.dtype] = {
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "fp32": torch.float32,
    "fp64": torch.float64,
}


def resolve_model(model_or_factory: Any, spec: Spec) -> nn.Module:
    """Accept a module, a factory callable, or a "module:callable" string."""
    obj = model_or_factory
    if isinstance(obj, str):
        mod_name, _, attr = obj.partition(":")
        target: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            target = getattr(target, part)
        obj = target
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        from ..probe.build import call_factory

        built = call_factory(obj, spec)
        if isinstance(built, nn.Module):
            return built
        raise ArchcheckError(f"factory returned {type(built).__name__}, not an nn.Module")
    raise ArchcheckError(f"expected an nn.Module or a factory, got {type(obj).__name__}")


_ACTIVE: dict[int, torch.dtype] = {}


@contextmanager
def probe_mode(
    model: nn.Module, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> Iterator[nn.Module]:
    """Run `model` in `dtype` on `device`, eval mode, frozen; put everything back afterwards.

    Re-entrant: inside an active probe_mode of the same model and dtype it only restores the
    RNG state, so run_all converts a large model once instead of once per check.
    """
    if _ACTIVE.get(id(model)) == dtype:
        rng = torch.get_rng_state()
        try:
            yield model
        finally:
            torch.set_rng_state(rng)
        return
    params: list[tuple[nn.Parameter, Tensor, bool, Tensor | None, Tensor | None]] = []
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        grad = p.grad
        params.append((p, p.data, p.requires_grad, grad, None if grad is None else grad.data))
    buffers = [
        (m, name, b) for m in model.modules() for name, b in m._buffers.items() if b is not None
    ]
    modes = [(m, m.training) for m in model.modules()]
    rng = torch.get_rng_state()
    default_dtype = torch.get_default_dtype()
    try:
        model.to(device=device, dtype=dtype)
        model.eval()
        for p, *_ in params:
            p.requires_grad_(False)
        if dtype in (torch.float32, torch.float64):
            torch.set_default_dtype(dtype)
        _ACTIVE[id(model)] = dtype
        yield model
    finally:
        _ACTIVE.pop(id(model), None)
        torch.set_default_dtype(default_dtype)
        torch.set_rng_state(rng)
        for p, data, req, grad, grad_data in params:
            p.data = data
            p.requires_grad_(req)
            if grad is not None and grad_data is not None:
                grad.data = grad_data
                p.grad = grad
        for m, name, b in buffers:
            m._buffers[name] = b
        for m, training in modes:
            m.training = training


def is_causal(spec: Spec) -> bool:
    """Causal unless declared otherwise; families without a `causal` key decide by structure
    (families/*.py `is_causal`)."""
    return family_of(spec).is_causal(spec)


def vocab_size(spec: Spec, model: nn.Module) -> int:
    if spec.model.vocab:
        return spec.model.vocab
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    return max(sizes) if sizes else 2


def feature_size(spec: Spec, model: nn.Module) -> int:
    """Width of float inputs: declared in_channels, else the first layer that states one."""
    if spec.model.in_channels:
        return spec.model.in_channels
    for m in model.modules():
        if isinstance(m, nn.RNNBase):
            return int(m.input_size)
        if isinstance(m, nn.modules.conv._ConvNd):
            return int(m.in_channels)
        if isinstance(m, nn.MultiheadAttention):
            return int(m.embed_dim)
        if isinstance(m, nn.Linear):
            return int(m.in_features)
    return spec.model.d_model


@dataclass
class Inputs:
    """Builds batch-first probe inputs for one spec and model."""

    spec: Spec
    model: nn.Module
    seed: int = 0
    gen: torch.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.gen = torch.Generator().manual_seed(self.seed)

    @property
    def kind(self) -> str:
        return family_of(self.spec).input_kind(self.spec)

    @property
    def seq_axis(self) -> int:
        return 2 if self.kind == "channels" else 1

    def tokens(self, shape: tuple[int, ...]) -> Tensor:
        """Random token ids, never the pad id."""
        vocab = vocab_size(self.spec, self.model)
        pad = self.spec.model.pad_id
        if pad is None or not 0 <= pad < vocab or vocab < 2:
            return torch.randint(0, vocab, shape, generator=self.gen)
        t = torch.randint(0, vocab - 1, shape, generator=self.gen)
        return t + (t >= pad).long()

    def make(self, batch: int, n: int) -> Tensor:
        kind = self.kind
        if kind == "tokens":
            return self.tokens((batch, n))
        c = feature_size(self.spec, self.model)
        dtype = torch.get_default_dtype()
        if kind == "channels":
            return torch.randn(batch, c, n, generator=self.gen, dtype=dtype)
        if kind == "image":
            return torch.randn(batch, c, n, n, generator=self.gen, dtype=dtype)
        return torch.randn(batch, n, c, generator=self.gen, dtype=dtype)

    def fresh_like(self, x: Tensor) -> Tensor:
        """New random values of the same shape and kind as x."""
        if x.dtype == torch.long:
            return self.tokens(tuple(x.shape))
        return torch.randn(x.shape, generator=self.gen, dtype=x.dtype)

    def random_sum(self, y: Tensor) -> Tensor:
        """(y * r).sum() for seeded r ~ N(0, 1): one scalar with the gradient support of all y.

        A plain y.sum() can cancel (softmax and normalised outputs sum to constants).
        """
        r = torch.randn(y.shape, generator=self.gen, dtype=y.dtype)
        return (y * r).sum()


def first_tensor(out: Any) -> Tensor:
    """The main output: a tensor, `logits`/`last_hidden_state`, or the first tensor inside."""
    if isinstance(out, Tensor):
        return out
    for key in ("logits", "last_hidden_state"):
        val = out.get(key) if isinstance(out, Mapping) else getattr(out, key, None)
        if isinstance(val, Tensor):
            return val
    items = out.values() if isinstance(out, Mapping) else out
    if isinstance(items, tuple | list) or isinstance(out, Mapping):
        for item in items:
            try:
                return first_tensor(item)
            except ArchcheckError:
                continue
    raise ArchcheckError(f"model output {type(out).__name__} holds no tensor")


def call(model: nn.Module, x: Tensor, spec: Spec, mask: Tensor | None = None, **kw: Any) -> Any:
    if spec.model.mask_arg:
        if mask is None:  # a model that takes a 1 = keep mask gets "keep everything"
            mask = torch.ones(x.shape[:2], dtype=torch.long)
        kw[spec.model.mask_arg] = mask
    return model(*forward_args(model, x, spec), **kw)


def forward_args(model: nn.Module, x: Tensor, spec: Spec) -> tuple[Any, ...]:
    """forward()'s positional arguments for the batch-first x, as the spec's `inputs` list
    says (the model's own layout, a hidden state from its init_hidden); else (x,)."""
    kinds = spec.model.inputs
    if not isinstance(kinds, list) or not kinds:
        return (x,)
    first = x.transpose(0, 1) if kinds[0] == "tokens:n_first" else x
    out: list[Any] = [first]
    for kind in kinds[1:]:
        if kind == "init_hidden":
            out.append(model.init_hidden(x.shape[0]))  # type: ignore[operator]
        else:
            raise ArchcheckError(f"inputs entry {kind!r} is only valid first")
    return tuple(out)


def seq_view(y: Tensor, batch: int, n: int) -> Tensor | None:
    """y as (B, n, features) when it has a sequence axis of length n, else None (pooled)."""
    if y.dim() >= 2 and y.shape[0] == batch:
        axes = [a for a in range(1, y.dim()) if y.shape[a] == n]
        if axes:
            a = 1 if 1 in axes else axes[-1]
            return y.movedim(a, 1).reshape(batch, n, -1)
    if y.dim() >= 2 and y.shape[0] == n and y.shape[1] == batch:
        return y.transpose(0, 1).reshape(batch, n, -1)
    return None


def rel_diff(a: Tensor, b: Tensor) -> float:
    """max |a - b| relative to max |a|, NaN-aware.

    NaNs in different places count as a total difference (inf); NaNs in the same places are
    equal, so a model that produces NaN still compares equal with itself.
    """
    if a.shape != b.shape:
        return float("inf")
    a64, b64 = a.detach().double(), b.detach().double()
    if not a64.numel():
        return 0.0
    nan_a, nan_b = torch.isnan(a64), torch.isnan(b64)
    if nan_a.any() or nan_b.any():
        if not torch.equal(nan_a, nan_b):
            return float("inf")
        a64, b64 = torch.nan_to_num(a64), torch.nan_to_num(b64)
    scale = max(float(a64.abs().max()), 1e-300)
    return float((a64 - b64).abs().max()) / scale


_H = TypeVar("_H", bound="LeafHooks")


class LeafHooks:
    """Make the input differentiable: float x directly, token ids through nn.Embedding hooks.

    Each nn.Embedding gets a forward hook, the subclass's `_hook`, which may turn the output
    into a grad-requiring leaf. Shared by Leaves (one call on the whole sequence) and reach's
    _SliceLeaves (a train step that embeds the tokens chunk by chunk).
    """

    def __init__(self, model: nn.Module, x: Tensor) -> None:
        self.model, self.x = model, x
        self.handles: list[Any] = []

    def __enter__(self: _H) -> _H:
        if self.x.is_floating_point():
            self.x.requires_grad_(True)
        else:
            for m in self.model.modules():
                if isinstance(m, nn.Embedding):
                    self.handles.append(m.register_forward_hook(self._hook))
        return self

    def _hook(self, module: nn.Module, args: tuple[Any, ...], out: Tensor) -> Tensor | None:
        raise NotImplementedError

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()


class Leaves(LeafHooks):
    """Differentiable stand-ins for the input: x itself, or the embedding outputs of tokens.

    Token ids cannot carry gradients, so a forward hook on every nn.Embedding that consumes the
    token tensor (the same object, or an equal copy such as tokens.long()) turns its output into
    a grad-requiring leaf; gradients are then read per position from those leaves (summed).
    Models that transform ids before embedding them get perturbation tests only.
    """

    def __init__(self, model: nn.Module, x: Tensor) -> None:
        super().__init__(model, x)
        self.leaves: list[Tensor] = [x] if x.is_floating_point() else []

    def _hook(self, module: nn.Module, args: tuple[Any, ...], out: Tensor) -> Tensor | None:
        a = args[0] if args else None
        same = a is self.x or (
            isinstance(a, Tensor) and a.shape == self.x.shape and torch.equal(a, self.x)
        )
        if same and out.dim() >= 2:
            leaf = out.detach().requires_grad_(True)
            self.leaves.append(leaf)
            return leaf
        return None

    def grad_support(self, scalar: Tensor, seq_axis: int, n: int) -> Tensor | None:
        """|d scalar / d input| summed per position: shape (B, n); None without leaves."""
        leaves = [leaf for leaf in self.leaves if leaf.shape[seq_axis] == n]
        if not leaves:
            return None
        grads = torch.autograd.grad(scalar, leaves, retain_graph=True, allow_unused=True)
        total: Tensor | None = None
        for grad in grads:
            if grad is None:
                continue
            g = grad.abs().movedim(seq_axis, 1)
            g = g.reshape(g.shape[0], n, -1).sum(-1) if g.dim() > 2 else g
            total = g if total is None else total + g
        return total


def accepts(fn: Callable[..., Any], *names: str) -> bool:
    """Whether fn's signature names every one of `names` (or takes **kwargs)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return all(n in params for n in names)
