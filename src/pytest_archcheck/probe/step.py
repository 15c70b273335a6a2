"""One tracked training step on fake tensors or on real CPU tensors.

Steady state: the probe first runs one optimizer step on zero gradients (lr = 0), so that the
optimizer state exists exactly as it does from the second step of a real run on; the peak is
then taken over one full step (forward, loss, backward, optimizer step, zero_grad(set_to_none)).
That is where real training peaks: the first step has no optimizer state yet during forward.

Mixed precision: [train] dtype bf16/fp16 keeps the model in fp32 (master weights, fp32 grads,
fp32 optimizer state) and runs forward and loss under torch.autocast(dtype) -- the same
convention as formulas/states.py (fp32 weights 4 + grads 4 + Adam 8 bytes per parameter).

The fake probe builds the model on the meta device and materialises every parameter and buffer
as a fake CPU tensor (tied parameters stay tied). It never measures on meta: meta kernels differ
from CPU ones. Nothing here creates CUDA tensors (a fake CUDA tensor aborts CPU-only torch).

CUDA emulation (`emulate="cuda"`, fake probe only): the same fake CPU tensors, but the choices
that differ between CPU and CUDA kernels are made the CUDA way, so that the fake peak tracks
torch.cuda.max_memory_allocated:

- SDPA runs the backend CUDA would pick (runtime.cuda.sdpa_backend: flash for
  fp16/bf16, efficient for fp32 without GQA, else math). A fused CUDA backend stores output +
  log-sum-exp and no dropout mask (flash and efficient regenerate it from a Philox seed), so a
  fused call runs as the fused CPU kernel with dropout_p = 0 -- memory-equivalent, same FLOPs.
  Math-only calls (fp32 GQA, spec kernel "math") run math.
- dropout runs CUDA's kernel: at::dropout takes the fused native_dropout on CUDA
  (is_fused_kernel_acceptable), which returns the output and a 1-byte bool mask at once and
  saves the mask as an *output*; F.dropout runs torch.native_dropout (it has a CPU kernel with
  the same outputs). Where the C++ side calls at::dropout itself (inside the math SDPA kernel)
  the tracker counts the CPU noise (bernoulli_) at one byte per element instead.
- RMSNorm is CUDA's fused kernel (saves input, weight, fp32 1/rms), not CPU's decomposition.
- the optimizer runs its foreach implementation (the CUDA default); Adam's step counters live
  on the host (capturable=False) and are not counted.
- every storage is counted as the caching allocator rounds it (512-byte blocks), and the two
  cuBLAS workspaces (forward/optimizer thread, autograd's device thread) are added
  (runtime.cuda.cuda_alloc_size, cublas_workspace_bytes; sources cited there).

`emulate="cpu"` keeps pure CPU semantics (fake == real CPU to the byte). Which one runs by
default is the spec's target (runtime.target_for), the same the formulas use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..spec.model import Spec
from ..timings import phase
from .build import (
    build_model,
    build_without_weights,
    make_inputs,
    make_loss,
    make_optimizer,
)


@dataclass
class StepMeasurement:
    peak_bytes: int
    breakdown: dict[str, int]
    attention_kernel: str | None
    flops_forward: int
    flops_train_step: int
    extra: dict[str, Any] = field(default_factory=dict)


def _materialise_fake(model: Any) -> None:
    """Replace meta parameters/buffers by fake CPU tensors (call inside FakeTensorMode)."""
    import torch
    from torch import nn

    memo: dict[int, Any] = {}
    for mod in model.modules():
        for name, p in list(mod._parameters.items()):
            if p is None:
                continue
            if id(p) not in memo:
                t = torch.empty_like(p, device="cpu")
                memo[id(p)] = nn.Parameter(t, requires_grad=p.requires_grad)
            mod._parameters[name] = memo[id(p)]
        for name, b in list(mod._buffers.items()):
            if b is None:
                continue
            if id(b) not in memo:
                memo[id(b)] = (
                    torch.zeros_like(b, device="cpu")
                    if b.dtype == torch.long
                    else torch.empty_like(b, device="cpu")
                )
            mod._buffers[name] = memo[id(b)]


def autocast_dtype(spec: Spec) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.train.dtype)


def sdpa_context(kernel: str, device_type: str) -> Any:
    """Restrict SDPA to the spec's kernel (math as the fallback where the backend refuses)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if kernel == "math":
        return sdpa_kernel([SDPBackend.MATH])
    if device_type == "cpu":
        # CPU has one fused kernel (flash); "efficient" maps onto it: neither stores scores.
        return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH])
    first = SDPBackend.FLASH_ATTENTION if kernel == "flash" else SDPBackend.EFFICIENT_ATTENTION
    second = SDPBackend.EFFICIENT_ATTENTION if kernel == "flash" else SDPBackend.FLASH_ATTENTION
    order = [first, second, SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH]
    try:
        return sdpa_kernel(order, set_priority=True)
    except TypeError:  # older torch without set_priority
        return sdpa_kernel(order)


def eager_linear(orig: Any) -> Any:
    """F.linear as eager PyTorch runs it *without* a dispatch mode.

    at::linear (aten/src/ATen/native/Linear.cpp) adds the bias of a non-contiguous N-d input
    in place (`output.add_(bias)`) unless `isTensorSubclassLike(bias)`, which is true whenever
    a TorchDispatchMode is active (TensorSubclassLikeUtils.h: dispatch_mode_enabled()): under
    the probe's tracker -- and under FakeTensorMode -- it would run an out-of-place `add` and
    keep one more output-sized tensor than the user's training does (measured on an H200: +35 %
    for the fp32 LSTM/TCN heads on a batch-major view of a time-major output). Under autocast
    the original is kept (its weight-cast cache is part of what training allocates).
    """
    import torch

    def linear(input: Any, weight: Any, bias: Any = None) -> Any:
        if (
            bias is None
            or not isinstance(input, torch.Tensor)
            or input.dim() == 2
            or (input.is_contiguous() and (input.dim() == 3 or bias.dim() == 1))
            or torch.is_autocast_enabled(input.device.type)
        ):
            return orig(input, weight, bias)
        return torch.matmul(input, weight.t()).add_(bias)

    return linear


@contextlib.contextmanager
def eager_semantics() -> Any:
    """Patch the functions whose composite kernels allocate differently under a dispatch mode."""
    import torch.nn.functional as F

    orig = F.linear
    F.linear = eager_linear(orig)
    try:
        yield
    finally:
        F.linear = orig


def kernel_name(seen: list[str], sdpa_calls: int, spec: Spec) -> str | None:
    """The attention kernel a step ran: the first fused one seen, else math when attention ran
    outside SDPA's fused kernels (or the family attends by construction), else None."""
    from ..families import family_of

    if seen:
        return seen[0]
    return "math" if sdpa_calls or family_of(spec).attention else None


def train_step(
    model: Any,
    inputs_fn: Any,
    loss_fn: Any,
    spec: Spec,
    device_type: str,
    *,
    tracker: Any = None,
) -> tuple[int, int, int, Any]:
    """Forward, loss and backward (the caller steps the optimizer).

    Returns (fwd_start, fwd_end, flops_fwd, loss); ticks and FLOPs come from `tracker`."""
    import torch

    dt = autocast_dtype(spec)
    amp = torch.autocast(device_type, dtype=dt) if dt is not None else contextlib.nullcontext()
    t0 = tracker.clock if tracker is not None else 0
    f0 = tracker.flops if tracker is not None else 0
    with sdpa_context(spec.train.attention_kernel, device_type), eager_semantics():
        inputs = inputs_fn()
        with amp:
            out = model(*inputs)
            loss = loss_fn(out, inputs)
        t1 = tracker.clock if tracker is not None else 0
        f1 = tracker.flops if tracker is not None else 0
        # the default cross-entropy keeps the logits alive through backward, as a training
        # loop holding the model's output object does (build.py ProbeLoss.holds_output)
        held = out if getattr(loss_fn, "holds_output", False) else None
        del out, inputs
        loss.backward()
        del held
    return t0, t1, f1 - f0, loss


def warm_optimizer(model: Any, opt: Any) -> None:
    """Allocate optimizer state as a real run has it from step 2 on (zero grads, lr = 0)."""
    import torch

    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)


def _state_tensors(opt: Any) -> list[Any]:
    import torch

    out = []
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, torch.Tensor):
                out.append(v)
    return out


def default_emulation(spec: Spec) -> str:
    """The fake probe's semantics: the spec's target kind (runtime.target_for), so that the
    formula estimate and the fake measurement model the same kernels."""
    from ..runtime import target_for

    return target_for(spec).kind


def cuda_sdpa(spec: Spec, orig: Any, seen: list[str]) -> Any:
    """F.scaled_dot_product_attention routed as CUDA would route it (see module docs)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from ..runtime.cuda import sdpa_backend as cuda_sdpa_backend

    low = (torch.float16, torch.bfloat16)

    def sdpa(
        query: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale: float | None = None,
        enable_gqa: bool = False,
    ) -> Any:
        kw = {"attn_mask": attn_mask, "is_causal": is_causal, "scale": scale}
        if enable_gqa:
            kw["enable_gqa"] = True
        lowp = query.dtype in low or (
            torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") in low
        )
        backend = (
            "math"
            if spec.train.attention_kernel == "math"
            else cuda_sdpa_backend(
                lowp=lowp,
                head_dim=int(query.shape[-1]),
                gqa=bool(enable_gqa) and int(key.shape[-3]) != int(query.shape[-3]),
                attn_mask=attn_mask is not None,
                prefer=spec.train.attention_kernel,
            )
        )
        if backend != "math":
            try:
                with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                    out = orig(query, key, value, dropout_p=0.0, **kw)
                seen.append(backend)
                return out
            except RuntimeError:  # the CPU flash kernel refuses this call: math below
                pass
        seen.append("math")
        with sdpa_kernel([SDPBackend.MATH]):
            return orig(query, key, value, dropout_p=dropout_p, **kw)

    return sdpa


def cuda_rms_norm(orig: Any) -> Any:
    """F.rms_norm as CUDA runs it: at::rms_norm calls at::_fused_rms_norm (layer_norm.cpp,
    unless the weight's dtype differs from the input's), whose CUDA kernel saves the input,
    the weight and the fp32 1/rms for backward; on CPU the same op is CompositeImplicit and
    its decomposition also keeps x·rsqrt (activation-wide). Emulated by an autograd Function
    that saves what the CUDA kernel saves; its backward is aten._fused_rms_norm_backward,
    whose meta kernel (the probe runs on fake tensors) allocates what the CUDA kernel returns:
    the input's gradient and the weight's. (A backward written with tensor ops kept four
    activation-wide fp32 temporaries that the CUDA kernel never allocates.)"""
    import torch

    class FusedRMSNorm(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, w: Any, ndim: int, eps: float) -> Any:
            dims = tuple(range(-ndim, 0))
            rstd = torch.rsqrt(x.float().pow(2).mean(dims, keepdim=True) + eps)
            out = (x * rstd).to(x.dtype)
            if w is not None:
                out = out * w
            ctx.ndim = ndim
            ctx.save_for_backward(x, w, rstd)
            return out

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            x, w, rstd = ctx.saved_tensors
            shape = list(x.shape[x.dim() - ctx.ndim :])
            mask = [ctx.needs_input_grad[0], w is not None and ctx.needs_input_grad[1]]
            gx, gw = torch.ops.aten._fused_rms_norm_backward(g, x, shape, rstd, w, mask)
            return gx, gw, None, None

    def rms_norm(
        input: Any, normalized_shape: Any, weight: Any = None, eps: float | None = None
    ) -> Any:
        if input.is_complex() or (weight is not None and weight.dtype != input.dtype):
            return orig(input, normalized_shape, weight, eps)
        e = eps if eps is not None else torch.finfo(input.dtype).eps
        return FusedRMSNorm.apply(  # type: ignore[no-untyped-call]
            input, weight, len(tuple(normalized_shape)), e
        )

    return rms_norm


def cuda_dropout(orig: Any) -> Any:
    """F.dropout as CUDA runs it. at::dropout (aten/src/ATen/native/Dropout.cpp) takes the fused
    at::native_dropout when is_fused_kernel_acceptable (a CUDA tensor, 0 < p < 1, numel > 0):
    one kernel returns the output and a bool mask, and autograd saves the mask as an output
    (derivatives.yaml: native_dropout -> result1), i.e. after both exist. CPU's _dropout_impl
    builds noise = empty_like(x).bernoulli_() and returns x * noise, whose node saves the noise
    as an *input*, before the product is allocated. The difference shows where
    torch.utils.checkpoint's non-reentrant recomputation stops early (at the pack of the last
    saved tensor): on CUDA the last dropout's output exists then, on CPU it does not.
    torch.native_dropout has a CPU kernel with CUDA's outputs, so the emulation runs it.
    In-place dropout is never fused (at::dropout_ -> _dropout<true>): it keeps `orig`."""
    import torch

    def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
        if (
            training
            and not inplace
            and 0 < p < 1
            and isinstance(input, torch.Tensor)
            and input.numel() > 0
        ):
            return torch.native_dropout(input, p, True)[0]
        return orig(input, p, training, inplace)

    return dropout


@dataclass
class KernelLog:
    """What the measured step ran: SDPA calls, and under CUDA emulation each call's backend."""

    sdpa_calls: int = 0
    emulated: list[str] = field(default_factory=list)
    cuda: bool = False

    def attention_kernel(self, tracker: Any, spec: Spec) -> str | None:
        return kernel_name(self.emulated if self.cuda else tracker.kernels, self.sdpa_calls, spec)


@contextlib.contextmanager
def step_kernels(spec: Spec, tracker: Any, cuda: bool) -> Iterator[KernelLog]:
    """The kernels of the measured step (one training step, probe/step.py and the sharded
    probe alike): SDPA calls are counted; under CUDA emulation SDPA, dropout and RMSNorm run
    the CUDA way and CPU dropout noise counts one byte per element (module docs). The torch
    functions are restored on exit, also when the step raises."""
    import torch.nn.functional as F

    log = KernelLog(cuda=cuda)
    orig_sdpa, orig_rms, orig_dropout = F.scaled_dot_product_attention, F.rms_norm, F.dropout
    inner_sdpa = cuda_sdpa(spec, orig_sdpa, log.emulated) if cuda else orig_sdpa

    def counting_sdpa(*a: Any, **k: Any) -> Any:
        log.sdpa_calls += 1
        return inner_sdpa(*a, **k)

    F.scaled_dot_product_attention = counting_sdpa
    tracker.byte_noise = cuda
    if cuda:
        F.rms_norm = cuda_rms_norm(orig_rms)
        F.dropout = cuda_dropout(orig_dropout)
    try:
        yield log
    finally:
        F.scaled_dot_product_attention = orig_sdpa
        F.rms_norm = orig_rms
        F.dropout = orig_dropout
        tracker.byte_noise = False


def tracked_optimizer_step(tracker: Any, params: list[Any], opt: Any) -> tuple[set[Any], set[Any]]:
    """The measured step's optimizer step and zero_grad(set_to_none=True); returns the record
    ids of the gradients it consumed and of the optimizer state, to classify the peak's
    storages."""
    grad_rids = {tracker.rid(p.grad) for p in params if p.grad is not None}
    opt.step()
    opt.zero_grad(set_to_none=True)
    return grad_rids, {tracker.rid(t) for t in _state_tensors(opt)}


def forget_host_step_counters(tracker: Any, opt: Any) -> None:
    """CUDA: Adam's step counters are host tensors (capturable=False, fused=False defaults in
    torch/optim/adam.py), not device memory: stop counting them."""
    import torch

    for st in opt.state.values():
        step = st.get("step")
        if isinstance(step, torch.Tensor):
            tracker.forget(step)


def add_cublas_workspaces(spec: Spec, m: StepMeasurement) -> None:
    """CUDA: the two cuBLAS workspaces (runtime.cuda) on top of the tracked storages."""
    from ..runtime.cuda import CUBLAS_WORKSPACES_PER_STEP, cublas_workspace_bytes

    ws = CUBLAS_WORKSPACES_PER_STEP * cublas_workspace_bytes(spec.budget.device)
    m.peak_bytes += ws
    m.breakdown["temporaries"] += ws
    m.extra["cublas_workspace"] = ws
    m.extra["emulate"] = "cuda"


def measure(
    spec: Spec,
    device: str,
    n: int,
    batch: int,
    model: Any = None,
    *,
    debug: bool = False,
    emulate: str = "cpu",
) -> StepMeasurement:
    """Peak bytes of one steady-state training step: device "fake" or "cpu".

    emulate="cuda" (fake only) makes CUDA's kernel and allocator choices (module docs)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from ..runtime.cuda import cuda_alloc_size
    from .tracker import StorageTracker

    if emulate not in ("cpu", "cuda"):
        raise ValueError(f"emulate must be 'cpu' or 'cuda', not {emulate!r}")
    cuda = emulate == "cuda"
    if cuda and device != "fake":
        raise ValueError("emulate='cuda' needs device='fake'")
    tracker = StorageTracker(alloc_size=cuda_alloc_size if cuda else None)
    mode: Any
    if device == "fake":
        mode = FakeTensorMode(allow_non_fake_inputs=True)
        if model is None:
            with phase("build"):
                model = build_without_weights(spec, mode)
    elif device == "cpu":
        if model is None:
            with phase("build"):
                model = build_model(spec)
        mode = contextlib.nullcontext()
    else:
        raise ValueError(f"device must be 'fake' or 'cpu' here, not {device!r}")

    loss_fn = make_loss(spec)
    try:
        with mode, phase("step"):
            if device == "fake":
                _materialise_fake(model)
            model.train()
            with tracker:
                params = [p for p in model.parameters()]
                for p in params:
                    tracker.track(p)
                for b in model.buffers():
                    tracker.track(b)
                param_rids = {tracker.rid(t) for t in [*params, *model.buffers()]}
                opt = make_optimizer(
                    spec, [p for p in params if p.requires_grad], foreach=True if cuda else None
                )
                warm_optimizer(model, opt)
                if cuda:
                    forget_host_step_counters(tracker, opt)
                tracker.reset_peak()
                tracker.flops = 0
                with step_kernels(spec, tracker, cuda) as kernels:
                    t0, t1, flops_fwd, loss = train_step(
                        model,
                        lambda: make_inputs(spec, n, batch, "cpu", model),
                        loss_fn,
                        spec,
                        "cpu",
                        tracker=tracker,
                    )
                flops_train = tracker.flops
                del loss
                grad_rids, opt_rids = tracked_optimizer_step(tracker, params, opt)
    finally:
        tracker.stop()
    live = tracker.live_at(tracker.peak_clock)
    extra_debug: dict[str, int] = {}
    bd = {"params": 0, "grads": 0, "optimizer": 0, "activations": 0, "temporaries": 0}
    for rid in live:
        nb = tracker.records[rid].nbytes
        alloc = tracker.records[rid].alloc
        if rid in param_rids:
            bd["params"] += nb
        elif rid in opt_rids:
            bd["optimizer"] += nb
        elif rid in grad_rids:
            bd["grads"] += nb
        elif t0 < alloc <= t1:
            bd["activations"] += nb
        else:
            bd["temporaries"] += nb
    assert sum(bd.values()) == tracker.peak, (bd, tracker.peak)
    extra: dict[str, Any] = {"loss": getattr(loss_fn, "used", spec.model.loss)}
    if cuda:
        extra["tracked_peak"] = tracker.peak
    if debug:
        from collections import Counter

        ops: Counter[str] = Counter()
        for rid in live:
            r = tracker.records[rid]
            cat = (
                "p"
                if rid in param_rids
                else "o"
                if rid in opt_rids
                else "g"
                if rid in grad_rids
                else "a"
                if t0 < r.alloc <= t1
                else "t"
            )
            ops[f"{cat}:{r.op}:{r.nbytes}"] += 1
        extra_debug = dict(ops)
    if debug:
        extra["live_by_op"] = extra_debug
    if tracker.flop_errors:
        extra["flop_errors"] = tracker.flop_errors
    result = StepMeasurement(
        peak_bytes=tracker.peak,
        breakdown=bd,
        attention_kernel=kernels.attention_kernel(tracker, spec),
        flops_forward=flops_fwd,
        flops_train_step=flops_train,
        extra=extra,
    )
    if cuda:
        add_cublas_workspaces(spec, result)
    return result
