"""Model-state bytes: ZeRO's worked examples and DeepSpeed's documented estimator table."""

from __future__ import annotations

import pytest

from pytest_archcheck.formulas.states import (
    adafactor_state_elements,
    model_states,
    model_states_from_spec,
    weight_bytes,
    zero3_model_states_mem,
)
from pytest_archcheck.spec.model import Spec


def test_fp32_and_mixed_precision_bytes_per_param() -> None:
    p = 1000
    s = model_states(p, "fp32", "adam")
    assert (s.params, s.grads, s.optimizer) == (4 * p, 4 * p, 8 * p)  # m and v in fp32
    s = model_states(p, "bf16", "adamw")
    # ZeRO: 2 (fp16 weights) + 2 (fp16 grads) + K=12 (fp32 master, m, v) = 16 B/param
    assert (s.params, s.grads, s.optimizer, s.total) == (2 * p, 2 * p, 12 * p, 16 * p)
    assert model_states(p, "fp32", "sgd").total == 8 * p
    assert model_states(p, "fp16", "sgd-momentum").optimizer == (4 + 4) * p  # master + momentum


def test_zero_paper_7_5b_on_64_gpus() -> None:
    # Rajbhandari et al. 2019, Figure 1: Psi = 7.5B, K = 12, N_d = 64
    psi, nd = 7_500_000_000, 64
    assert model_states(psi, "fp16", "adam").total == 16 * psi  # 120 GB baseline
    s1 = model_states(psi, "fp16", "adam", zero_stage=1, world_size=nd)
    assert s1.total == 2 * psi + 2 * psi + 12 * psi // nd  # 31.4 GB
    s2 = model_states(psi, "fp16", "adam", zero_stage=2, world_size=nd)
    assert s2.total == 2 * psi + (2 * psi) // nd + 12 * psi // nd  # 16.6 GB
    s3 = model_states(psi, "fp16", "adam", zero_stage=3, world_size=nd)
    assert s3.total == 16 * psi // nd  # 1.9 GB
    assert round(s1.total / 1e9, 1) == 31.4 and round(s2.total / 1e9, 1) == 16.6
    assert round(s3.total / 1e9, 1) == 1.9


def test_tensor_parallel_divides_everything() -> None:
    s = model_states(8000, "bf16", "adamw", tensor_parallel=8)
    assert s.total == 16 * 8000 // 8


def test_adafactor_factored_state() -> None:
    # matrix 10x20 keeps 10 row + 20 column entries; the 20-vector keeps all 20
    assert adafactor_state_elements([(10, 20), (20,)]) == 10 + 20 + 20
    # conv weight (out=4, in=3, k=5) factors the last two dims per leading index: 4 * (3 + 5)
    assert adafactor_state_elements([(4, 3, 5)]) == 4 * (3 + 5)
    s = model_states(220, "fp32", "adafactor", shapes=[(10, 20), (20,)])
    assert s.optimizer == 4 * 50


def test_weight_bytes() -> None:
    assert weight_bytes(6_738_415_616, "fp16") == 2 * 6_738_415_616


def test_model_states_from_spec() -> None:
    gpt2 = {"layers": 12, "d_model": 768, "heads": 12, "d_ff": 3072, "vocab": 50257,
            "max_positions": 1024}  # fmt: skip
    spec = Spec(model=gpt2, train={"dtype": "bf16", "optimizer": "adamw"})
    assert model_states_from_spec(spec).total == 16 * 124_439_808


# DeepSpeed "Memory Requirements", ZeRO-3, estimate_zero3_model_states_mem_needs_all_cold(
# total_params=2851e6, largest_layer_params=32e6, num_gpus_per_node=8, num_nodes=1):
#   per CPU  |  per GPU |   Options
#    71.69GB |   0.12GB | offload_param=cpu , offload_optimizer=cpu , zero_init=1
#   127.45GB |   0.12GB | offload_param=cpu , offload_optimizer=cpu , zero_init=0
#    63.72GB |   0.78GB | offload_param=none, offload_optimizer=cpu , zero_init=1
#   127.45GB |   0.78GB | offload_param=none, offload_optimizer=cpu , zero_init=0
#     1.43GB |   6.09GB | offload_param=none, offload_optimizer=none, zero_init=1
#   127.45GB |   6.09GB | offload_param=none, offload_optimizer=none, zero_init=0
# https://deepspeed.readthedocs.io/en/latest/memory.html ("GB" there is bytes / 2**30)
DEEPSPEED_T0_3B = [
    ((True, True, True), 71.69, 0.12),
    ((True, True, False), 127.45, 0.12),
    ((True, False, True), 63.72, 0.78),
    ((True, False, False), 127.45, 0.78),
    ((False, False, True), 1.43, 6.09),
    ((False, False, False), 127.45, 6.09),
]


@pytest.mark.parametrize(("options", "cpu_gb", "gpu_gb"), DEEPSPEED_T0_3B)
def test_deepspeed_zero3_table(
    options: tuple[bool, bool, bool], cpu_gb: float, gpu_gb: float
) -> None:
    offload, offload_params, zero_init = options
    cpu, gpu, largest = zero3_model_states_mem(
        2_851_000_000, 32_000_000, 8, 1, offload, offload_params, zero_init
    )
    assert largest == 4 * 32_000_000
    assert (round(cpu / 2**30, 2), round(gpu / 2**30, 2)) == (cpu_gb, gpu_gb)


def test_deepspeed_zero3_exact_bytes() -> None:
    p, big = 2_851_000_000, 32_000_000
    # no offload: 4*largest + 18*P/8 on the GPU; zero.Init: 4 B * largest * 8 GPUs * 1.5 on CPU
    cpu, gpu, _ = zero3_model_states_mem(p, big, 8, 1, False, False, True)
    assert gpu == 4 * big + 18 * p // 8 == 6_542_750_000
    assert cpu == big * 4 * 8 * 3 // 2 == 1_536_000_000
    # full offload without zero.Init: P * max(4*8, 18) * 1.5 on CPU
    cpu, gpu, _ = zero3_model_states_mem(p, big, 8, 1, True, True, False)
    assert cpu == p * 32 * 3 // 2 and gpu == 4 * big
