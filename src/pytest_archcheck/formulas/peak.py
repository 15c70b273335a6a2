"""Training peak memory of one steady-state step, composed from terms (pure Python, no torch).

Steady state (what probe/step.py measures): optimizer state exists, gradients were released by
zero_grad(set_to_none=True). The peak is the largest of five phases:

1. forward (end of forward): weights + optimizer state + saved activations + attention scores
   + logits;
2. backward (early): the logits are gone, the output-layer weight gradient and the first
   activation gradients are alive (`backward_transients`, from the family);
3. late-backward (Transformers): nearly all parameter gradients exist while the first layer
   (recomputed, with checkpointing) is differentiated;
4. end-of-backward: every parameter gradient exists, the loop still holds the model output
   (the logits of a cross-entropy loss), and the last op's transients (tied embeddings: the
   head's partial weight gradient and the embedding's, before autograd adds them);
5. optimizer: weights + gradients + optimizer state + the step's temporaries (runtime:
   CUDA's foreach step copies the second moments, the CPU loop holds two tensors of the
   largest parameter).

`train_memory` returns the composition *at the phase where the peak falls*: its parts
(`terms()`) add up to `total` exactly, each naming the registered formula that produced it.
Parameter tensors come from the family unit (`families/*.py` `param_shapes`, the only source of
parameter counts), saved bytes from its `forward_saved`, kernel semantics from the target
(runtime/). On CUDA the total adds what torch.cuda.max_memory_allocated sees beyond the tensors'
bytes and can be derived from the PyTorch source: cuBLAS workspaces and the caching allocator's
512-byte rounding of persistent tensors (runtime/cuda.py). Not modelled: cuDNN convolution/RNN
workspaces, fused-attention scratch, the rounding of activations.

Model states follow torch autocast, which is what a PyTorch training step allocates: fp32 master
weights (4 B/param) and fp32 gradients (4 B) whatever [train] dtype is (the 16-bit weight copies
autocast caches count as activations), Adam/AdamW moments 8 B plus one 4-byte step counter per
parameter tensor. (formulas/states.py keeps ZeRO's 2 + 2 + K convention, for DeepSpeed's
tables.) Tensor parallelism and ZeRO divide them per rank (`memory.model_states`).

train_memory is called ~20 times per spec by the n_max bisection; everything that does not
depend on (n, batch) is computed once per spec object (specs are frozen) and cached.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .memo import per_spec
from .params import shapes_from_spec
from .registry import formula
from .states import adafactor_state_elements

if TYPE_CHECKING:
    from ..runtime import Target
    from ..spec.model import Spec

Shape = tuple[int, ...]
PHASES = ("forward", "backward", "late-backward", "end-of-backward", "optimizer")


def buffer_bytes(spec: Spec) -> int:
    """Persistent buffers of the family's reference module (BatchNorm statistics)."""
    from ..families import family_of

    return family_of(spec).buffer_bytes(spec)


@formula(
    "memory.optimizer_state",
    "sgd 0; sgd-momentum 4P; adam/adamw 8P + 4*tensors; adafactor 4*factored + 4*tensors",
    "torch.optim state_dict layouts (fp32 state, one step counter per tensor)",
)
def optimizer_bytes(optimizer: str, shapes: list[Shape], n_params: int | None = None) -> int:
    """Bytes of the optimizer's state for parameter tensors `shapes` (fp32)."""
    P = n_params if n_params is not None else sum(map(math.prod, shapes))
    if optimizer == "sgd":
        return 0
    if optimizer == "sgd-momentum":
        return 4 * P
    if optimizer == "adafactor":  # factored second moments, fp32, and one step counter per tensor
        return 4 * adafactor_state_elements(shapes) + 4 * len(shapes)
    return 8 * P + 4 * len(shapes)


@dataclass(frozen=True)
class ModelStateBytes:
    """Per-rank bytes of the model states and the step's temporaries on one target."""

    params: int
    grads: int
    optimizer: int
    step_temporaries: int
    largest: int  # elements of the largest parameter tensor


@formula(
    "memory.model_states",
    "params 4P + buffers, grads 4P, optimizer (memory.optimizer_state); /tp; ZeRO k: /dp",
    "torch autocast (fp32 master weights); Rajbhandari et al. 2019 ZeRO §5; Shoeybi et al. 2019",
)
def model_states(spec: Spec, shapes: list[Shape], target: Target) -> ModelStateBytes:
    """Weights, gradients, optimizer state and step temporaries per rank.

    Tensor parallelism splits every matrix over `tensor_parallel` ranks; ZeRO stage k partitions
    optimizer state (k>=1), gradients (k>=2) and parameters (k=3) over the data-parallel ranks,
    world_size / tensor_parallel. Stage 3 gathers one layer's full parameters at a time: the
    largest tensor is added back as that working buffer. Activations are not divided (each rank
    runs its own micro-batch), so the estimate errs on the safe side."""
    from ..families import family_of
    from ..runtime import step_temporaries

    sizes = Counter(map(math.prod, shapes))  # layers repeat shapes: work per distinct size
    P = sum(k * c for k, c in sizes.items())
    largest = max(sizes, default=0)
    t = spec.train
    frozen = family_of(spec).frozen_shapes(spec)
    if frozen:  # no gradient, no optimizer state, skipped by the step
        shapes = trainable_shapes(shapes, frozen)
    T = sum(map(math.prod, shapes)) if frozen else P
    tmp = step_temporaries(target, t.optimizer, shapes)
    params, grads, optimizer = 4 * P, 4 * T, optimizer_bytes(t.optimizer, shapes, T)
    from ..spec.parallel import layout_of

    lay = layout_of(spec)
    if lay.zero1 and lay.tp == 1:
        # torch's ZeroRedundancyOptimizer: rank 0 keeps the state of whole tensors
        # (sharding.zero1_partition), and its step runs over those only
        from .sharding import zero1_partition

        mine = zero1_partition(list(shapes), lay.dp)
        optimizer = optimizer_bytes(t.optimizer, mine, sum(map(math.prod, mine)))
        tmp = step_temporaries(target, t.optimizer, mine)
    elif lay.tp > 1 or lay.zero_stage > 0:
        tp = lay.tp
        dp = lay.dp
        params, grads, optimizer = -(-params // tp), -(-grads // tp), -(-optimizer // tp)
        tmp = -(-tmp // tp)
        if lay.zero_stage >= 1:
            optimizer = -(-optimizer // dp)
            if target.cuda:  # foreach steps run on the partition; the CPU loop's largest tensor not
                tmp = -(-tmp // dp)
        if lay.zero_stage >= 2:
            grads = -(-grads // dp)
        if lay.zero_stage >= 3:
            params = -(-params // dp) + 4 * largest
    params += family_of(spec).buffer_bytes(spec)
    return ModelStateBytes(params, grads, optimizer, tmp, largest)


def trainable_shapes(shapes: list[Shape], frozen: list[Shape]) -> list[Shape]:
    """`shapes` less one occurrence of each frozen shape (a family's `frozen_shapes`), in
    order: the tensors that get gradients and optimizer state."""
    left = Counter(frozen)
    out: list[Shape] = []
    for s in shapes:
        if left[s]:
            left[s] -= 1
        else:
            out.append(s)
    return out


@dataclass(frozen=True)
class _Static:
    """The (n, batch)-independent part of train_memory, for one spec and target."""

    states: ModelStateBytes
    cuda_overhead: int
    cuda_grad_pad: int
    shapes: int  # number of parameter tensors


@per_spec(maxsize=256)
def _static(spec: Spec, target: Target) -> _Static:
    from ..runtime.cuda import allocator_overhead, cuda_alloc_size
    from ..spec.parallel import layout_of

    shapes = shapes_from_spec(spec)
    states = model_states(spec, shapes, target)
    always = grad_pad = 0
    if target.cuda:
        from ..families import family_of

        frozen = family_of(spec).frozen_shapes(spec)
        train = trainable_shapes(shapes, frozen) if frozen else shapes
        sizes = Counter(map(math.prod, train))
        always, grad_pad = allocator_overhead(
            spec.train.optimizer, target.device, sizes, len(train)
        )
        # the frozen weights' own rounding (they have no gradient nor moments)
        always += sum(cuda_alloc_size(4 * math.prod(f)) - 4 * math.prod(f) for f in frozen)
        lay = layout_of(spec)
        if lay.zero1 and lay.tp == 1:
            # the moments' rounding over rank 0's partition only (params and grads are whole)
            from .sharding import zero1_partition

            mine = zero1_partition(list(shapes), lay.dp)
            part_always, part_pad = allocator_overhead(
                spec.train.optimizer, target.device, Counter(map(math.prod, mine)), len(mine)
            )
            always = grad_pad + part_always - part_pad
    return _Static(states, always, grad_pad, len(shapes))


@dataclass(frozen=True)
class Term:
    """One printed figure: its value, the registered formula behind it and that formula's inputs."""

    key: str
    label: str
    value: int
    formula: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "formula": self.formula,
            "inputs": self.inputs,
        }


@dataclass(frozen=True)
class TrainMemory:
    """The training-step peak (`total`) and its composition at the phase where it falls: every
    part below is what is alive at that moment, and the parts add up to `total` exactly."""

    params: int  # fp32 weights (+ buffers), per rank
    grads: int  # gradients alive at the peak (0 at the end of forward)
    optimizer: int
    activations: int
    attention_scores: int
    logits: int
    backward_transients: int  # early backward: gradients in flight minus what was freed
    forward_transients: int  # inside forward: bytes beyond the end-of-forward set (mask builds)
    step_temporaries: int  # optimizer step
    allocator: int  # CUDA: cuBLAS workspaces + allocator rounding
    total: int
    phase: str  # "forward" | "backward" | "late-backward" | "end-of-backward" | "optimizer"
    target: str  # runtime.Target.label
    activations_formula: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    # FSDP (formulas/sharding.py): all-gathered parameters and all-gather buffers alive at the
    # peak; 0 without FSDP. `layout` names the parallel layout ("" on one device).
    unsharded_params: int = 0
    comm_buffers: int = 0
    layout: str = ""

    PARTS = (
        "params",
        "grads",
        "optimizer",
        "activations",
        "attention_scores",
        "logits",
        "backward_transients",
        "forward_transients",
        "step_temporaries",
        "allocator",
        "unsharded_params",
        "comm_buffers",
    )

    def terms(self) -> list[Term]:
        """The peak's composition as printed rows; their values sum to `total`."""
        act = self.activations_formula or "activations"
        rows = [
            ("params", "weights (fp32) + buffers", "memory.model_states"),
            ("grads", "gradients alive", "memory.model_states"),
            ("optimizer", "optimizer state", "memory.optimizer_state"),
            ("activations", "activations saved for backward", act),
            ("attention_scores", "attention scores", act),
            ("logits", "logits + loss", act),
            ("backward_transients", "backward transients", act),
            ("forward_transients", "forward transients beyond the end of forward", act),
            ("step_temporaries", "optimizer-step temporaries", "runtime.step_temporaries"),
            (
                "allocator",
                "cuBLAS workspaces + allocator rounding",
                "runtime.cuda_allocator_overhead",
            ),
            ("unsharded_params", "FSDP all-gathered parameters", "sharding.fsdp_unsharded"),
            ("comm_buffers", "FSDP all-gather buffers", "sharding.fsdp_all_gather_buffer"),
        ]
        return [
            Term(f"memory.{k}", label, getattr(self, k), f, self.inputs) for k, label, f in rows
        ]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.PARTS}
        out |= {"total": self.total, "phase": self.phase, "target": self.target}
        if self.layout:
            out["layout"] = self.layout
        return out


def phase_parts(fw: Any, grads: int, step_temporaries: int) -> dict[str, dict[str, int]]:
    """What is alive beyond weights and optimizer state in each phase of the step, from the
    family's saved bytes `fw` (ForwardSaved) and the gradients / step temporaries per rank.
    train_memory takes the largest; formulas/sharding.py adds the layout's per-rank terms."""
    end_of_forward = {
        "activations": fw.activations,
        "attention_scores": 0 if fw.scores_transient else fw.attention_scores,
        "logits": fw.logits,
    }
    beyond = fw.forward_peak - sum(end_of_forward.values())
    parts: dict[str, dict[str, int]] = {
        "forward": end_of_forward | ({"forward_transients": beyond} if beyond > 0 else {}),
        "backward": {
            "activations": fw.activations,
            "attention_scores": fw.attention_scores,
            "backward_transients": max(fw.backward_extra, fw.loss_backward),
        },
        "optimizer": {"grads": grads, "step_temporaries": step_temporaries},
    }
    if fw.late_activations:
        parts["late-backward"] = {
            "activations": fw.late_activations,
            "grads": grads - fw.late_missing_grads,
        }
    if fw.held_through_backward or fw.end_backward:
        parts["end-of-backward"] = {
            "logits": fw.held_through_backward,
            "grads": grads,
            "backward_transients": fw.end_backward,
        }
    return parts


@formula(
    "memory.training_peak",
    "max over phases of the parts alive: forward, backward, late-backward, end-of-backward,"
    " optimizer step",
    "formulas/peak.py (phases measured by probe/step.py)",
)
def train_memory(
    spec: Spec,
    n: int | None = None,
    batch: int | None = None,
    *,
    target: Target | None = None,
    device: str | None = None,
    attention_kernel: str | None = None,
) -> TrainMemory:
    """Peak bytes of one steady-state training step at (batch, n) on `target`.

    target: runtime.target_for(spec) by default; `device` ("cpu" | "cuda") picks the target
    kind instead (older spelling). attention_kernel overrides [train] attention_kernel.
    """
    from ..families import family_of
    from ..runtime import target_for
    from ..runtime.cuda import cuda_alloc_size

    fam = family_of(spec)
    n = n or fam.train_n(spec)
    batch = batch or spec.train.batch
    if target is None:
        target = target_for(spec, device)
    if attention_kernel is not None and attention_kernel != spec.train.attention_kernel:
        spec = spec.model_copy(
            update={"train": spec.train.model_copy(update={"attention_kernel": attention_kernel})}
        )
    from ..spec.parallel import layout_of

    lay = layout_of(spec)
    if lay.declared:
        from .sharding import not_modelled, upper_bound

        if not_modelled(spec):
            return upper_bound(spec, n, batch, target)
        if lay.tp > 1:
            from .sharding import tensor_parallel_memory

            return tensor_parallel_memory(spec, n, batch, target)
    # ZeRO-2/3 run as FSDP over the data-parallel ranks; with the older keys'
    # tensor_parallel > 1 (no upper bound labelled for them) the ZeRO arithmetic of
    # memory.model_states stays
    if lay.fsdp_like and (lay.tp == 1 or lay.declared):
        from .sharding import fsdp_train_memory

        return fsdp_train_memory(spec, n, batch, target)
    st = _static(spec, target)
    s = st.states
    fw = fam.forward_saved(spec, n, batch, target)
    parts = phase_parts(fw, s.grads, s.step_temporaries)
    phase = max(PHASES, key=lambda p: sum(parts[p].values()) if p in parts else -1)
    alloc = 0
    if target.cuda:
        alloc = st.cuda_overhead
        if phase in ("forward", "backward"):
            alloc += cuda_alloc_size(4) - 4  # the scalar loss
        else:
            alloc += st.cuda_grad_pad
    at: dict[str, Any] = dict.fromkeys(TrainMemory.PARTS, 0) | parts[phase]
    at |= {"params": s.params, "optimizer": s.optimizer, "allocator": alloc}
    return TrainMemory(
        **at,
        total=sum(at.values()),
        phase=phase,
        target=target.label,
        activations_formula=fw.formula,
        inputs={"family": fam.name, "n": n, "batch": batch, "target": target.label},
    )
