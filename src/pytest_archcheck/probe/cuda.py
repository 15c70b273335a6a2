"""CUDA probe: one real steady-state step, torch.cuda.max_memory_allocated as the answer.

Same step as the fake/CPU probes (warm optimizer state, then forward, loss, backward, step,
zero_grad). OOM becomes an ARC101 finding. Afterwards everything the probe allocated is freed
and the user's model state (train/eval flags, requires_grad, CPU and CUDA RNG) is restored.

The measured step runs without any TorchDispatchMode: composite kernels allocate differently
under one (at::linear adds a non-contiguous input's bias out of place when
isTensorSubclassLike(), which a dispatch mode makes true: on an H200 the fp32 LSTM/TCN probes
measured +35 % over a plain training loop), so the answer is what the user's training
allocates. A second, unmeasured step under the storage tracker gives the FLOPs, the attention
kernel and the exact storage bytes (`extra["tracked_peak"]`); if that one runs out of memory,
FLOPs are reported as 0 with `extra["tracked_error"]`.
"""

from __future__ import annotations

import gc
from typing import Any

from ..spec.model import Spec
from .build import build_model, make_inputs, make_loss, make_optimizer
from .step import StepMeasurement, kernel_name, train_step, warm_optimizer


class CudaOOM(Exception):
    def __init__(self, message: str, numbers: dict[str, int]) -> None:
        super().__init__(message)
        self.numbers = numbers


def measure(spec: Spec, n: int, batch: int, model: Any = None) -> StepMeasurement:
    import torch

    from .tracker import StorageTracker

    if not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but torch.cuda.is_available() is False")
    own = model is None
    if own:
        model = build_model(spec)
    modes = {m: m.training for m in model.modules()}
    grads_flags = {p: p.requires_grad for p in model.parameters()}
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all()
    first = next(iter(model.parameters()), None)
    orig_device = first.device if first is not None else None
    opt = None
    oom: tuple[str, dict[str, int]] = ("", {})
    tracker = StorageTracker(count_flops=True)
    try:
        model.to("cuda")
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = make_optimizer(spec, params)
        warm_optimizer(model, opt)
        loss_fn = make_loss(spec)

        def inputs() -> Any:
            return make_inputs(spec, n, batch, "cuda", model)

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        _, _, _, loss = train_step(model, inputs, loss_fn, spec, "cuda")
        del loss
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        peak = int(torch.cuda.max_memory_allocated())
        reserved = int(torch.cuda.max_memory_reserved())
        extra: dict[str, Any] = {"memory_reserved": reserved}
        extra["loss"] = getattr(loss_fn, "used", spec.model.loss)
        flops_fwd = 0
        for t in [*model.parameters(), *model.buffers()]:
            tracker.track(t)
        for st in opt.state.values():
            for v in st.values():
                tracker.track(v)
        tracker.reset_peak()
        try:
            with tracker:
                _, _, flops_fwd, loss = train_step(
                    model, inputs, loss_fn, spec, "cuda", tracker=tracker
                )
                del loss
                opt.step()
                opt.zero_grad(set_to_none=True)
            extra["tracked_peak"] = tracker.peak
        except torch.cuda.OutOfMemoryError as e:  # measured already; only the counts are lost
            msg = str(e).splitlines()[0] if str(e) else "CUDA out of memory"
            extra["tracked_error"] = msg
            tracker.flops = flops_fwd = 0
            opt.zero_grad(set_to_none=True)
        if tracker.flop_errors:
            extra["flop_errors"] = tracker.flop_errors
        torch.cuda.synchronize()
        p_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        p_bytes += sum(b.numel() * b.element_size() for b in model.buffers())
        o_bytes = sum(
            v.numel() * v.element_size()
            for st in opt.state.values()
            for v in st.values()
            if isinstance(v, torch.Tensor) and v.is_cuda
        )
        return StepMeasurement(
            peak_bytes=peak,
            breakdown={
                "params": p_bytes,
                "grads": 0,
                "optimizer": o_bytes,
                "activations": max(0, peak - p_bytes - o_bytes),
                "temporaries": 0,
            },
            attention_kernel=kernel_name(tracker.kernels, 0, spec),
            flops_forward=flops_fwd,
            flops_train_step=tracker.flops,
            extra=extra,
        )
    except torch.cuda.OutOfMemoryError as e:
        # Raised below, after the `except` clause has dropped the traceback (whose frames hold
        # the step's tensors) and `finally` has released the memory.
        oom = (
            str(e).splitlines()[0] if str(e) else "CUDA out of memory",
            {
                "max_memory_allocated": int(torch.cuda.max_memory_allocated()),
                "memory_reserved": int(torch.cuda.memory_reserved()),
                "total_memory": int(torch.cuda.get_device_properties(0).total_memory),
            },
        )
    finally:
        tracker.stop()
        if opt is not None:
            opt.state.clear()
        for p in model.parameters():
            p.grad = None
        if not own and orig_device is not None:
            model.to(orig_device)
        for m, flag in modes.items():
            m.training = flag
        for p, flag in grads_flags.items():
            p.requires_grad_(flag)
        torch.set_rng_state(cpu_rng)
        torch.cuda.set_rng_state_all(cuda_rng)
        del opt
        gc.collect()
        torch.cuda.empty_cache()
    raise CudaOOM(*oom)
