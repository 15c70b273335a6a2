"""Probe: build the model and measure one training step (fake tensors, CPU or CUDA).

Public API (torch is imported lazily, inside the functions):

- `run(spec, device="fake"|"cpu"|"cuda", n=None, batch=None, latency=False, subprocess=False,
  timeout=600.0, path=None, line=None, model=None) -> ProbeResult`
- `search_n_max(spec, budget_bytes, device="fake", granularity=None) -> (n_max, probes)`

What is measured: the peak of live bytes over one steady-state training step -- the optimizer
state already exists (a zero-gradient, lr = 0 optimizer step allocates it first), then forward,
loss, backward, optimizer step, zero_grad(set_to_none=True). That is the step real training
peaks in (from step 2 on). [train] dtype bf16/fp16 = fp32 master model under torch.autocast.

- "fake": the model is built on the meta device, its parameters materialised as fake CPU tensors
  (FakeTensorMode), and the step runs with a storage tracker: no memory. Two semantics
  (`emulate`): "cpu" makes CPU kernel choices (CPU flash attention, which refuses dropout ->
  math; activation-wide dropout masks) and equals "cpu" to the byte on the reference zoo;
  "cuda" makes CUDA's choices (SDPA backend, fused 1-byte dropout masks, foreach optimizer,
  512-byte allocator rounding, cuBLAS workspaces; probe/step.py) so that it tracks
  max_memory_allocated on a GPU. Default: the spec's target (runtime.target_for: cpu when
  [budget] device = "cpu", else cuda), the same `estimate` uses; the result names it.
- "cpu": the same step for real, same tracker.
- "cuda": the same step on the GPU, torch.cuda.max_memory_allocated (memory_reserved and the
  tracker's exact count in `extra`).

Inputs: synthetic from [model] input (tokens / embeddings / image at n x n), or the user's
`inputs(batch=, n=)` callable; loss: float sum of every output tensor, or `loss(output, inputs)`.
Latency (latency=True) is timed at the [infer] shape on CPU for "fake"/"cpu", CUDA events on GPU.

Failures of the user's code never escape: a factory (or inputs/loss callable) that cannot be
imported, raises, returns a non-module, fails in the step, hangs (subprocess=True, timeout) or
kills the interpreter becomes an ARC303 finding; a CUDA out-of-memory becomes an ARC101 finding
with the numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..findings import Finding
from ..spec.parallel import layout_of
from .result import ProbeResult

if TYPE_CHECKING:  # not at run time: `archcheck probe` starts its child before pydantic loads
    from ..spec.model import Spec

__all__ = ["ProbeResult", "run", "search_n_max"]

DEVICES = ("fake", "cpu", "cuda")


def _factory_finding(spec: Spec, message: str, path: str | None, line: int | None) -> Finding:
    """ARC303: the model could not be built or run (code, name, severity from the rule)."""
    from ..rules import RULES

    return RULES["ARC303"].finding(message, path or "<spec>", line or 1, spec.name)


def _oom_finding(
    spec: Spec, message: str, numbers: dict[str, int], path: str | None, line: int | None
) -> Finding:
    from ..rules import RULES

    gib = {k: f"{v / 2**30:.2f} GiB" for k, v in numbers.items()}
    return RULES["ARC101"].finding(
        f"training step ran out of device memory ({message}); {gib}",
        path or "<spec>",
        line or 1,
        spec.name,
        data=dict(numbers),
    )


def run(
    spec: Spec,
    device: str = "fake",
    n: int | None = None,
    batch: int | None = None,
    latency: bool = False,
    *,
    subprocess: bool = False,
    timeout: float = 600.0,
    path: str | None = None,
    line: int | None = None,
    model: Any = None,
    emulate: str | None = None,
    memory: int | None = None,
) -> ProbeResult:
    """Probe one steady-state training step of `spec` at (batch, n); see module docs.

    emulate: "cpu" or "cuda" semantics of the fake probe (None: step.default_emulation).
    subprocess: in an isolated child (isolate.py), at most `timeout` seconds, its address
    space capped at `memory` bytes (None: isolate.default_memory_cap; 0: no cap)."""
    from .build import resolve_n
    from .step import default_emulation

    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    if device == "fake":
        emulate = emulate or default_emulation(spec)
        if emulate not in ("cpu", "cuda"):
            raise ValueError(f"emulate must be 'cpu' or 'cuda', not {emulate!r}")
    elif emulate not in (None, device):
        raise ValueError(f"emulate={emulate!r} applies to device='fake' only")
    n = resolve_n(spec, n)
    batch = batch or spec.train.batch
    if subprocess:
        from .isolate import run_isolated

        return run_isolated(
            spec,
            device,
            n,
            batch,
            latency,
            timeout=timeout,
            path=path,
            line=line,
            emulate=emulate if device == "fake" else None,
            memory=memory,
        )
    res = ProbeResult(
        name=spec.name,
        path=path,
        device=device,
        n=n,
        batch=batch,
        target=_target_label(spec, device, emulate),
    )
    from .build import FactoryError, out_of_memory

    try:
        if device == "cuda":
            from .cuda import CudaOOM
            from .cuda import measure as cuda_measure

            try:
                m = cuda_measure(spec, n, batch, model)
            except CudaOOM as e:
                res.findings.append(_oom_finding(spec, str(e), e.numbers, path, line))
                return res
        elif device == "fake" and layout_of(spec).sharded:
            # rank 0 of the [train.parallel] layout, on the fake process group (sharded.py)
            from .sharded import NotMeasured
            from .sharded import measure as sharded_measure

            try:
                m = sharded_measure(spec, n, batch, model, emulate=emulate or "cpu")
            except NotMeasured as e:
                res.findings.append(_factory_finding(spec, f"sharded probe: {e}", path, line))
                return res
        else:
            from .step import measure

            m = measure(spec, device, n, batch, model, emulate=emulate or "cpu")
    except Exception as e:
        oom = out_of_memory(e)
        if oom is not None:  # under the isolated process's cap: it reports the cap
            raise oom from e
        if isinstance(e, FactoryError):
            res.findings.append(_factory_finding(spec, str(e), path, line))
            return res
        # the user's model failed inside the step: report, do not crash
        msg = f"probe step failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if "primitive descriptor" in str(e) and not host_runs_onednn_bf16():
            msg += (
                " (torch's oneDNN kernel for this bf16 op does not run on this machine's CPU,"
                " which lacks AVX-512 BF16: a real bf16 step fails here too; probe on a CPU that"
                " has it, or with [train] dtype = 'fp32')"
            )
        res.findings.append(_factory_finding(spec, msg, path, line))
        return res
    res.peak_bytes = m.peak_bytes
    res.breakdown = m.breakdown
    res.attention_kernel = m.attention_kernel
    res.flops = {"forward": m.flops_forward, "train_step": m.flops_train_step}
    res.extra.update(m.extra)
    if model is None:
        from .hf_class import described

        sharded = device == "fake" and layout_of(spec).sharded
        built = described(spec, device) if not sharded else None
        if built is None and sharded and spec.hf_config is not None:
            built = "reference Transformer (the sharded probe shards the reference's blocks)"
        if built is not None:  # a spec from a config.json: which model was measured
            res.extra["model"] = built
    if latency:
        from ..timings import phase

        with phase("latency"):
            res.latency = _latency(spec, "cuda" if device == "cuda" else "cpu", model)
    return res


def _target_label(spec: Spec, device: str, emulate: str | None) -> str:
    """The kernel semantics a probe runs: the emulated target (fake), the CPU, or the GPU."""
    from ..runtime import target_for

    if device == "fake":
        return target_for(spec, emulate).label
    if device == "cpu":
        return "cpu"
    import torch

    return f"cuda ({torch.cuda.get_device_name()})"


def _latency(spec: Spec, device_type: str, model: Any) -> dict[str, Any]:
    """Inference latency at the [infer] shape (fake probes are timed on real CPU)."""
    import torch

    from .build import build_model, make_inputs, resolve_n
    from .latency import measure

    m = model if model is not None else build_model(spec)
    first = next(iter(m.parameters()), None)
    home = first.device if first is not None else None
    m.to(device_type)
    try:
        inputs = make_inputs(
            spec, resolve_n(spec, None, infer=True), spec.infer.batch, device_type, m
        )
        dt = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.infer.dtype or "fp32")
        if dt is not None:
            with torch.autocast(device_type, dtype=dt):
                return measure(m, inputs, device_type)
        return measure(m, inputs, device_type)
    finally:
        if model is not None and home is not None:
            model.to(home)


def search_n_max(
    spec: Spec,
    budget_bytes: int,
    device: str = "fake",
    granularity: int | None = None,
    *,
    batch: int | None = None,
    emulate: str | None = None,
) -> tuple[int, int]:
    """Largest multiple of `granularity` whose training peak fits `budget_bytes`.

    Seeded by the formula (formulas.peak.train_memory), corrected by the ratio probe/formula
    measured at each probe, and confirmed by probes on both sides: the answer n fits and
    n + granularity does not (or n is the positional-table limit). Returns (n_max, probes);
    n_max = 0 when even one granularity step does not fit.
    """
    from .search import search

    return search(
        spec, budget_bytes, device, granularity or spec.budget.granularity, batch, emulate
    )


def host_runs_onednn_bf16() -> bool:
    """Whether torch's oneDNN bf16 kernels (the CPU LSTM under autocast) run on this CPU: on
    one without AVX-512 BF16 torch 2.13 raises "could not create a primitive descriptor" for a
    real bf16 LSTM step as well as for the probe's, so the finding says it is the host."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True
