"""Per-rank training-step peak under FSDP2, HSDP and tensor parallelism, in one CPU process.

What runs is torch.distributed's own code, not a model of it: a `fake` process group
(`torch.testing._internal.distributed.fake_pg.FakeStore`; collectives return at once, nothing
is sent) of the layout's world size, `init_device_mesh("cpu", (dp_replicate, dp_shard, tp))`,
`parallelize_module` with ColwiseParallel/RowwiseParallel on every block's linear layers,
`fully_shard` (FSDP2) on every block and on the root over the data-parallel mesh (2-D for
HSDP), and a steady-state AdamW step under FakeTensorMode. Rank 0's tensors are real-sized fake
tensors, so a world of 1,024 ranks costs one rank's bookkeeping, not 1,024 processes.

The model is built on the meta device, parallelised and sharded there (device meshes cannot be
created under FakeTensorMode), then materialised with `to_empty(device="cpu")` inside it --
the meta-device initialisation torchtitan uses.

Counting: `ShardedTracker` extends the probe's StorageTracker the way torch's own
`torch.distributed._tools.mem_tracker.MemTracker` does -- DTensor ops are handed back
(NotImplemented) so that only the local shards' aten ops are counted, DTensor's sharding
propagation (a nested fake mode) is skipped, `wait_tensor`'s fake kernel does not count a copy
eager mode never makes, and `UntypedStorage.resize_` (how FSDP2 frees and re-allocates the
unsharded parameters) is followed. Each storage alive at the peak is attributed to sharded
parameters, unsharded (all-gathered) parameters, all-gather buffers, reduce-scatter buffers,
gradients, optimizer state, activations or temporaries, and the peak's phase is reported.

Tensor-parallel plan (Megatron-LM's, Shoeybi et al. 2019, arXiv:1909.08053 §3): the fused
QKV and the MLP's up projection column-wise, the attention output and the MLP's down
projection row-wise; embeddings, norms and the head are replicated over the TP ranks. The
fused QKV (and SwiGLU's fused gate/up) weight is split in row blocks: Megatron orders its fused
weight per head group so that this split is the exact one; the probe's weights are fake, so
the shapes -- which are all memory depends on -- are those of the exact split. A factory's
model may bring its own plan: a method `tp_plan()` returning {module path: ParallelStyle}
(wildcards allowed, as in `parallelize_module`), applied instead.

DeepSpeed ZeRO stages run as the torch.distributed code that partitions the same states
(DeepSpeed itself is not a dependency; docs/sharding.md lists where its buffers differ):
ZeRO-1 as `ZeroRedundancyOptimizer` around the spec's optimizer, ZeRO-2 as `fully_shard`
with reshard_after_forward=False (FSDP's SHARD_GRAD_OP), ZeRO-3 as `fully_shard`, each over
the data-parallel ranks.

Not measured here (a clear refusal, never a number): plain DDP replicas without sharding
(DistributedDataParallel's constructor reads parameter data, which fake tensors have not, and
its gradient buckets live in its C++ reducer), ZeRO-1 with tensor parallelism, CPU offload,
pipeline and context parallelism.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

from ..spec.model import Spec
from ..spec.parallel import Layout, layout_of
from .step import StepMeasurement

# ops whose outputs are FSDP2's communication buffers (torch/distributed/fsdp/_fully_shard/
# _fsdp_collectives.py: all_gather_copy_in allocates the all-gather input and output,
# foreach_reduce chunk_cat's the reduce-scatter input and new_empty's its output)
ALL_GATHER_OPS = frozenset(
    {
        "all_gather_copy_in",
        "_allgather_base_",
        "all_gather_into_tensor",
        "all_gather_into_tensor_out",
    }
)
REDUCE_SCATTER_OPS = frozenset({"chunk_cat", "_reduce_scatter_base_", "reduce_scatter_tensor"})
PARTS = (
    "params",
    "unsharded_params",
    "all_gather",
    "reduce_scatter",
    "grads",
    "optimizer",
    "activations",
    "temporaries",
)


class NotMeasured(ValueError):
    """A layout this probe does not run (the message names the key and what to do)."""


def refusal(lay: Layout) -> str | None:
    """Why `lay` cannot be measured here, naming the key; None when it can."""
    if lay.zero1 and lay.tp > 1:
        return (
            "zero_stage 1 with tp > 1 is not measured (ZeroRedundancyOptimizer over"
            " tensor-parallel DTensor parameters is not a path torch runs); use zero_stage 2"
            " or 3, or dp_shard (FSDP2), with tp"
        )
    if lay.dp_replicate > 1 and lay.dp_shard == 1 and lay.zero_stage == 0:
        return (
            f"dp_replicate {lay.dp_replicate} without dp_shard or zero_stage is plain DDP,"
            " which does not run on fake tensors (DistributedDataParallel's constructor reads"
            " parameter data to verify shapes across ranks; its gradient buckets live in its"
            " C++ reducer); probe one replica (dp_replicate = 1) and add DDP's buckets"
            " (bucket_cap_mb) yourself, or set zero_stage = 1 (ZeroRedundancyOptimizer)"
        )
    if lay.offload != "none":
        return (
            f'offload = "{lay.offload}" is not measured (on a CPU mesh, host and device are'
            ' the same memory); use offload = "none" for the probe'
        )
    if lay.pp > 1 or lay.cp > 1:
        return "pipeline and context parallelism are not measured"
    return None


def _dtype(name: str | None) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(name or "")


def _tracker_class() -> Any:
    """ShardedTracker, defined on first use so that importing this module imports no torch."""
    import torch
    from torch._guards import active_fake_mode
    from torch.distributed.tensor import DTensor

    from .tracker import StorageTracker

    c10d = torch.ops.c10d

    class ShardedTracker(StorageTracker):
        """StorageTracker for DTensor / FSDP2 steps (see the module docs)."""

        def __init__(self, alloc_size: Any = None) -> None:
            super().__init__(count_flops=True, alloc_size=alloc_size)
            self.origin: dict[int, str] = {}
            self._entry_fake: Any = None
            self.peak_start = 0
            self._orig_resize: Any = None

        def __enter__(self) -> Any:
            self._entry_fake = active_fake_mode()
            self._orig_resize = torch.UntypedStorage.resize_
            tracker = self

            def resize_(st: Any, size: int) -> Any:
                out = tracker._orig_resize(st, size)
                tracker._resized(st, int(size))
                return out

            torch.UntypedStorage.resize_ = resize_  # type: ignore[method-assign, assignment]
            return super().__enter__()  # type: ignore[no-untyped-call]

        def __exit__(self, *exc: Any) -> Any:
            torch.UntypedStorage.resize_ = self._orig_resize  # type: ignore[method-assign]
            return super().__exit__(*exc)  # type: ignore[no-untyped-call]

        def _resized(self, st: Any, size: int) -> None:
            """A storage resized in place: its old size dies now, the new one is born."""
            if not self._active:
                return
            rid = self._ids.get(st)  # type: ignore[no-untyped-call]
            if rid is not None:
                self._free(int(rid))
                del self._ids[st]
            if size > 0:
                self._track_storage(st, "resize_")

        def track(self, t: Any, op: str = "") -> int | None:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                return None
            if isinstance(t, DTensor):
                t = t._local_tensor
            return self._track_storage(t.untyped_storage(), op)

        def rid(self, t: Any) -> int | None:
            if isinstance(t, DTensor):
                t = t._local_tensor
            return super().rid(t)

        def _on_new(self, rid: int, op: str) -> None:
            if op == "resize_":
                self.origin[rid] = "unsharded_params"
            elif op in ALL_GATHER_OPS:
                self.origin[rid] = "all_gather"
            elif op in REDUCE_SCATTER_OPS:
                self.origin[rid] = "reduce_scatter"

        def __torch_dispatch__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
        ) -> Any:
            if any(t is DTensor or (isinstance(t, type) and issubclass(t, DTensor)) for t in types):
                return NotImplemented  # let DTensor desugar into local ops, counted below
            if active_fake_mode() is not self._entry_fake:
                return func(*args, **(kwargs or {}))  # DTensor's sharding propagation
            if func is torch.ops._c10d_functional.wait_tensor.default:
                return args[0]  # eager wait_tensor returns its input; the fake kernel copies
            out = super().__torch_dispatch__(func, types, args, kwargs)
            # FSDP2 allocates its communication buffers with plain `empty` inside its own
            # ops; name them by the collective that uses them (as FSDPMemTracker does)
            if func is c10d._allgather_base_.default:
                self._label(args[0], "all_gather")
            elif func is c10d._reduce_scatter_base_.default:
                self._label(args[1], "reduce_scatter")
            return out

        def _label(self, t: Any, origin: str) -> None:
            if isinstance(t, torch.Tensor):
                rid = self.rid(t)
                if rid is not None:
                    self.origin[rid] = origin

    return ShardedTracker


def _blocks(model: Any) -> list[Any]:
    """FSDP units below the root: the items of the model's first ModuleList (the layers)."""
    from torch import nn

    for mod in model.modules():
        if isinstance(mod, nn.ModuleList) and len(mod):
            return list(mod)
    return []


def _has(module: Any, path: str) -> bool:
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return False
    return True


def _apply_tp(model: Any, tp_mesh: Any, tp: int) -> None:
    """The model's own `tp_plan()`, else the reference plan (module docs)."""
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    own = getattr(model, "tp_plan", None)
    if callable(own):
        parallelize_module(model, tp_mesh, own())
        return
    colwise = ("attn.qkv", "attn.q", "attn.k", "attn.v", "mlp.up", "mlp.gate")
    for blk in _blocks(model):
        if not (hasattr(blk, "attn") and hasattr(blk, "mlp")):
            raise NotMeasured(
                "tensor parallelism: the model has no reference TP plan; give it a method"
                " tp_plan() -> {module path: ParallelStyle}"
            )
        # fused (qkv, up) or separate (q, k, v; gate, up) projections, whichever it built
        plan: dict[str, Any] = {name: ColwiseParallel() for name in colwise if _has(blk, name)}
        plan |= {"attn.proj": RowwiseParallel(), "mlp.down": RowwiseParallel()}
        parallelize_module(blk, tp_mesh, plan)
        # each TP rank computes its own heads: the reference Attention views by these counts
        blk.attn.h //= tp
        blk.attn.kv //= tp


@contextlib.contextmanager
def fake_world(world: int) -> Iterator[None]:
    """A fake process group of `world` ranks (this process is rank 0), destroyed on exit."""
    import torch.distributed as dist
    from torch.testing._internal.distributed.fake_pg import FakeStore

    if dist.is_initialized():
        dist.destroy_process_group()
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world)
    try:
        yield
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def prepare(spec: Spec, model: Any = None) -> Any:
    """Build (on meta), tensor-parallelise and fully_shard the model for the spec's layout.

    Call inside `fake_world(layout.world_size)`; materialise with `materialise` under a
    FakeTensorMode. Raises NotMeasured for a layout this probe does not run."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    from ..families import family_of
    from .build import build_model

    lay = layout_of(spec)
    why = refusal(lay)
    if why is not None:
        raise NotMeasured(why)
    mesh = init_device_mesh(
        "cpu",
        (lay.dp_replicate, lay.dp_shard, lay.tp),
        mesh_dim_names=("dp_replicate", "dp_shard", "tp"),
    )
    if model is None:
        with torch.device("meta"):
            # its FSDP units and TP plan are the reference's blocks: never the transformers
            # class of a config.json here (probe/hf_class.py says so in the result)
            model = (
                build_model(spec)
                if spec.model.factory is not None
                else family_of(spec).reference_module(spec)
            )
    if lay.tp > 1:
        _apply_tp(model, mesh["tp"], lay.tp)
    # FSDP over the data-parallel ranks: dp_shard (2-D with dp_replicate: HSDP), or all
    # data-parallel ranks for ZeRO-3 (fully_shard) and ZeRO-2 (fully_shard without
    # resharding after forward: FSDP's SHARD_GRAD_OP, torch's ZeRO-2 counterpart)
    fsdp_mesh = None
    if lay.dp_shard > 1:
        fsdp_mesh = mesh["dp_replicate", "dp_shard"] if lay.dp_replicate > 1 else mesh["dp_shard"]
    elif lay.zero_stage in (2, 3) and lay.dp_replicate > 1:
        fsdp_mesh = mesh["dp_replicate"]
    if fsdp_mesh is not None:
        mp = MixedPrecisionPolicy(
            param_dtype=_dtype(lay.param_dtype), reduce_dtype=_dtype(lay.reduce_dtype)
        )
        for blk in _blocks(model):
            fully_shard(blk, mesh=fsdp_mesh, mp_policy=mp, reshard_after_forward=lay.reshard)
        fully_shard(model, mesh=fsdp_mesh, mp_policy=mp)
    return model


def make_step_optimizer(spec: Spec, params: list[Any], foreach: bool | None = None) -> Any:
    """The [train] optimizer for the layout: under ZeRO-1, wrapped in torch's
    ZeroRedundancyOptimizer over the data-parallel ranks (rank 0 keeps the state of its
    partition: parameters sorted by size, each given greedily to the least-loaded rank).

    Call inside `fake_world` after `prepare`, under the step's FakeTensorMode."""
    import torch
    from torch.distributed.optim import ZeroRedundancyOptimizer

    from .build import make_optimizer

    if not layout_of(spec).zero1:
        return make_optimizer(spec, params, foreach=foreach)
    # the same class and hyper-parameters make_optimizer picks, read off a one-element twin
    # (its `defaults` also hold keys the constructor does not take: AdamW's
    # decoupled_weight_decay)
    proto = make_optimizer(spec, [torch.nn.Parameter(torch.empty(1, device="meta"))], foreach)
    cls = type(proto)
    takes = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in proto.defaults.items() if k in takes}
    return ZeroRedundancyOptimizer(params, optimizer_class=cls, **kwargs)


def materialise(model: Any) -> None:
    """Meta tensors -> fake CPU tensors (call under FakeTensorMode); integer buffers zeroed."""
    import torch

    # nn.Module._apply converts a parameter once per owning module: a weight tied between two
    # modules (embedding and head) would come back as two tensors. Re-tie them afterwards.
    owners: dict[int, list[tuple[Any, str]]] = {}
    for mod in model.modules():
        for name, p in mod._parameters.items():
            if p is not None:
                owners.setdefault(id(p), []).append((mod, name))
    model.to_empty(device="cpu")
    for group in owners.values():
        first_mod, first_name = group[0]
        for mod, name in group[1:]:
            mod._parameters[name] = first_mod._parameters[first_name]
    for mod in model.modules():
        for name, b in list(mod._buffers.items()):
            if b is not None and not b.is_floating_point():
                mod._buffers[name] = torch.zeros_like(b)


def measure(
    spec: Spec,
    n: int,
    batch: int,
    model: Any = None,
    *,
    emulate: str = "cpu",
    debug: bool = False,
) -> StepMeasurement:
    """Rank 0's peak bytes of one steady-state step under the spec's parallel layout.

    Raises NotMeasured for a layout this probe does not run (see `refusal`)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from ..runtime.cuda import cuda_alloc_size
    from .step import add_cublas_workspaces

    lay = layout_of(spec)
    why = refusal(lay)
    if why is not None:
        raise NotMeasured(why)
    cuda = emulate == "cuda"
    with fake_world(lay.world_size):
        model = prepare(spec, model)
        result = _run_step(
            spec,
            model,
            n,
            batch,
            cuda,
            debug,
            tracker_cls=_tracker_class(),
            fake_mode=FakeTensorMode(allow_non_fake_inputs=True),
            alloc_size=cuda_alloc_size if cuda else None,
        )
    if cuda:
        add_cublas_workspaces(spec, result)
    result.extra["layout"] = lay.describe()
    result.extra["world_size"] = lay.world_size
    return result


def _phase_peaks(tracker: Any, fwd_end: int, bwd_end: int) -> dict[str, int]:
    """The largest live total in each phase of the measured step (forward up to the loss,
    backward, optimizer step): where the step would peak if another phase were smaller."""
    deltas: dict[int, int] = {}
    for r in tracker.records:
        deltas[r.alloc] = deltas.get(r.alloc, 0) + r.nbytes
        if r.free is not None:
            deltas[r.free] = deltas.get(r.free, 0) - r.nbytes
    start = tracker.peak_start
    out = {"forward": 0, "backward": 0, "optimizer": 0}
    live = 0
    for tick in sorted(deltas):
        live += deltas[tick]
        if tick < start:
            continue
        name = "forward" if tick <= fwd_end else "backward" if tick <= bwd_end else "optimizer"
        out[name] = max(out[name], live)
    return out


def _run_step(
    spec: Spec,
    model: Any,
    n: int,
    batch: int,
    cuda: bool,
    debug: bool,
    *,
    tracker_cls: Any,
    fake_mode: Any,
    alloc_size: Any,
) -> StepMeasurement:
    """Materialise, warm the optimizer, and track one step (see step.measure for the protocol)."""
    from .build import make_inputs, make_loss
    from .step import (
        _state_tensors,
        forget_host_step_counters,
        step_kernels,
        tracked_optimizer_step,
        train_step,
    )

    tracker = tracker_cls(alloc_size=alloc_size)
    loss_fn = make_loss(spec)
    marks: dict[str, int] = {}
    try:
        with fake_mode:
            materialise(model)
            model.train()
            with tracker:
                params = list(model.parameters())
                for t in [*params, *model.buffers()]:
                    tracker.track(t)
                param_rids = {tracker.rid(t) for t in [*params, *model.buffers()]}
                # foreach (CUDA's default) cannot mix DTensor and plain parameters: tensor
                # parallelism without FSDP leaves the replicated ones plain, and torch raises
                # in a real run too -- such a step uses the for-loop implementation
                mixed = len({type(p) for p in params}) > 1
                foreach = None if mixed else True if cuda else None
                opt = make_step_optimizer(
                    spec, [p for p in params if p.requires_grad], foreach=foreach
                )
                # ZeroRedundancyOptimizer keeps its partition's state in its local optimizer
                local = getattr(opt, "optim", opt)
                # steady state: one whole step first, so that FSDP2's lazy initialisation
                # (first all-gather allocates the unsharded parameters with `empty`, later
                # ones re-grow them with `resize_`) and the optimizer state are behind us
                _, _, _, warm_loss = train_step(
                    model, lambda: make_inputs(spec, n, batch, "cpu"), loss_fn, spec, "cpu"
                )
                del warm_loss
                opt.step()
                opt.zero_grad(set_to_none=True)
                if cuda:
                    forget_host_step_counters(tracker, local)
                tracker.reset_peak()
                tracker.peak_start = tracker.clock
                tracker.flops = 0
                with step_kernels(spec, tracker, cuda) as kernels:
                    t0, t1, flops_fwd, loss = train_step(
                        model,
                        lambda: make_inputs(spec, n, batch, "cpu"),
                        loss_fn,
                        spec,
                        "cpu",
                        tracker=tracker,
                    )
                marks["backward_end"] = tracker.clock
                flops_train = tracker.flops
                del loss
                grad_rids, opt_rids = tracked_optimizer_step(tracker, params, opt)
                opt_rids |= {tracker.rid(t) for t in _state_tensors(local)}
    finally:
        tracker.stop()
    bd = dict.fromkeys(PARTS, 0)
    ops: dict[str, int] = {}
    for rid in tracker.live_at(tracker.peak_clock):
        rec = tracker.records[rid]
        origin = tracker.origin.get(rid)
        if rid in param_rids:
            part = "params"
        elif rid in opt_rids:
            part = "optimizer"
        elif rid in grad_rids:
            part = "grads"
        elif origin is not None:
            part = origin
        elif t0 < rec.alloc <= t1:
            part = "activations"
        else:
            part = "temporaries"
        bd[part] += rec.nbytes
        if debug:
            key = f"{part}:{rec.op}:{rec.nbytes}"
            ops[key] = ops.get(key, 0) + 1
    assert sum(bd.values()) == tracker.peak, (bd, tracker.peak)
    peak_clock = tracker.peak_clock
    phase = (
        "forward"
        if peak_clock <= t1
        else "backward"
        if peak_clock <= marks["backward_end"]
        else "optimizer"
    )
    extra: dict[str, Any] = {
        "phase": phase,
        "parts": dict(bd),
        "phase_peaks": _phase_peaks(tracker, t1, marks["backward_end"]),
    }
    if debug:
        extra["live_by_op"] = ops
    if tracker.flop_errors:
        extra["flop_errors"] = tracker.flop_errors
    if mixed and cuda:
        extra["optimizer_impl"] = "for-loop (foreach cannot mix DTensor and Tensor parameters)"
    # the probe JSON's five parts (DESIGN §5); the sharded detail is in extra["parts"]
    five = {
        "params": bd["params"] + bd["unsharded_params"],
        "grads": bd["grads"],
        "optimizer": bd["optimizer"],
        "activations": bd["activations"],
        "temporaries": bd["temporaries"] + bd["all_gather"] + bd["reduce_scatter"],
    }
    return StepMeasurement(
        peak_bytes=tracker.peak,
        breakdown=five,
        attention_kernel=kernels.attention_kernel(tracker, spec),
        flops_forward=flops_fwd,
        flops_train_step=flops_train,
        extra=extra,
    )
