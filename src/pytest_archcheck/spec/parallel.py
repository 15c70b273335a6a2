"""The parallel layout of one training step: [train.parallel], or the older [train] keys.

One place derives the layout every per-rank figure uses (formulas/sharding.py, the sharded
probe, the budget rules' wording), so that the static estimate and the measurement never read
two different meshes. It also says what is inconsistent about a layout (ARC304, at the line of
the key to change): the mesh product against world_size, tensor parallelism that does not
divide the heads, KV heads or d_ff, DeepSpeed ZeRO stages combined with FSDP sharding.

Without [train.parallel] the older keys keep their meaning: tensor_parallel ranks split every
matrix, the other world_size / tensor_parallel ranks are data-parallel replicas, and zero_stage
partitions their states (DeepSpeed ZeRO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Spec


@dataclass(frozen=True)
class Layout:
    """Degrees of one training step's mesh and the FSDP knobs that change memory."""

    dp_shard: int = 1
    dp_replicate: int = 1
    tp: int = 1
    pp: int = 1
    cp: int = 1
    zero_stage: int = 0
    reshard_after_forward: bool = True
    param_dtype: str | None = None
    reduce_dtype: str | None = None
    offload: str = "none"
    declared: bool = False  # whether the spec has a [train.parallel] table

    @property
    def world_size(self) -> int:
        return self.dp_shard * self.dp_replicate * self.tp * self.pp * self.cp

    @property
    def dp(self) -> int:
        """Data-parallel ranks (each runs its own micro-batch)."""
        return self.dp_shard * self.dp_replicate

    @property
    def fsdp(self) -> bool:
        return self.dp_shard > 1

    @property
    def fsdp_like(self) -> bool:
        """FSDP2 shards the step (dp_shard > 1), or ZeRO-2/3, which the probe and the formula
        take as FSDP over the data-parallel ranks: ZeRO-3 as `fully_shard`, ZeRO-2 as
        `fully_shard(reshard_after_forward=False)` (FSDP's SHARD_GRAD_OP; docs/sharding.md
        says where DeepSpeed's own buffers differ)."""
        return self.fsdp or (self.zero_stage in (2, 3) and self.dp_replicate > 1)

    @property
    def zero1(self) -> bool:
        """ZeRO-1 over data-parallel replicas: torch's ZeroRedundancyOptimizer partitions the
        optimizer state, parameters and gradients stay whole on every rank."""
        return self.zero_stage == 1 and self.dp_replicate > 1 and not self.fsdp

    @property
    def reshard(self) -> bool:
        """FSDP2's reshard_after_forward as run: ZeRO-2 keeps the gathered parameters from
        forward to backward (only gradients and optimizer state stay partitioned)."""
        return self.reshard_after_forward and not (self.zero_stage == 2 and not self.fsdp)

    @property
    def shard_ranks(self) -> int:
        """Ranks one FSDP group shards over (dp_shard; all data-parallel ranks for ZeRO-2/3)."""
        if self.fsdp:
            return self.dp_shard
        return self.dp_replicate if self.zero_stage in (2, 3) else 1

    @property
    def sharded(self) -> bool:
        """Whether any per-rank figure differs from the single-device one."""
        return self.world_size > 1 and (self.fsdp or self.tp > 1 or self.zero_stage > 0)

    def describe(self) -> str:
        """The layout as findings name it: "FSDP 8 x TP 2 (world 16)"."""
        parts = []
        if self.dp_replicate > 1:
            parts.append(f"{'HSDP' if self.fsdp else 'DDP'} replicate {self.dp_replicate}")
        if self.fsdp:
            parts.append(f"FSDP {self.dp_shard}")
        if self.zero_stage:
            parts.append(f"ZeRO-{self.zero_stage}")
        if self.tp > 1:
            parts.append(f"TP {self.tp}")
        if not parts:
            return "single device"
        return f"{' x '.join(parts)} (world {self.world_size})"


def layout_of(spec: Spec) -> Layout:
    """The spec's layout: [train.parallel] when present, else the older [train] keys."""
    t = spec.train
    p = t.parallel
    if p is None:
        return Layout(
            dp_replicate=max(1, t.world_size // t.tensor_parallel),
            tp=t.tensor_parallel,
            zero_stage=t.zero_stage,
        )
    return Layout(
        dp_shard=p.dp_shard,
        dp_replicate=p.dp_replicate,
        tp=p.tp,
        pp=p.pp,
        cp=p.cp,
        zero_stage=p.zero_stage if p.zero_stage is not None else t.zero_stage,
        reshard_after_forward=p.reshard_after_forward,
        param_dtype=p.param_dtype,
        reduce_dtype=p.reduce_dtype,
        offload=p.offload,
        declared=True,
    )


def layout_problem(spec: Spec) -> str | None:
    """The first inconsistency of the layout, naming its key (train.parallel.tp, ...), or None.

    Raised from the Spec's validator: the loader reports it as ARC304 at that key's line and
    nothing (estimate, probe) runs on a layout no launcher would accept."""
    t = spec.train
    p = t.parallel
    lay = layout_of(spec)
    if p is not None:
        # the older keys at their defaults (1, 1, 0) are read as unset: a spec dumped and
        # validated again (the probe's child process) has every key "set"
        product = (
            f"dp_replicate {p.dp_replicate} x dp_shard {p.dp_shard} x tp {p.tp}"
            f" x pp {p.pp} x cp {p.cp} = {lay.world_size}"
        )
        if p.world_size is not None and p.world_size != lay.world_size:
            return (
                f"train.parallel.world_size = {p.world_size} but the mesh has {product} ranks;"
                " drop world_size (it is derived) or change a degree"
            )
        if t.world_size not in (1, lay.world_size):
            return (
                f"train.world_size = {t.world_size} but [train.parallel] has {product} ranks;"
                " drop train.world_size (it is derived from the mesh) or change a degree"
            )
        if t.tensor_parallel not in (1, p.tp):
            return (
                f"train.tensor_parallel = {t.tensor_parallel} but train.parallel.tp = {p.tp};"
                " keep one (train.parallel.tp)"
            )
        if p.zero_stage is not None and t.zero_stage not in (0, p.zero_stage):
            return (
                f"train.zero_stage = {t.zero_stage} but train.parallel.zero_stage ="
                f" {p.zero_stage}; keep one"
            )
        if lay.zero_stage and p.dp_shard > 1:
            key = "train.parallel.zero_stage" if p.zero_stage is not None else "train.zero_stage"
            return (
                f"{key} = {lay.zero_stage} with train.parallel.dp_shard = {p.dp_shard}: FSDP"
                " already shards parameters, gradients and optimizer state (ZeRO-3); use"
                " dp_shard (FSDP2) or zero_stage with dp_replicate (DeepSpeed), not both"
            )
        if p.offload == "params" and p.dp_shard == 1 and lay.zero_stage != 3:
            return (
                'train.parallel.offload = "params" needs sharded parameters (dp_shard > 1, or'
                " zero_stage 3): only FSDP's CPUOffloadPolicy and ZeRO-3's offload_param move"
                " parameter shards to the host"
            )
    if p is not None and p.tp > 1:  # the older tensor_parallel: the family's ARC304 check
        key = "train.parallel.tp"
        m = spec.model
        for name, value in (("heads", m.heads), ("kv_heads", m.kv_heads), ("d_ff", m.d_ff)):
            if value is not None and value % lay.tp:
                return (
                    f"{key} = {lay.tp} does not divide model.{name} = {value}: column- and"
                    f" row-wise parallel linear layers split {name} evenly over the TP ranks"
                )
    return None
