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
from CPU ones. Nothing here creates CUDA tensors.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from ..spec.model import Spec
from .build import FactoryError, build_model, make_inputs, make_loss, make_optimizer


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


def kernel_name(seen: list[str], sdpa_calls: int, family: str) -> str | None:
    if seen:
        return seen[0]
    return "math" if sdpa_calls or family == "transformer" else None


def train_step(
    model: Any, inputs_fn: Any, loss_fn: Any, spec: Spec, device_type: str, *,
    tracker: Any = None,
) -> tuple[int, int, int, Any]:
    """Forward, loss and backward (the caller steps the optimizer).

    Returns (fwd_start, fwd_end, flops_fwd, loss); ticks and FLOPs come from `tracker`."""
    import torch

    dt = autocast_dtype(spec)
    amp = torch.autocast(device_type, dtype=dt) if dt is not None else contextlib.nullcontext()
    t0 = tracker.clock if tracker is not None else 0
    f0 = tracker.flops if tracker is not None else 0
    with sdpa_context(spec.train.attention_kernel, device_type):
        inputs = inputs_fn()
        with amp:
            out = model(*inputs)
            loss = loss_fn(out, inputs)
        t1 = tracker.clock if tracker is not None else 0
        f1 = tracker.flops if tracker is not None else 0
        del out, inputs
        loss.backward()
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


def measure(
    spec: Spec, device: str, n: int, batch: int, model: Any = None, *, debug: bool = False
) -> StepMeasurement:
    """Peak bytes of one steady-state training step: device "fake" or "cpu"."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from .tracker import StorageTracker

    tracker = StorageTracker()
    mode: Any
    if device == "fake":
        if model is None:
            try:
                with torch.device("meta"):
                    model = build_model(spec)
            except FactoryError:
                # A factory that cannot run on meta (it copies data, calls .to("cpu"), ...):
                # build it for real once; its tensors are replaced by fake ones below.
                model = build_model(spec)
        mode = FakeTensorMode(allow_non_fake_inputs=True)
    elif device == "cpu":
        if model is None:
            model = build_model(spec)
        mode = contextlib.nullcontext()
    else:
        raise ValueError(f"device must be 'fake' or 'cpu' here, not {device!r}")

    loss_fn = make_loss(spec)
    sdpa_calls = 0
    orig_sdpa = torch.nn.functional.scaled_dot_product_attention

    def counting_sdpa(*a: Any, **k: Any) -> Any:
        nonlocal sdpa_calls
        sdpa_calls += 1
        return orig_sdpa(*a, **k)

    try:
        with mode:
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
                opt = make_optimizer(spec, [p for p in params if p.requires_grad])
                warm_optimizer(model, opt)
                tracker.reset_peak()
                tracker.flops = 0
                torch.nn.functional.scaled_dot_product_attention = counting_sdpa
                try:
                    t0, t1, flops_fwd, loss = train_step(
                        model, lambda: make_inputs(spec, n, batch, "cpu"), loss_fn,
                        spec, "cpu", tracker=tracker,
                    )
                finally:
                    torch.nn.functional.scaled_dot_product_attention = orig_sdpa
                flops_train = tracker.flops
                grad_rids = {tracker.rid(p.grad) for p in params if p.grad is not None}
                del loss
                opt.step()
                opt.zero_grad(set_to_none=True)
                opt_rids = {tracker.rid(t) for t in _state_tensors(opt)}
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
    if debug:
        from collections import Counter

        ops: Counter[str] = Counter()
        for rid in live:
            r = tracker.records[rid]
            cat = (
                "p" if rid in param_rids else "o" if rid in opt_rids
                else "g" if rid in grad_rids else "a" if t0 < r.alloc <= t1 else "t"
            )
            ops[f"{cat}:{r.op}:{r.nbytes}"] += 1
        extra_debug = dict(ops)
    return StepMeasurement(
        peak_bytes=tracker.peak,
        breakdown=bd,
        attention_kernel=kernel_name(tracker.kernels, sdpa_calls, spec.model.family),
        flops_forward=flops_fwd,
        flops_train_step=flops_train,
        extra={"live_by_op": extra_debug} if debug else {},
    )
