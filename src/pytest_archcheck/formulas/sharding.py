"""Per-rank training peak under FSDP2 (and ZeRO-2/3 taken as FSDP), from parameter shapes.

ZeRO-3 is `fully_shard` over the data-parallel ranks, ZeRO-2 the same without resharding
after forward (FSDP's SHARD_GRAD_OP), as the sharded probe runs them; ZeRO-1 is torch's
ZeroRedundancyOptimizer, whose rank-0 partition `zero1_partition` gives to
`memory.model_states`.

What FSDP2 keeps on a rank (torch/distributed/fsdp/_fully_shard/_fsdp_param.py and
_fsdp_collectives.py, torch 2.13), with S the ranks a group shards over:

- every parameter is chunked along dim 0 into S pieces of ceil(d0 / S) rows, the last ones
  padded: a rank keeps ceil(d0 / S) * prod(rest) elements of it, and so of its gradient and of
  each optimizer moment (`sharding.fsdp_shard`);
- an FSDP group (each block, and the root holding what is outside the blocks: embeddings,
  final norm, head) is all-gathered into one flat buffer of S x its padded shards
  (`sharding.fsdp_all_gather_buffer`) and copied out into per-parameter unsharded tensors of the
  padded size (`sharding.fsdp_unsharded`);
- the root stays unsharded from forward to the end of backward; with reshard_after_forward
  (the default) a block is unsharded while it runs and re-gathered for its backward, and
  backward prefetches the next block's all-gather: at the backward peak one block is unsharded
  and one all-gather buffer is alive; with reshard_after_forward = false every block stays
  unsharded from its forward to its backward;
- in forward the last all-gather buffer is released only when the next all-gather is issued
  (the all-gather state FSDP2 keeps for the copy-out, _fsdp_param_group.py wait_for_unshard),
  and by the root's post-forward (_fsdp_state.py): one block's buffer is alive until the model
  returns, freed before the loss; in backward the next block's buffer is alive (prefetch).

Activations, logits and backward transients are the single-device ones (each rank runs its
own micro-batch on unsharded compute): the family's `forward_saved`, as `formulas/peak.py`
uses them. The FSDP groups are found without naming layers: a block's tensors are what one
more layer adds to `param_shapes`, the root's what remains.

Checked against the sharded fake probe (probe/sharded.py, itself equal to torch's
FSDPMemTracker) in tests/sharding/test_sharding_formula.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .memo import per_spec
from .registry import formula

if TYPE_CHECKING:
    from ..runtime import Target
    from ..spec.model import Spec
    from .peak import TrainMemory

Shape = tuple[int, ...]


@formula(
    "sharding.fsdp_shard",
    "elements per rank = ceil(d0 / S) * prod(d1..)",
    "torch FSDP2 _fsdp_param.py: chunk along dim 0, pad to S equal chunks",
)
def shard_shape(shape: Shape, ranks: int) -> Shape:
    """The padded shard a rank keeps of a parameter of `shape` (and of its grad and moments)."""
    if not shape:
        return shape
    return (-(-shape[0] // ranks), *shape[1:])


@formula(
    "sharding.fsdp_unsharded",
    "bytes = Σ_params 4 * S * ceil(d0 / S) * prod(d1..) (one tensor per parameter)",
    "torch FSDP2 _fsdp_param.py: init_unsharded_param / alloc_storage",
)
def unsharded_bytes(shapes: list[Shape], ranks: int, alloc: Callable[[int], int]) -> int:
    """All-gathered parameters of one FSDP group (padded to S chunks), each its own storage."""
    return sum(alloc(4 * ranks * math.prod(shard_shape(s, ranks))) for s in shapes)


@formula(
    "sharding.fsdp_all_gather_buffer",
    "bytes = 4 * S * Σ_params ceil(d0 / S) * prod(d1..) (one flat buffer per group)",
    "torch FSDP2 _fsdp_collectives.py: all_gather_copy_in",
)
def all_gather_bytes(shapes: list[Shape], ranks: int, alloc: Callable[[int], int]) -> int:
    """The all-gather output buffer of one FSDP group."""
    return alloc(4 * ranks * sum(math.prod(shard_shape(s, ranks)) for s in shapes))


@formula(
    "sharding.zero1_partition",
    "parameters sorted by numel (largest first), each to the rank holding the fewest elements"
    " so far (lowest rank on ties); a rank's optimizer state covers its own",
    "torch ZeroRedundancyOptimizer._partition_parameters (torch/distributed/optim), torch 2.13",
)
def zero1_partition(shapes: list[Shape], ranks: int, rank: int = 0) -> list[Shape]:
    """The parameters whose optimizer state `rank` keeps under ZeRO-1 (ZeroRedundancyOptimizer).

    Whole tensors are assigned, not flat slices (DeepSpeed's ZeRO-1 slices one flat buffer
    evenly): rank 0 takes the largest tensor, so with a large embedding it is the fullest
    rank and its state can exceed 1/ranks of the total."""
    sizes = [0] * ranks
    mine: list[Shape] = []
    for s in sorted(shapes, key=math.prod, reverse=True):
        r = sizes.index(min(sizes))
        sizes[r] += math.prod(s)
        if r == rank:
            mine.append(s)
    return mine


@dataclass(frozen=True)
class FsdpGroups:
    """Parameter tensors of the root group and of one block, and the number of blocks."""

    root: list[Shape]
    block: list[Shape]
    layers: int


def _multiset_minus(a: list[Shape], b: list[Shape]) -> list[Shape]:
    left = Counter(a)
    left.subtract(Counter(b))
    return [s for s, c in left.items() for _ in range(c) if c > 0]


def fsdp_groups(spec: Spec) -> FsdpGroups:
    """The FSDP units the probe wraps (each block, and the root), from the family's shapes."""
    from ..families import family_of

    fam = family_of(spec)
    m = spec.model
    shapes = fam.param_shapes(spec)
    more = spec.model_copy(update={"model": m.model_copy(update={"layers": m.layers + 1})})
    block = _multiset_minus(fam.param_shapes(more), shapes)
    root = list(shapes)
    for _ in range(m.layers):
        root = _multiset_minus(root, block)
    return FsdpGroups(root, block, m.layers)


@dataclass(frozen=True)
class _FsdpStatic:
    """The (n, batch)-independent per-rank bytes under FSDP, for one spec and target."""

    params: int
    grads: int
    optimizer: int
    step_temporaries: int
    always: int  # CUDA: cuBLAS workspaces + rounding of the sharded params and moments
    grad_pad: int  # CUDA: rounding of the sharded gradients
    u_root: int
    u_block: int
    ag_block: int
    layers: int
    root_grads: int  # the root's unsharded gradients
    root_largest: int  # bytes of the root's largest tensor (the embedding table)
    block_grads: int  # every block's sharded gradients


@per_spec(maxsize=256)
def _fsdp_static(spec: Spec, target: Target) -> _FsdpStatic:
    from ..families import family_of
    from ..runtime import step_temporaries
    from ..runtime.cuda import allocator_overhead, cuda_alloc_size
    from ..spec.parallel import layout_of
    from .peak import optimizer_bytes

    S = layout_of(spec).shard_ranks
    fam = family_of(spec)
    groups = fsdp_groups(spec)
    sharded = [shard_shape(s, S) for s in fam.param_shapes(spec)]
    P_sh = sum(map(math.prod, sharded))

    def alloc(b: int) -> int:
        return cuda_alloc_size(b) if target.cuda and b else b

    always = grad_pad = 0
    if target.cuda:
        always, grad_pad = allocator_overhead(
            spec.train.optimizer, target.device, Counter(map(math.prod, sharded)), len(sharded)
        )
    return _FsdpStatic(
        params=4 * P_sh + fam.buffer_bytes(spec),
        grads=4 * P_sh,
        optimizer=optimizer_bytes(spec.train.optimizer, sharded, P_sh),
        step_temporaries=step_temporaries(target, spec.train.optimizer, sharded),
        always=always,
        grad_pad=grad_pad,
        u_root=unsharded_bytes(groups.root, S, alloc),
        u_block=unsharded_bytes(groups.block, S, alloc),
        ag_block=all_gather_bytes(groups.block, S, alloc),
        layers=groups.layers,
        root_grads=sum(alloc(4 * S * math.prod(shard_shape(s, S))) for s in groups.root),
        root_largest=alloc(4 * max(map(math.prod, groups.root), default=0)),
        block_grads=groups.layers
        * sum(alloc(4 * math.prod(shard_shape(s, S))) for s in groups.block),
    )


@formula(
    "memory.fsdp_per_rank",
    "max over phases: forward + U_root; backward + U_root + U_block + AG_block; optimizer "
    "grads/S + step temporaries; always params/S + optimizer/S",
    "torch FSDP2 (fully_shard) scheduling, torch 2.13; Zhao et al. 2023 (PyTorch FSDP)",
)
def fsdp_train_memory(spec: Spec, n: int, batch: int, target: Target) -> TrainMemory:
    """Rank 0's peak of one steady-state step under FSDP2 (or ZeRO-3), on `target`."""
    from ..families import family_of
    from ..runtime.cuda import cuda_alloc_size
    from ..spec.parallel import layout_of
    from .peak import PHASES, TrainMemory, phase_parts

    lay = layout_of(spec)
    fam = family_of(spec)
    st = _fsdp_static(spec, target)
    params, grads, optimizer, tmp = st.params, st.grads, st.optimizer, st.step_temporaries
    always, grad_pad, u_root, u_block, ag_block = (
        st.always,
        st.grad_pad,
        st.u_root,
        st.u_block,
        st.ag_block,
    )
    S = lay.shard_ranks
    layers = st.layers
    fw = fam.forward_saved(spec, n, batch, target)
    parts = phase_parts(fw, grads, tmp)
    if lay.reshard:
        fsdp = {
            "forward": {"unsharded_params": u_root, "comm_buffers": ag_block},
            "backward": {"unsharded_params": u_root + u_block, "comm_buffers": ag_block},
        }
    else:
        u_all = u_root + layers * u_block
        fsdp = {
            "forward": {"unsharded_params": u_all, "comm_buffers": ag_block},
            "backward": {"unsharded_params": u_all},
        }
    fwd = parts["forward"]
    for phase, extra in fsdp.items():
        if phase in parts:
            parts[phase] = parts[phase] | extra
    # After the last block's backward, in the root's (the embeddings'): every block's
    # gradient is sharded, the last reduce-scatter input is kept (FSDP2's
    # reduce_scatter_state), the root's parameters and all its gradients are unsharded until
    # its own post-backward, and the embedding backward builds a dense gradient of its table
    # -- plus, for a table tied to the head, the sum that accumulates it into the head's.
    tied = 2 if spec.model.tied_embeddings else 1
    parts["late-backward"] = {
        "grads": st.block_grads + st.root_grads,
        "backward_transients": tied * st.root_largest,
        "unsharded_params": u_root,
        "comm_buffers": ag_block,
        "logits": fw.held_through_backward,  # the loop holds cross-entropy's logits
    }
    # the parameters unsharded at the end of forward: the root's; every block's without
    # reshard_after_forward (and under ZeRO-2)
    at_end = {"unsharded_params": u_root} if lay.reshard else fsdp["backward"]
    # The root's post-forward frees the last all-gather buffer, before the loss (with or
    # without reshard_after_forward): the end of forward is the larger of "inside the head"
    # (buffer alive, the loss's fp32 copy not yet made) and "at the loss" (buffer freed).
    # The loss is the probe's output.float().sum() (probe/build.make_loss): a 16-bit output
    # of e elements, counted in `logits` as e * (2 + 4) + 4 bytes, gets an fp32 copy of 4e
    # bytes there.
    lowp = spec.train.dtype in ("bf16", "fp16")
    logits = fwd.get("logits", 0)
    loss_side = 4 + ((logits - 4) * 4 // 6 if lowp and logits > 4 else 0)
    in_head = parts["forward"] | {"logits": max(0, logits - loss_side)}
    at_loss = fwd | at_end
    parts["forward"] = max(in_head, at_loss, key=lambda d: sum(d.values()))
    if fw.loss_backward:
        # Cross-entropy's own backward (its two gradients beside the saved log-probabilities)
        # runs before any module's backward hook: no block is all-gathered for backward yet,
        # the parameters unsharded are those of the end of forward (the root's; every block's
        # without reshard_after_forward), the last all-gather buffer already freed.
        at_loss_bwd = parts["backward"] | {"backward_transients": fw.loss_backward}
        at_loss_bwd = {k: v for k, v in at_loss_bwd.items() if k != "comm_buffers"} | at_end
        in_blocks = parts["backward"] | {"backward_transients": fw.backward_extra}
        parts["backward"] = max(in_blocks, at_loss_bwd, key=lambda d: sum(d.values()))
    phase = max(PHASES, key=lambda p: sum(parts[p].values()) if p in parts else -1)
    allocator = always
    if target.cuda:
        allocator += cuda_alloc_size(4) - 4 if phase in ("forward", "backward") else grad_pad
    at: dict[str, Any] = dict.fromkeys(TrainMemory.PARTS, 0) | parts[phase]
    at |= {"params": params, "optimizer": optimizer, "allocator": allocator}
    return TrainMemory(
        **at,
        total=sum(at.values()),
        phase=phase,
        target=target.label,
        activations_formula=fw.formula,
        inputs={
            "family": fam.name,
            "n": n,
            "batch": batch,
            "target": target.label,
            "shard_ranks": S,
            "layout": lay.describe(),
        },
        layout=lay.describe(),
    )


def tp_modelled(spec: Spec) -> bool:
    """Whether the formula models the spec's tensor parallelism: the family unit gives a
    rank's model under the probe's reference plan (`Family.tp_local_model`), and no factory
    brings a module -- and maybe its own `tp_plan()` -- the reference plan does not describe."""
    from ..families import family_of
    from ..spec.parallel import layout_of

    if spec.model.factory is not None:
        return False
    return family_of(spec).tp_local_model(spec, layout_of(spec).tp) is not None


def tp_local_spec(spec: Spec) -> Spec:
    """What one tensor-parallel rank computes, as a spec at tp = 1: the family unit's
    `tp_local_model` (for the Transformer: heads, kv_heads and d_ff / tp -- weights,
    activations and backward transients alike), the same data-parallel layout."""
    from ..families import family_of
    from ..spec.parallel import layout_of

    model = family_of(spec).tp_local_model(spec, layout_of(spec).tp)
    t = spec.train
    assert model is not None and t.parallel is not None
    par = t.parallel.model_copy(update={"tp": 1, "world_size": None})
    train = t.model_copy(update={"parallel": par, "tensor_parallel": 1, "world_size": 1})
    return spec.model_copy(update={"model": model, "train": train})


@formula(
    "memory.tensor_parallel",
    "peak per rank = the layout's peak at tp = 1 with heads / tp, kv_heads / tp, d_ff / tp"
    " (q, k, v, scores, attention output and MLP hidden sharded; residual stream, norms,"
    " embeddings, head replicated)",
    "Shoeybi et al. 2019 (Megatron-LM) §3; torch ColwiseParallel / RowwiseParallel",
)
def tensor_parallel_memory(spec: Spec, n: int, batch: int, target: Target) -> TrainMemory:
    """Rank 0's peak under tensor parallelism (with or without FSDP): `tp_local_spec`'s."""
    from dataclasses import replace

    from ..spec.parallel import layout_of
    from .peak import train_memory

    m = train_memory(tp_local_spec(spec), n, batch, target=target)
    label = layout_of(spec).describe()
    return replace(m, layout=label, inputs=m.inputs | {"layout": label})


def not_modelled(spec: Spec) -> list[str]:
    """What of the spec's [train.parallel] the formula does not model (empty: all of it)."""
    from ..spec.parallel import layout_of

    lay = layout_of(spec)
    if not lay.declared:
        return []
    out = []
    if lay.tp > 1 and not tp_modelled(spec):
        out.append("tensor parallelism (tp 1)")
    if lay.param_dtype not in (None, "fp32") or lay.reduce_dtype not in (None, "fp32"):
        out.append("FSDP mixed precision (fp32 parameters, gradients and activations)")
    if lay.offload != "none":
        out.append(f"CPU offload of {lay.offload} (counted on the device)")
    return out


@formula(
    "memory.parallel_upper_bound",
    "peak per rank <= the same layout's peak at tp = 1, fp32 FSDP parameters and compute",
    "Shoeybi et al. 2019 (Megatron-LM); torch FSDP2 MixedPrecisionPolicy",
)
def upper_bound(spec: Spec, n: int, batch: int, target: Target) -> TrainMemory:
    """[train.parallel] keys the formula does not model -- tp > 1 where the family unit has no
    TP split for the model (`tp_modelled`), 16-bit FSDP param/reduce dtypes (no autocast
    copies, 16-bit all-gathers) and CPU offload -- are replaced by what bounds them from
    above: tp = 1 (Megatron-style tensor parallelism only removes weight and activation bytes
    from a rank), fp32 parameters and compute (16-bit all-gathers and activations are half the
    size) and states kept on the device; a modelled tp stays. The result says so in `layout`;
    the sharded probe (`check --probe`, `probe --device fake`) measures the layout itself."""
    from dataclasses import replace

    from ..spec.parallel import layout_of
    from .peak import train_memory

    p = spec.train.parallel
    assert p is not None
    why = not_modelled(spec)
    tp = 1 if "tensor parallelism (tp 1)" in why else p.tp
    par = p.model_copy(
        update={"tp": tp, "param_dtype": None, "reduce_dtype": None, "offload": "none"}
    )
    update: dict[str, Any] = {"parallel": par}
    if "FSDP mixed precision (fp32 parameters, gradients and activations)" in why:
        update["dtype"] = "fp32"
    bound = spec.model_copy(update={"train": spec.train.model_copy(update=update)})
    m = train_memory(bound, n, batch, target=target)
    note = (
        f"{layout_of(spec).describe()}; not modelled by the formula: {', '.join(why)}"
        " -- an upper bound (measure it with --probe)"
    )
    return replace(m, layout=note, inputs=m.inputs | {"layout": note})


def smallest_fitting_change(
    spec: Spec, n: int, batch: int, budget: int, target: Target | None = None
) -> str | None:
    """The smallest layout change after which the formula's per-rank peak fits `budget`:
    doubling dp_shard (up to 64x, FSDP2's shard degree), else activation checkpointing;
    None when neither fits. Used by ARC101's fix and `advise`-style hints ("dp_shard 8 -> 16")."""
    from ..runtime import target_for
    from ..spec.model import ParallelTable
    from ..spec.parallel import layout_of
    from .peak import train_memory

    target = target or target_for(spec)
    lay = layout_of(spec)
    base = spec.train.parallel
    if base is None:
        if lay.zero_stage or lay.tp > 1:
            return None  # older keys: DeepSpeed-style layouts are changed there
        base = ParallelTable()
    if not lay.zero_stage:
        for k in (2, 4, 8, 16, 32, 64):
            new = base.model_copy(update={"dp_shard": base.dp_shard * k})
            tried = spec.model_copy(
                update={"train": spec.train.model_copy(update={"parallel": new})}
            )
            if train_memory(tried, n, batch, target=target).total <= budget:
                return f"dp_shard {base.dp_shard} -> {new.dp_shard}"
    if not spec.train.checkpointing:
        tried = spec.model_copy(
            update={"train": spec.train.model_copy(update={"checkpointing": True})}
        )
        if train_memory(tried, n, batch, target=target).total <= budget:
            return "train.checkpointing = true"
    return None
