"""Model-state bytes: weights, gradients and optimizer state, per precision, optimizer and sharding.

Convention (Rajbhandari et al. 2019, "ZeRO", arXiv:1910.02054, §3.1):

- fp32 training: weights 4 B, gradients 4 B, optimizer 4 B per state slot.
- mixed precision (fp16/bf16): half-precision weights 2 B and gradients 2 B; the optimizer keeps
  an fp32 master copy (4 B) plus 4 B per slot. Mixed-precision Adam = 2 + 2 + K with K = 12
  (master, momentum, variance) = 16 B/param. The master copy is booked under "optimizer", as in
  ZeRO's K.
- slots: sgd 0, sgd-momentum 1 (momentum buffer), adam/adamw 2 (exp_avg, exp_avg_sq).
- adafactor (Shazeer & Stern 2018, arXiv:1804.04235) with its defaults (beta1=None, factored):
  no momentum; a matrix of shape (..., r, c) keeps r + c second-moment entries per leading index
  (row and column running means, as in HF `Adafactor._get_options`/`factored`), vectors keep
  one entry per element. Without shapes we fall back to one entry per parameter (upper bound).
- ZeRO stage 1 partitions the optimizer state across `world_size`, stage 2 also gradients,
  stage 3 also weights. Tensor parallelism divides all three by `tensor_parallel` first.
  Partitions round up (ceil), per device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Literal

from .registry import formula

if TYPE_CHECKING:
    from ..spec.model import Spec

DType = Literal["fp32", "fp16", "bf16"]
Optimizer = Literal["sgd", "sgd-momentum", "adam", "adamw", "adafactor"]
DTYPE_BYTES: dict[str, int] = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2}
OPTIMIZER_SLOTS: dict[str, int] = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@formula(
    "states.adafactor_elements",
    "Σ_matrices prod(lead)*(r + c) + Σ_vectors n",
    "Shazeer & Stern 2018, arXiv:1804.04235",
)
def adafactor_state_elements(shapes: Sequence[tuple[int, ...]]) -> int:
    """Second-moment entries Adafactor keeps: factored rows+cols for >=2-D tensors, full else."""
    total = 0
    for s in shapes:
        if len(s) >= 2:
            total += prod(s[:-2]) * (s[-2] + s[-1])
        else:
            total += prod(s)
    return total


@formula(
    "states.optimizer_elements",
    "sgd 0; sgd-momentum P; adam/adamw 2P; adafactor factored",
    "torch.optim; arXiv:1804.04235",
)
def optimizer_state_elements(
    optimizer: Optimizer, n_params: int, shapes: Sequence[tuple[int, ...]] | None = None
) -> int:
    """Optimizer state entries (excluding any fp32 master copy)."""
    if optimizer == "adafactor":
        return adafactor_state_elements(shapes) if shapes is not None else n_params
    return OPTIMIZER_SLOTS[optimizer] * n_params


@dataclass(frozen=True)
class ModelStates:
    """Bytes per device of weights, gradients and optimizer state (incl. fp32 master copy)."""

    params: int
    grads: int
    optimizer: int

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer


@formula(
    "states.model_states",
    "fp32: 4P + 4P + 4*S; mixed: 2P + 2P + (4P + 4*S); ZeRO-k / world_size; all / tp",
    "Rajbhandari et al. 2019 (ZeRO), arXiv:1910.02054",
)
def model_states(
    n_params: int,
    dtype: DType = "fp32",
    optimizer: Optimizer = "adamw",
    *,
    zero_stage: int = 0,
    world_size: int = 1,
    tensor_parallel: int = 1,
    shapes: Sequence[tuple[int, ...]] | None = None,
) -> ModelStates:
    """Per-device bytes of weights, gradients, optimizer state for one training setup."""
    if not 0 <= zero_stage <= 3:
        raise ValueError(f"zero_stage must be 0..3, got {zero_stage}")
    p = _ceil_div(n_params, tensor_parallel)
    slots = _ceil_div(optimizer_state_elements(optimizer, n_params, shapes), tensor_parallel)
    mixed = dtype != "fp32"
    w = DTYPE_BYTES[dtype] * p
    g = DTYPE_BYTES[dtype] * p
    o = (4 * p if mixed else 0) + 4 * slots
    if zero_stage >= 1:
        o = _ceil_div(o, world_size)
    if zero_stage >= 2:
        g = _ceil_div(g, world_size)
    if zero_stage >= 3:
        w = _ceil_div(w, world_size)
    return ModelStates(params=w, grads=g, optimizer=o)


@formula(
    "states.inference_weights",
    "bytes = P * dtype_bytes / tp",
    "—",
)
def weight_bytes(n_params: int, dtype: DType = "fp32", tensor_parallel: int = 1) -> int:
    """Bytes of the weights alone in `dtype` (inference)."""
    return DTYPE_BYTES[dtype] * _ceil_div(n_params, tensor_parallel)


@formula(
    "states.deepspeed_zero3",
    "GPU: 4*largest + {18P/gpus | 2P/gpus | 0}; CPU: P*{18|16}*1.5/nodes or P*4*gpus_per_node*1.5",
    "https://deepspeed.readthedocs.io/en/latest/memory.html",
)
def zero3_model_states_mem(
    total_params: int,
    largest_layer_params: int,
    num_gpus_per_node: int = 1,
    num_nodes: int = 1,
    cpu_offload: bool = True,
    cpu_offload_params: bool = True,
    zero_init: bool = True,
    additional_buffer_factor: float = 1.5,
) -> tuple[int, int, int]:
    """DeepSpeed's ZeRO-3 model-state estimate: (cpu_bytes, gpu_bytes, largest_layer_bytes).

    Follows `deepspeed.runtime.zero.stage3.estimate_zero3_model_states_mem_needs` as documented
    in DeepSpeed's "Memory Requirements" page: 18 B/param = 16 (fp32 param, grad, momentum,
    variance) + 2 (fp16 param); the largest layer is gathered as fp16 params + grads (4 B/param).
    """
    total_gpus = num_nodes * num_gpus_per_node
    gpus_factor = 1 / num_nodes
    largest = 4 * largest_layer_params
    if cpu_offload:
        per_param = 18 if cpu_offload_params else 16
        gpu = largest if cpu_offload_params else largest + int(2 * total_params / total_gpus)
        if zero_init:
            cpu = total_params * per_param * gpus_factor * additional_buffer_factor
        else:
            cpu = (
                total_params
                * max(4 * num_gpus_per_node, per_param * gpus_factor)
                * additional_buffer_factor
            )
    else:
        gpu = largest + int(18 * total_params / total_gpus)
        base = largest_layer_params if zero_init else total_params
        cpu = base * 4 * num_gpus_per_node * additional_buffer_factor
    return int(cpu), int(gpu), largest


def model_states_from_spec(spec: Spec, n_params: int | None = None) -> ModelStates:
    """Model states per device for the spec's [train] table (params counted if not given)."""
    from .params import params_from_spec, shapes_from_spec

    t = spec.train
    shapes = shapes_from_spec(spec) if t.optimizer == "adafactor" else None
    n = n_params if n_params is not None else params_from_spec(spec)
    return model_states(
        n,
        t.dtype,
        t.optimizer,
        zero_stage=t.zero_stage,
        world_size=t.world_size,
        tensor_parallel=t.tensor_parallel,
        shapes=shapes,
    )


def inference_weight_bytes_from_spec(spec: Spec, n_params: int | None = None) -> int:
    """Weights at [infer] dtype (default: [train] dtype), divided by tensor_parallel."""
    from .params import params_from_spec

    n = n_params if n_params is not None else params_from_spec(spec)
    return weight_bytes(n, spec.infer.dtype or spec.train.dtype, spec.train.tensor_parallel)
