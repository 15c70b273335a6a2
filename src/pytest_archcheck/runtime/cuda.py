"""CUDA kernel semantics: SDPA backend choice, cuBLAS workspaces, caching-allocator rounding.

Each rule below is read from the PyTorch source of the release in `runtime.TORCH_SEMANTICS`
(file and function named in each docstring); the CUDA probe checked them on an H200.
"""

from __future__ import annotations

import os
import re
from collections import Counter

from ..formulas.registry import formula


def sdpa_backend(
    *, lowp: bool, head_dim: int, gqa: bool, attn_mask: bool, prefer: str = "flash"
) -> str:
    """The SDPA backend CUDA runs for a dense training call (sm80+), by the rules of
    select_sdp_backend in aten/src/ATen/native/transformers/cuda/sdp_utils.cpp:

    - flash (can_use_flash_attention): fp16/bf16 only (check_dtypes_low_precision), head_dim
      <= 256 (check_head_dim_size_flash), no attn_mask (check_for_attn_mask); GQA and dropout
      are supported. Stores output + fp32 log-sum-exp; dropout regenerated from a Philox seed.
    - efficient (can_use_mem_efficient_attention): fp32/fp16/bf16 on sm80+, head_dim a multiple
      of minimum_gemm_alignment (4 for fp32, 8 for fp16/bf16), attn_mask and dropout supported,
      but not enable_gqa (torch <= 2.13: "GQA ... works only for Flash_attention and math kernel
      on CUDA", torch/nn/functional.py; fp32 GQA therefore runs math). Same storage as flash.
    - cuDNN attention (sm90/sm100 with cuDNN > 9.15 puts it first in the default priority,
      priority_order()): fp16/bf16, GQA; memory like flash (output + log-sum-exp), so it is
      folded into "flash" here; the probes report the kernel that ran.
    - otherwise math: materialised s² scores (softmax output, dropout mask, dropped probs).

    `prefer` is the first fused backend tried ([train] attention_kernel, probe/step.py's
    sdpa_context order); the other fused backend is the fallback before math.
    """
    flash_ok = lowp and head_dim <= 256 and not attn_mask
    eff_ok = not gqa and head_dim % (8 if lowp else 4) == 0
    order = ("efficient", "flash") if prefer == "efficient" else ("flash", "efficient")
    for k in order:
        if (k == "flash" and flash_ok) or (k == "efficient" and eff_ok):
            return k
    return "math"


# c10/cuda/CUDACachingAllocator.cpp: `kMinBlockSize = 512` -- "all sizes are rounded to at
# least 512 bytes" (round_size: max(512, 512 * ceil(size / 512))).
CUDA_MIN_BLOCK = 512


@formula(
    "runtime.cuda_alloc_size",
    "bytes = max(512, 512*ceil(n/512))",
    "c10/cuda/CUDACachingAllocator.cpp round_size (kMinBlockSize = 512)",
)
def cuda_alloc_size(nbytes: int) -> int:
    """Bytes the CUDA caching allocator counts for one allocation of `nbytes` (0 stays 0)."""
    if nbytes <= 0:
        return 0
    rounded = -(-nbytes // CUDA_MIN_BLOCK) * CUDA_MIN_BLOCK  # called per tensor of a walk
    return rounded if rounded > CUDA_MIN_BLOCK else CUDA_MIN_BLOCK


_SM9_PLUS = re.compile(
    r"h100|h200|h800|h20\b|gh200|b100|b200|b300|gb200|gb300|blackwell|rtx[- ]?50\d\d"
)
_PRE_SM9 = re.compile(
    r"a100|a800|a10\b|a10g|a30|a40|a6000|l4\b|l40|v100|t4\b|rtx[- ]?[234]0\d\d|p100"
)


@formula(
    "runtime.cublas_workspace",
    "CUBLAS_WORKSPACE_CONFIG sum of SIZE*1024*COUNT; else 32 MiB (sm90+) or 8 MiB + 128 KiB",
    "aten/src/ATen/cuda/CublasHandlePool.cpp getChosenWorkspaceSize",
)
def cublas_workspace_bytes(device_name: str | None = None, env: str | None = None) -> int:
    """cuBLAS workspace per (handle, stream), as aten/src/ATen/cuda/CublasHandlePool.cpp sizes it
    (parseChosenWorkspaceSize / getChosenWorkspaceSize):

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


@formula(
    "runtime.cuda_allocator_overhead",
    "2*cublas_workspace + Σ (round512(4k) - 4k) over params (and Adam moments, grads)",
    "CUDACachingAllocator.cpp round_size; torch/optim/adam.py (step counters on the CPU)",
)
def allocator_overhead(
    optimizer: str, device_name: str | None, sizes: Counter[int], n_tensors: int
) -> tuple[int, int]:
    """Bytes max_memory_allocated counts on top of the tensors' sizes, derivable from the source:
    (always, grads) -- always: the cuBLAS workspaces and the 512-byte rounding of the params and
    optimizer moments, minus the Adam/AdamW step counters, which live on the CPU
    (capturable=False, fused=False defaults); grads: the rounding of the parameter gradients,
    counted where they are alive (late backward, optimizer step).

    `sizes`: element counts of the fp32 parameter tensors, with multiplicity (layers repeat the
    same shapes: each distinct size is rounded once)."""
    pad = sum((cuda_alloc_size(4 * k) - 4 * k) * c for k, c in sizes.items())
    always = pad
    if optimizer in ("adam", "adamw"):
        always += 2 * pad - 4 * n_tensors
    elif optimizer == "sgd-momentum":
        always += pad
    always += CUBLAS_WORKSPACES_PER_STEP * cublas_workspace_bytes(device_name)
    return always, pad
