"""Training peak memory of one steady-state step, from the spec alone (pure Python, no torch).

Steady state (what probe/step.py measures): optimizer state exists, gradients were released by
zero_grad(set_to_none=True). The peak is then the largest of three moments:

1. end of forward: params + optimizer + saved activations + attention scores + logits;
2. early backward: the logits are gone, the output-layer weight gradient and the first
   activation gradients are alive (for CNNs: the last block's input gradient); late backward
   (transformers): nearly all parameter gradients exist while the first layer (recomputed,
   with checkpointing) is differentiated;
3. optimizer step: params + grads + optimizer + the step's temporaries (CPU for-loop: two
   tensors of the largest parameter; CUDA foreach: a copy of the second moments).

Conventions follow formulas/states.py: fp32 master weights (4 B/param), fp32 grads (4), Adam/
AdamW moments (8) plus one 4-byte step counter per parameter tensor; mixed precision (bf16/fp16)
runs under autocast, whose 16-bit weight copies count as activations.

On CUDA the total adds what torch.cuda.max_memory_allocated sees beyond the tensors' bytes and
can be derived from the PyTorch source (`allocator`, see cuda_allocator_overhead): the caching
allocator's 512-byte rounding of the persistent tensors and cuBLAS's workspaces. Not modelled:
cuDNN convolution/RNN workspaces, fused-attention scratch, the rounding of activations.

train_memory is called ~20 times per spec by the n_max bisection; everything that does not
depend on (n, batch) -- parameter shapes, optimizer bytes, rounding -- is computed once per
spec object (specs are not mutated after validation) and cached.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass

from ..spec.model import RECURRENT, Spec
from .activations import forward_saved
from .params import GATES
from .states import adafactor_state_elements

Shape = tuple[int, ...]


def param_shapes(spec: Spec) -> list[Shape]:
    """Parameter tensors of the reference implementation of the spec's family (probe/zoo.py).

    Deliberately not params.shapes_from_spec (the Hugging Face layout, for parameter counts):
    the reference model fuses q, k, v into one Linear and SwiGLU's gate and up projections into
    one, and the sizes of the tensors as they are allocated decide the CUDA allocator's rounding
    and the optimizer step's largest-tensor temporaries.
    """
    m = spec.model
    out: list[Shape] = []
    if m.input == "image":
        chans = m.channel_list()
        out += [(chans[0], m.in_channels or 3, 3, 3), (chans[0],), (chans[0],)]
        c_in = chans[0]
        for c, st in zip(chans, m.stride_list(), strict=True):
            out += [(c, c_in, 3, 3), (c,), (c,), (c, c, 3, 3), (c,), (c,)]
            if st != 1 or c_in != c:
                out += [(c, c_in, 1, 1), (c,), (c,)]
            c_in = c
        return [*out, (m.classes or 10, c_in), (m.classes or 10,)]
    if m.family in RECURRENT:
        gates = GATES[m.family]
        H, dirs = m.hidden_size, 2 if m.bidirectional else 1
        if m.input == "tokens":
            out.append((m.vocab or 1000, m.d_model))
        for layer in range(m.layers):
            inp = m.d_model if layer == 0 else H * dirs
            out += [(gates * H, inp), (gates * H, H), (gates * H,), (gates * H,)] * dirs
        if m.vocab is not None:
            out += [(m.vocab, H * dirs), (m.vocab,)]
        return out
    if m.family in ("cnn", "tcn"):
        c_in = m.d_model if m.input == "tokens" else (m.in_channels or m.d_model)
        if m.input == "tokens":
            out.append((m.vocab or 1000, c_in))
        for k, c in zip(m.kernel_list(), m.channel_list(), strict=True):
            out += [(c, c_in, k), (c,)]
            c_in = c
        if m.vocab is not None:
            out += [(m.vocab, c_in), (m.vocab,)]
        return out
    h, a, kv, hd, f = m.d_model, m.head_count, m.kv_head_count, m.head_dim, m.ffn_dim
    norm: list[Shape] = [(h,)] if m.norm == "rmsnorm" or m.bias != "all" else [(h,), (h,)]
    tokens = m.input == "tokens"
    if tokens:
        out.append((m.vocab or 1000, h))
    if m.positional == "learned":
        out.append((m.max_positions or max(spec.train_n, spec.infer_n), h))
    all_b, qkv_b = m.bias == "all", m.bias in ("all", "qkv")
    up = 2 * f if m.mlp == "swiglu" else f  # fused gate + up projection
    for _ in range(m.layers):
        out += norm
        out.append(((a + 2 * kv) * hd, h))
        if qkv_b:
            out.append(((a + 2 * kv) * hd,))
        out.append((h, a * hd))
        if all_b:
            out.append((h,))
        out += norm
        out.append((up, h))
        if all_b:
            out.append((up,))
        out.append((h, f))
        if all_b:
            out.append((h,))
    out += norm
    if m.vocab is not None and not (m.tied_embeddings and tokens):
        out.append((m.vocab, h))
    return out


def buffer_bytes(spec: Spec) -> int:
    """BatchNorm running statistics (+ the int64 batch counter) of the image reference."""
    return _buffer_bytes(spec, param_shapes(spec))


def _buffer_bytes(spec: Spec, shapes: list[Shape]) -> int:
    """buffer_bytes, given the spec's param_shapes: a BatchNorm is two equal 1-D tensors."""
    if spec.model.input != "image":
        return 0
    bns = [
        s
        for i, s in enumerate(shapes)
        if len(s) == 1 and i + 1 < len(shapes) and shapes[i + 1] == s
    ]
    return sum(2 * 4 * s[0] + 8 for s in bns)


def optimizer_bytes(spec: Spec, shapes: list[Shape], n_params: int | None = None) -> int:
    opt = spec.train.optimizer
    P = n_params if n_params is not None else sum(map(math.prod, shapes))
    if opt == "sgd":
        return 0
    if opt == "sgd-momentum":
        return 4 * P
    if opt == "adafactor":  # factored second moments, fp32, and one step counter per tensor
        return 4 * adafactor_state_elements(shapes) + 4 * len(shapes)
    return 8 * P + 4 * len(shapes)


# c10/cuda/CUDACachingAllocator.cpp: `kMinBlockSize = 512` -- "all sizes are rounded to at
# least 512 bytes" (round_size: max(512, 512 * ceil(size / 512))).
CUDA_MIN_BLOCK = 512


def cuda_alloc_size(nbytes: int) -> int:
    """Bytes the CUDA caching allocator counts for one allocation of `nbytes` (0 stays 0)."""
    if nbytes <= 0:
        return 0
    return max(CUDA_MIN_BLOCK, -(-nbytes // CUDA_MIN_BLOCK) * CUDA_MIN_BLOCK)


_SM9_PLUS = re.compile(
    r"h100|h200|h800|h20\b|gh200|b100|b200|b300|gb200|gb300|blackwell|rtx ?50\d\d"
)
_PRE_SM9 = re.compile(r"a100|a800|a10\b|a10g|a30|a40|a6000|l4\b|l40|v100|t4\b|rtx ?[234]0\d\d|p100")


def cublas_workspace_bytes(device_name: str | None = None, env: str | None = None) -> int:
    """cuBLAS workspace per (handle, stream), as aten/src/ATen/cuda/CublasHandlePool.cpp sizes it
    (parseChosenWorkspaceSize / getChosenWorkspaceSize, torch 2.11):

    - CUBLAS_WORKSPACE_CONFIG=":SIZE:COUNT[:SIZE:COUNT...]" (SIZE in KiB): sum of SIZE·1024·COUNT;
    - default ":4096:8" = 32 MiB on compute capability 9.x/10.x/12.x (Hopper, Blackwell),
      ":4096:2:16:8" = 8 MiB + 128 KiB before that. cuBLASLt shares this workspace by default
      (TORCH_CUBLASLT_UNIFIED_WORKSPACE unset -> unified).

    `device_name`: [budget] device; a name this table does not place (or None) counts as
    Hopper-class.
    """
    if env is None:
        env = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if env:
        pairs = re.findall(r":([0-9]+):([0-9]+)", env)
        if pairs:
            return sum(int(size) * 1024 * int(count) for size, count in pairs)
    name = (device_name or "").lower()
    if name and _PRE_SM9.search(name) and not _SM9_PLUS.search(name):
        return 4096 * 1024 * 2 + 16 * 1024 * 8
    return 4096 * 8 * 1024


# One workspace per (cuBLAS handle, stream) -- cublas_handle_stream_to_workspace(); handles come
# from a per-thread pool window, and autograd runs the backward of CUDA tensors on its own device
# thread: the forward/optimizer (main thread) and the backward each hold one workspace.
CUBLAS_WORKSPACES_PER_STEP = 2


def cuda_allocator_overhead(
    spec: Spec, shapes: list[Shape], sizes: Counter[int] | None = None
) -> tuple[int, int]:
    """Bytes max_memory_allocated counts on top of the tensors' sizes, derivable from the source:
    (always, grads) -- always: the cuBLAS workspaces and the 512-byte rounding of the params and
    optimizer moments, minus the Adam/AdamW step counters, which live on the CPU
    (capturable=False, fused=False defaults); grads: the rounding of the parameter gradients,
    counted where they are alive (late backward, optimizer step)."""
    # Layers repeat the same shapes: round each distinct size once.
    if sizes is None:  # element counts of the tensors, with multiplicity
        sizes = Counter(math.prod(s) for s in shapes)
    pad = sum((cuda_alloc_size(4 * k) - 4 * k) * c for k, c in sizes.items())
    opt = spec.train.optimizer
    always = pad
    if opt in ("adam", "adamw"):
        always += 2 * pad - 4 * len(shapes)
    elif opt == "sgd-momentum":
        always += pad
    always += CUBLAS_WORKSPACES_PER_STEP * cublas_workspace_bytes(spec.budget.device)
    return always, pad


@dataclass(frozen=True)
class _Static:
    """The (n, batch)-independent part of train_memory."""

    params: int
    grads: int
    optimizer: int
    step_tmp_cuda: int
    step_tmp_cpu: int
    cuda_overhead: int
    cuda_grad_pad: int


_STATIC: dict[int, tuple[Spec, _Static]] = {}


def _static(spec: Spec) -> _Static:
    hit = _STATIC.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    shapes = param_shapes(spec)
    sizes = Counter(map(math.prod, shapes))  # layers repeat shapes: work per distinct size
    P = sum(k * c for k, c in sizes.items())
    largest = max(sizes, default=0)
    if spec.train.optimizer in ("adam", "adamw"):
        tmp_cuda, tmp_cpu = 4 * P, 2 * 4 * largest
    else:
        tmp_cuda = tmp_cpu = 4 * largest
    always, grad_pad = cuda_allocator_overhead(spec, shapes, sizes)
    params, grads, optimizer = 4 * P, 4 * P, optimizer_bytes(spec, shapes, P)
    t = spec.train
    if t.tensor_parallel > 1 or t.zero_stage > 0:
        # Per-rank model states (Rajbhandari et al. 2019, ZeRO §5; Shoeybi et al. 2019, TP):
        # tensor parallelism splits every matrix over `tensor_parallel` ranks; ZeRO stage k
        # partitions optimizer state (k>=1), gradients (k>=2) and parameters (k=3) over the
        # data-parallel ranks, world_size / tensor_parallel. Stage 3 gathers one layer's full
        # parameters at a time: the largest tensor is added back as that working buffer.
        # Activations are not divided (each rank runs its own micro-batch; sequence-parallel
        # activation splitting is not modelled), so the estimate errs on the safe side.
        tp = t.tensor_parallel
        dp = max(1, t.world_size // tp)
        params, grads, optimizer = -(-params // tp), -(-grads // tp), -(-optimizer // tp)
        tmp_cuda, tmp_cpu = -(-tmp_cuda // tp), -(-tmp_cpu // tp)
        if t.zero_stage >= 1:
            optimizer = -(-optimizer // dp)
            tmp_cuda = -(-tmp_cuda // dp)
        if t.zero_stage >= 2:
            grads = -(-grads // dp)
        if t.zero_stage >= 3:
            params = -(-params // dp) + 4 * largest
    st = _Static(
        params=params + _buffer_bytes(spec, shapes),
        grads=grads,
        optimizer=optimizer,
        step_tmp_cuda=tmp_cuda,
        step_tmp_cpu=tmp_cpu,
        cuda_overhead=always,
        cuda_grad_pad=grad_pad,
    )
    if len(_STATIC) >= 256:
        _STATIC.clear()
    _STATIC[id(spec)] = (spec, st)  # the spec is kept alive, so its id is not reused
    return st


@dataclass(frozen=True)
class TrainMemory:
    """Bytes of one training step's peak and its parts (ints)."""

    params: int
    grads: int
    optimizer: int
    activations: int
    attention_scores: int
    logits: int
    total: int
    moment: str  # "forward" | "backward" | "late-backward" | "optimizer": where the peak falls
    allocator: int = 0  # CUDA only: cuBLAS workspaces + allocator rounding (in `total`)

    def to_json(self) -> dict[str, int | str]:
        return asdict(self)


def train_memory(
    spec: Spec,
    n: int | None = None,
    batch: int | None = None,
    *,
    device: str | None = None,
    attention_kernel: str | None = None,
) -> TrainMemory:
    """Peak bytes of one steady-state training step at (batch, n).

    device: "cuda" (default unless [budget] device is "cpu") or "cpu": which kernels run
    (CPU: flash refuses dropout, dropout masks as wide as the activation, decomposed RMSNorm;
    CUDA: activations.cuda_sdpa_backend, 1-byte masks, fused RMSNorm) and, on CUDA, the
    allocator overhead in `allocator` (cuBLAS workspaces, 512-byte rounding; included in
    `total`). attention_kernel overrides [train] attention_kernel.
    """
    n = n or (spec.model.image_size if spec.model.input == "image" else None) or spec.train_n
    batch = batch or spec.train.batch
    if device is None:
        device = "cpu" if (spec.budget.device or "").lower() == "cpu" else "cuda"
    st = _static(spec)
    fw = forward_saved(spec, n, batch, device, attention_kernel)
    cuda = device == "cuda"
    grads = st.grads
    moments = {
        "forward": fw.total,
        "backward": fw.activations + fw.attention_scores + fw.backward_extra,
        "optimizer": grads + (st.step_tmp_cuda if cuda else st.step_tmp_cpu),
    }
    if fw.late_activations:
        moments["late-backward"] = fw.late_activations + grads - fw.late_missing_grads
    moment = max(moments, key=moments.__getitem__)
    alloc = 0
    if cuda:
        alloc = st.cuda_overhead
        if moment in ("forward", "backward"):
            alloc += cuda_alloc_size(4) - 4  # the scalar loss
        else:
            alloc += st.cuda_grad_pad
    return TrainMemory(
        params=st.params,
        grads=grads,
        optimizer=st.optimizer,
        activations=fw.activations,
        attention_scores=fw.attention_scores,
        logits=fw.logits,
        total=st.params + st.optimizer + moments[moment] + alloc,
        moment=moment,
        allocator=alloc,
    )
