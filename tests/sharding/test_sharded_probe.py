"""The sharded fake probe against trackers we did not write and a per-rank account by hand.

Ground truth 1: torch's own `FSDPMemTracker` (FSDP layouts) or `MemTracker` (tensor parallelism
alone) from torch.distributed._tools, run on the same model, layout and step (same loss, same
inputs, same steady state); the probe's peak must equal theirs to the byte.

Ground truth 2: the model states of FSDP at world 8, worked out here from the reference
Transformer's parameter shapes (written out below, not read from our code): FSDP2 chunks every
parameter along dim 0 into world pieces of ceil(d0 / world) rows (the last ones padded), so a
rank keeps ceil(d0 / 8) * prod(rest) elements of each; AdamW keeps two moments of that plus one
fp32 step counter per tensor; the root's parameters (embeddings, final norm, head) stay
unsharded through the step, one block is unsharded while it runs, and the next block's
all-gather buffer (world x the padded shards) is alive as backward prefetches it.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from pytest_archcheck.spec.model import Spec  # noqa: E402

MODEL = {
    "family": "transformer",
    "layers": 3,
    "d_model": 64,
    "heads": 4,
    "d_ff": 256,
    "vocab": 120,
    "max_positions": 64,
    "tied_embeddings": False,
}
N, BATCH = 32, 2


def _spec(parallel: dict[str, Any] | None = None, **train: Any) -> Spec:
    t: dict[str, Any] = {"batch": BATCH, "seq_len": N, **train}
    if parallel is not None:
        t["parallel"] = parallel
    return Spec.model_validate({"model": MODEL, "train": t})


def _torch_tracker_peak(spec: Spec, model: Any = None) -> int:
    """Peak of the same steady-state step, measured by torch's FSDPMemTracker / MemTracker."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.fsdp2_mem_tracker import FSDPMemTracker
    from torch.distributed._tools.mem_tracker import MemTracker
    from torch.distributed.fsdp import FSDPModule

    from pytest_archcheck.probe.build import make_inputs, make_loss, make_optimizer
    from pytest_archcheck.probe.sharded import fake_world, materialise, prepare
    from pytest_archcheck.probe.step import train_step
    from pytest_archcheck.spec.parallel import layout_of

    loss_fn = make_loss(spec)
    lay = layout_of(spec)
    with fake_world(lay.world_size):
        model = prepare(spec, model)
        with FakeTensorMode(allow_non_fake_inputs=True):
            materialise(model)
            model.train()
            if lay.zero_stage == 1:
                # ZeRO-1 as torch ships it, built here (AdamW, the spec's optimizer)
                from torch.distributed.optim import ZeroRedundancyOptimizer

                assert spec.train.optimizer == "adamw"
                opt = ZeroRedundancyOptimizer(
                    list(model.parameters()), optimizer_class=torch.optim.AdamW, lr=0.0
                )
            else:
                opt = make_optimizer(spec, list(model.parameters()))

            def step() -> None:
                _, _, _, loss = train_step(
                    model, lambda: make_inputs(spec, N, BATCH, "cpu"), loss_fn, spec, "cpu"
                )
                del loss
                opt.step()
                opt.zero_grad(set_to_none=True)

            step()  # steady state, as the probe
            if isinstance(model, FSDPModule):
                tracker: Any = FSDPMemTracker(model, opt)
            else:
                tracker = MemTracker()
                # ZeroRedundancyOptimizer keeps rank 0's state in its local `optim`, which
                # MemTracker must be shown to count the state made in the warm-up step
                tracker.track_external(model, getattr(opt, "optim", opt))
            with tracker:
                step()
            snap = tracker.get_tracker_snapshot("peak")
    [dev] = list(snap)
    return int(snap[dev]["Total"])


LAYOUTS = {
    "fsdp8": {"dp_shard": 8},
    "fsdp64": {"dp_shard": 64},
    "fsdp4-tp2": {"dp_shard": 4, "tp": 2},
    "hsdp2x4": {"dp_replicate": 2, "dp_shard": 4},
    "tp2": {"tp": 2},
    "fsdp8-keep-unsharded": {"dp_shard": 8, "reshard_after_forward": False},
    "zero1-8": {"dp_replicate": 8, "zero_stage": 1},
    "zero1-64": {"dp_replicate": 64, "zero_stage": 1},
    "zero2-8": {"dp_replicate": 8, "zero_stage": 2},
    "zero2-64": {"dp_replicate": 64, "zero_stage": 2},
    "zero3-64": {"dp_replicate": 64, "zero_stage": 3},
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_peak_equals_torch_tracker(name: str) -> None:
    from pytest_archcheck.probe.sharded import measure

    spec = _spec(LAYOUTS[name])
    got = measure(spec, N, BATCH)
    assert got.peak_bytes == _torch_tracker_peak(spec)
    assert sum(got.extra["parts"].values()) == got.peak_bytes
    assert sum(got.breakdown.values()) == got.peak_bytes


def test_zero3_is_fsdp_over_the_data_parallel_ranks() -> None:
    from pytest_archcheck.probe.sharded import measure

    legacy = _spec(world_size=8, zero_stage=3)
    got = measure(legacy, N, BATCH)
    assert got.peak_bytes == _torch_tracker_peak(legacy)
    assert got.peak_bytes == measure(_spec({"dp_shard": 8}), N, BATCH).peak_bytes


def test_zero2_is_fsdp_keeping_parameters_gathered_from_forward_to_backward() -> None:
    """ZeRO-2's torch counterpart is FSDP's SHARD_GRAD_OP: fully_shard over the data-parallel
    ranks with reshard_after_forward = False, whatever [train.parallel] says of resharding."""
    from pytest_archcheck.probe.sharded import measure

    zero2 = measure(_spec(world_size=8, zero_stage=2), N, BATCH)
    keep = measure(_spec({"dp_shard": 8, "reshard_after_forward": False}), N, BATCH)
    assert zero2.peak_bytes == keep.peak_bytes
    assert zero2.extra["parts"] == keep.extra["parts"]
    assert zero2.extra["layout"] == "DDP replicate 8 x ZeRO-2 (world 8)"


# --- the per-rank account by hand (reference Transformer, GPT-2 layout, untied head) -------

H, F, V, P_ROWS = 64, 256, 120, 64
BLOCK = [(H,), (H,), (3 * H, H), (3 * H,), (H, H), (H,), (H,), (H,), (F, H), (F,), (H, F), (H,)]
ROOT = [(V, H), (P_ROWS, H), (H,), (H,), (V, H)]  # wte, wpe, ln_f weight/bias, head


def _shard(shape: tuple[int, ...], world: int) -> int:
    return math.ceil(shape[0] / world) * math.prod(shape[1:])


def test_fsdp8_model_states_by_hand() -> None:
    from pytest_archcheck.probe.sharded import measure

    W = 8
    tensors = ROOT + 3 * BLOCK
    sharded = 4 * sum(_shard(s, W) for s in tensors)
    got = measure(_spec({"dp_shard": W}), N, BATCH).extra
    parts = got["parts"]
    assert got["phase"] == "backward"
    assert parts["params"] == sharded
    assert parts["optimizer"] == 2 * sharded + 4 * len(tensors)
    assert parts["unsharded_params"] == 4 * sum(map(math.prod, ROOT + BLOCK))
    assert parts["all_gather"] == 4 * W * sum(_shard(s, W) for s in BLOCK)
    assert parts["reduce_scatter"] == 0 and parts["grads"] == 0  # peak before the first one


def test_zero1_model_states_by_hand() -> None:
    """ZeRO-1 (ZeroRedundancyOptimizer) at world 8: parameters stay whole on every rank; the
    optimizer state is that of rank 0's whole tensors. Worked out from the shapes: sorted by
    size, the six 256x64 / 64x256 MLP matrices (16,384 elements) go to ranks 0-5, the three
    192x64 QKV weights (12,288) to ranks 6, 7, 6; the first 120x64 table (7,680) to rank 7
    (12,288, the least loaded), the second to rank 0 (16,384 against 20,480 .. 24,576); every
    smaller tensor then lands on ranks 1-5, which stay below rank 0's 24,064 elements. Rank 0:
    24,064 elements in 2 tensors -> AdamW 2 x 4 x 24,064 + two fp32 step counters."""
    from pytest_archcheck.probe.sharded import measure

    got = measure(_spec({"dp_replicate": 8, "zero_stage": 1}), N, BATCH).extra
    parts = got["parts"]
    whole = 4 * sum(map(math.prod, ROOT + 3 * BLOCK))
    assert parts["params"] == whole
    assert parts["optimizer"] == 2 * 4 * (16384 + 7680) + 2 * 4
    assert parts["unsharded_params"] == parts["all_gather"] == parts["reduce_scatter"] == 0
    assert got["layout"] == "DDP replicate 8 x ZeRO-1 (world 8)"


def test_zero2_model_states_by_hand() -> None:
    """ZeRO-2 at world 8: parameters, gradients and optimizer state are sharded in 8 (every
    dim 0 here divides by 8, no padding); at the backward peak every parameter is gathered."""
    from pytest_archcheck.probe.sharded import measure

    W = 8
    tensors = ROOT + 3 * BLOCK
    sharded = 4 * sum(_shard(s, W) for s in tensors)
    got = measure(_spec({"dp_replicate": W, "zero_stage": 2}), N, BATCH).extra
    parts = got["parts"]
    assert sharded == 4 * sum(map(math.prod, tensors)) // W
    assert parts["params"] == sharded
    assert parts["optimizer"] == 2 * sharded + 4 * len(tensors)
    assert parts["unsharded_params"] == 4 * sum(map(math.prod, tensors))


class _TPMLPStack(torch.nn.Module):
    """A user model with its own tensor-parallel plan (no attention: only MLP blocks)."""

    def __init__(self, vocab: int, d: int, f: int, layers: int) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        self.layers = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(d, f), torch.nn.GELU(), torch.nn.Linear(f, d))
            for _ in range(layers)
        )
        self.out = torch.nn.Linear(d, vocab)

    def forward(self, x: Any) -> Any:
        h = self.emb(x)
        for blk in self.layers:
            h = h + blk(h).clone()  # FSDP2 warns about a block returning a view
        return self.out(h)

    def tp_plan(self) -> dict[str, Any]:
        from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

        return {"layers.*.0": ColwiseParallel(), "layers.*.2": RowwiseParallel()}


def test_user_factory_with_its_own_tp_plan() -> None:
    from pytest_archcheck.probe.sharded import measure

    spec = _spec({"dp_shard": 2, "tp": 2})
    with torch.device("meta"):
        model = _TPMLPStack(V, H, F, 2)
    got = measure(spec, N, BATCH, model=model)
    with torch.device("meta"):
        again = _TPMLPStack(V, H, F, 2)
    assert got.peak_bytes == _torch_tracker_peak(spec, again)
    # by hand: the TP-split first linear keeps F/2 rows (+ F/2 bias), the second H x F/2 (+ H
    # bias, replicated); FSDP 2 halves every local tensor along dim 0
    block = [(F // 2, H), (F // 2,), (H, F // 2), (H,)]
    root = [(V, H), (V, H), (V,)]
    sharded = 4 * sum(_shard(s, 2) for s in root + 2 * block)
    assert got.extra["parts"]["params"] == sharded
    assert got.extra["layout"] == "FSDP 2 x TP 2 (world 4)"


def test_world_1024_runs_in_one_process() -> None:
    from pytest_archcheck.probe.sharded import measure

    got = measure(_spec({"dp_shard": 1024}), N, BATCH)
    tensors = ROOT + 3 * BLOCK
    assert got.extra["parts"]["params"] == 4 * sum(_shard(s, 1024) for s in tensors)
    assert got.extra["world_size"] == 1024


@pytest.mark.parametrize(
    ("train", "words"),
    [
        ({"parallel": {"dp_replicate": 4, "tp": 2, "zero_stage": 1}}, "zero_stage 1 with tp"),
        ({"parallel": {"dp_replicate": 4}}, "plain DDP"),
        ({"parallel": {"dp_shard": 4, "offload": "optimizer"}}, 'offload = "optimizer"'),
    ],
)
def test_layouts_not_measured_are_refused(train: dict[str, Any], words: str) -> None:
    from pytest_archcheck.probe.sharded import NotMeasured, measure

    spec = Spec.model_validate({"model": MODEL, "train": {"batch": BATCH, **train}})
    with pytest.raises(NotMeasured, match=words):
        measure(spec, N, BATCH)
