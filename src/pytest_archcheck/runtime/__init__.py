"""Kernel semantics in one place: what torch actually runs for a training step on a target.

The family formulas (families/*.py) describe what a model *is*; how many bytes its forward keeps
and what a step allocates on top depend on which kernels run, and that depends on where it
runs. Everything of that kind lives here, keyed by a `Target` (cpu or cuda, the device class
from [budget] device, and the torch version whose source the rules were read from):

- the attention kernel SDPA picks (`attention_kernel`; CUDA's rules in runtime/cuda.py);
- bytes per element of saved activations, norm statistics and dropout masks (`Precision`);
- whether RMSNorm is one fused kernel (CUDA) or decomposed (CPU);
- the optimizer step's temporaries (CUDA: foreach, CPU: a for-loop; `step_temporaries`);
- oneDNN's LSTM workspace (runtime/cpu.py), cuBLAS workspaces and the caching allocator's
  512-byte rounding (runtime/cuda.py).

`estimate` and `probe --device fake` both ask `target_for(spec)` and print its label, so the
formula and the fake-tensor measurement always model the same kernels. With no [budget] device
the target is CUDA with Hopper-class defaults (the GPUs training runs on); `[budget] device =
"cpu"` selects the CPU target; `--target` on `estimate` and `probe` overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..formulas.registry import formula

if TYPE_CHECKING:
    from ..spec.model import Spec

TargetKind = Literal["cpu", "cuda"]
TARGETS: tuple[TargetKind, ...] = ("cpu", "cuda")
# The torch release whose kernel-selection source these rules were read from (sdp_utils.cpp,
# CUDACachingAllocator.cpp, CublasHandlePool.cpp, torch/optim/_functional defaults).
TORCH_SEMANTICS = "2.13"


@dataclass(frozen=True)
class Target:
    """Where a training step runs, as far as memory is concerned."""

    kind: TargetKind
    device: str | None = None  # [budget] device name (None: generic for the kind)
    torch: str = TORCH_SEMANTICS

    @property
    def cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def label(self) -> str:
        """What `estimate` and `probe` print, e.g. "cuda (H100-80GB)"."""
        if self.kind == "cpu":
            return "cpu"
        return f"cuda ({self.device})" if self.device else "cuda (no [budget] device: Hopper-class)"

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "device": self.device, "torch": self.torch, "label": self.label}


def target_for(spec: Spec, kind: str | None = None) -> Target:
    """The target of a spec: `kind` when given (--target), else cpu when [budget] device is
    "cpu", else cuda on the budget's device (generic Hopper-class when none is named)."""
    device = spec.budget.device
    is_cpu = (device or "").strip().lower() == "cpu"
    if kind is None:
        kind = "cpu" if is_cpu else "cuda"
    if kind not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {kind!r}")
    return Target("cpu" if kind == "cpu" else "cuda", None if is_cpu else device)


@dataclass(frozen=True)
class Precision:
    """Bytes per element of the tensors a forward saves."""

    act: int  # matmul / attention / MLP outputs
    norm: int  # norm statistics, residual stream, embeddings (fp32 under autocast)
    mask: int  # dropout masks: CPU keeps the activation's dtype, CUDA's fused dropout 1 byte
    lowp: bool  # autocast (bf16/fp16) with fp32 master weights

    @classmethod
    def of(cls, spec: Spec, target: Target) -> Precision:
        lowp = spec.train.dtype in ("bf16", "fp16")
        act = 2 if lowp else 4
        return cls(act=act, norm=4, mask=1 if target.cuda else act, lowp=lowp)


def fused_rms_norm(target: Target) -> bool:
    """CUDA runs at::_fused_rms_norm as one kernel (saves input + fp32 1/rms); on CPU it
    decomposes and autograd keeps rsqrt and x·rsqrt as well."""
    return target.cuda


def attention_kernel(
    spec: Spec, target: Target, kernel: str | None = None, masked: bool | None = None
) -> str:
    """The SDPA kernel that actually runs: "math" when asked for; on CPU the one fused kernel
    (flash) refuses dropout, so math runs instead; CUDA follows cuda.sdpa_backend's rules.
    `masked`: whether the call passes a mask (default: the windowed layers do; the global
    layers of a `global_every` stack pass none)."""
    from .cuda import sdpa_backend

    k = kernel or spec.train.attention_kernel
    if k == "math":
        return "math"
    if not target.cuda:
        return "math" if spec.train.attn_dropout > 0 else "flash"
    m = spec.model
    return sdpa_backend(
        lowp=spec.train.dtype in ("bf16", "fp16"),
        head_dim=m.head_dim,
        gqa=m.kv_head_count != m.head_count,
        attn_mask=bool(m.attention in ("sliding", "local") and m.window)
        if masked is None
        else masked,
        prefer=k,
    )


@formula(
    "runtime.step_temporaries",
    "Adam/AdamW cuda foreach 4P, cpu loop max_i 4*(2*k_i + k_(i-1)); SGD 0 (in place); Adafactor "
    "cuda 4P, cpu max_i 4*(var_i + rows_i + cols_i + prev)",
    "torch/optim/adam.py, sgd.py, _adafactor.py: foreach vs single-tensor implementations",
)
def step_temporaries(target: Target, optimizer: str, shapes: list[tuple[int, ...]]) -> int:
    """Bytes the optimizer step allocates on top of params, grads and state (fp32).

    - Adam/AdamW: CUDA's default foreach step materialises a copy of every second moment
      (torch._foreach_sqrt); the CPU loop (torch/optim/adam.py, _single_tensor_adam) builds
      tensor i's `denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)` -- the sqrt
      and the div, both its full size -- while the previous tensor's `denom` is still the
      loop's local (it is rebound only once the new one exists).
    - SGD, SGD-momentum: in place in both implementations (buf.mul_().add_(grad),
      param.add_(buf)): nothing.
    - Adafactor: foreach builds each group's var_estimates (all multi-dim tensors, then all
      1-D ones) while the other group's list is still referenced: a copy of every parameter.
      The loop builds tensor i's var_estimate (its full size) while its row mean
      (prod(shape[:-1])), column mean and the previous tensor's update are alive; a 1-D tensor
      holds grad*grad and a clone of its variance.
    """
    from math import prod

    P = sum(prod(sh) for sh in shapes)
    if optimizer in ("sgd", "sgd-momentum"):
        return 0
    worst = prev = 0
    if optimizer in ("adam", "adamw"):
        if target.cuda:
            return 4 * P
        for sh in shapes:
            k = prod(sh)
            worst = max(worst, 4 * (2 * k + prev))
            prev = k
        return worst
    if target.cuda:
        return 4 * P
    for sh in shapes:
        k = prod(sh)
        cur = k + prod(sh[:-1]) + prod(sh[:-2]) * sh[-1] if len(sh) > 1 else 2 * k
        worst = max(worst, 4 * (cur + prev))
        prev = k
    return worst
