"""Per-rank model states under ZeRO and tensor parallelism in the training-peak formula.

Expected values from Llama-2-7B's exact parameter count P = 6,738,415,616 (Touvron et al.
2023; pinned in test_params.py): fp32 weights and grads are 4P bytes; ZeRO partitions over
the data-parallel ranks world_size / tensor_parallel (Rajbhandari et al. 2019, §5).
"""

from __future__ import annotations

from pytest_archcheck.formulas.params import shapes_from_spec
from pytest_archcheck.formulas.peak import (
    ModelStateBytes,
    buffer_bytes,
    model_states,
    train_memory,
)
from pytest_archcheck.runtime import target_for
from pytest_archcheck.spec.model import Spec

P = 6_738_415_616
LLAMA = {
    "family": "transformer",
    "layers": 32,
    "d_model": 4096,
    "heads": 32,
    "d_ff": 11008,
    "vocab": 32000,
    "mlp": "swiglu",
    "norm": "rmsnorm",
    "positional": "rotary",
    "bias": "none",
    "tied_embeddings": False,
}


def _mem(**train: object):
    spec = Spec.model_validate({"model": LLAMA, "train": {"batch": 1, "dtype": "bf16", **train}})
    return spec, train_memory(spec, 4096, 1)


def _states(**train: object) -> ModelStateBytes:
    """Per-rank model states (memory.model_states), whatever phase the peak falls in."""
    spec = Spec.model_validate({"model": LLAMA, "train": {"batch": 1, "dtype": "bf16", **train}})
    return model_states(spec, shapes_from_spec(spec), target_for(spec))


def test_unsharded_states_are_4p_each() -> None:
    spec, m = _mem()
    assert m.params == 4 * P + buffer_bytes(spec)
    assert _states().grads == 4 * P


def test_zero_stages_partition_over_data_parallel_ranks() -> None:
    _, m0 = _mem(world_size=8)
    _, m1 = _mem(world_size=8, zero_stage=1)
    _, m2 = _mem(world_size=8, zero_stage=2)
    spec3, m3 = _mem(world_size=8, zero_stage=3)
    # stage 1 is torch's ZeroRedundancyOptimizer (what the sharded probe runs): whole tensors
    # given greedily by size, so rank 0 keeps about an eighth of AdamW's state -- within one
    # largest tensor's two moments (the 32000 x 4096 table) of it -- not DeepSpeed's exact
    # flat eighth (test_states.py keeps DeepSpeed's tables)
    assert abs(m1.optimizer - m0.optimizer / 8) <= 2 * 4 * 32000 * 4096
    assert m1.optimizer < m0.optimizer // 7
    assert _states(world_size=8, zero_stage=1).grads == 4 * P  # stage 1 keeps full gradients
    assert _states(world_size=8, zero_stage=2).grads == 4 * P // 8 == 3_369_207_808
    # stage 3 is taken as FSDP over the 8 data-parallel ranks (what the sharded probe runs):
    # an eighth of the weights (every dim 0 of Llama-2-7B divides by 8), and the root group --
    # the 32000 x 4096 embedding and head and the final RMSNorm -- all-gathered through the
    # step: 4 * (2 * 131,072,000 + 4096) bytes (formulas/sharding.py).
    assert m3.params == 3_369_207_808 + buffer_bytes(spec3)
    assert m3.unsharded_params >= 4 * (2 * 32000 * 4096 + 4096) == 1_048_592_384
    assert m3.total < m2.total < m0.total


def test_tensor_parallel_splits_states_and_zero_uses_the_rest() -> None:
    _, m = _mem(world_size=8, tensor_parallel=2, zero_stage=2)
    assert _states(world_size=8, tensor_parallel=2, zero_stage=2).grads == 4 * P // 2 // 4
    assert m.total < _mem(world_size=8, zero_stage=2)[1].total
