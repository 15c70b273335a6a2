"""CUDA semantics without a GPU: FLOPs of GQA attention, the fake probe's CUDA emulation, the
formula's CUDA kernel rules and allocator overhead, eager-mode linear. Expected values are
worked out by hand from the sources cited in probe/step.py and formulas/peak.py."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from probe_zoo import ZOO, zoo_spec
from torch.utils import flop_counter as fc
from torch.utils._python_dispatch import TorchDispatchMode

from pytest_archcheck import probe
from pytest_archcheck.formulas.peak import train_memory
from pytest_archcheck.probe.step import eager_semantics
from pytest_archcheck.probe.tracker import StorageTracker
from pytest_archcheck.runtime import Target, attention_kernel
from pytest_archcheck.runtime.cuda import cublas_workspace_bytes, cuda_alloc_size
from pytest_archcheck.runtime.cuda import sdpa_backend as cuda_sdpa_backend
from pytest_archcheck.spec.model import Spec

MiB = 2**20
aten = torch.ops.aten


def _break_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attention formula of torch.utils.flop_counter raises (as torch <= 2.11's did for
    GQA shapes: it asserted equal head counts)."""

    def boom(*a: Any, **k: Any) -> int:
        raise AssertionError("sdpa_flop_count: query/key/value shapes are incompatible")

    for packet in list(fc.flop_registry):
        if "attention" in packet.__name__:
            monkeypatch.setitem(fc.flop_registry, packet, boom)
    monkeypatch.setattr(fc, "sdpa_flop_count", boom)
    monkeypatch.setattr(fc, "sdpa_backward_flop_count", boom)


def test_gqa_attention_flops_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_registry(monkeypatch)
    B, Hq, Hkv, L, D = 2, 4, 2, 16, 8
    q = torch.randn(B, Hq, L, D, requires_grad=True)
    k = torch.randn(B, Hkv, L, D, requires_grad=True)
    v = torch.randn(B, Hkv, L, D, requires_grad=True)
    tr = StorageTracker()
    with tr:
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=True
        )
        fwd = tr.flops
        out.sum().backward()  # type: ignore[no-untyped-call]
    assert tr.kernels == ["flash"] and tr.flop_errors == 0
    # forward Q·Kᵀ and P·V at Hq heads: 2 · 2·B·Hq·L·L·D, causal at half cost
    assert fwd == 2 * 2 * B * Hq * L * L * D // 2 == 32768
    # backward: five L²-matmuls (scores, dP, dV, dQ, dK), 2.5x the forward
    assert tr.flops - fwd == 5 * 2 * B * Hq * L * L * D // 2 == 81920


def test_failing_flop_formula_never_kills_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_registry(monkeypatch)

    def boom(*a: Any, **k: Any) -> int:
        raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'")

    monkeypatch.setitem(fc.flop_registry, aten.mm, boom)
    res = probe.run(zoo_spec("llama"), device="fake", n=64, emulate="cpu")
    assert res.findings == [] and res.peak_bytes is not None
    assert res.attention_kernel == "flash"
    assert res.extra["flop_errors"] > 0


def test_linear_on_a_non_contiguous_input_adds_bias_in_place_like_eager() -> None:
    """Without a dispatch mode at::linear runs mm + add_ on a batch-major view (profiler, no
    mode); under a mode it would run an out-of-place add. The probe's patch restores add_."""
    lin = torch.nn.Linear(8, 16)
    x = torch.randn(5, 3, 8, requires_grad=True).transpose(0, 1)
    with torch.profiler.profile() as prof:
        lin(x)
    eager = [e.name for e in prof.events() if e.name in ("aten::add_", "aten::add")]
    assert eager == ["aten::add_"]

    seen: list[str] = []

    class Rec(TorchDispatchMode):  # type: ignore[no-untyped-call]
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kw: Any = None) -> Any:
            seen.append(str(func.overloadpacket.__name__))
            return func(*args, **(kw or {}))

    with Rec():  # type: ignore[no-untyped-call]
        lin(x)
    assert "add" in seen and "add_" not in seen  # what the tracker used to see
    seen.clear()
    with Rec(), eager_semantics():  # type: ignore[no-untyped-call]
        y = lin(x)
    assert "add_" in seen and "add" not in seen
    assert torch.allclose(y, x @ lin.weight.t() + lin.bias)


def test_tiny_gpt2_cuda_emulation_by_hand() -> None:
    """test_probe_memory's hand-counted tiny GPT-2 (b=2, s=128, fp32: 9,887,864 B on CPU) under
    CUDA emulation: efficient attention (fp32, no GQA: same storage as CPU flash), every
    storage rounded to 512 B, AdamW step counters on the host, two 32 MiB cuBLAS workspaces."""
    h, f, L = 64, 256, 2
    # 512-byte rounding of the small parameters: per layer ln_1/ln_2 weight+bias (256 B each
    # -> 512), qkv bias 768 -> 1024, proj bias 256 -> 512, fc bias 1024 (exact), proj2 bias
    # 256 -> 512; final LayerNorm 2 x (256 -> 512). Everything else is a multiple of 512.
    per_layer = 4 * (512 - 4 * h) + (1024 - 4 * 3 * h) + (512 - 4 * h) + (512 - 4 * h)
    assert 4 * f == 1024
    pad = L * per_layer + 2 * (512 - 4 * h)
    assert pad == 4096
    tensors = 28
    expected = (
        9_887_864
        + 3 * pad  # param + exp_avg + exp_avg_sq
        - 4 * tensors  # step counters live on the host
        + 2 * (512 - 4)  # the scalar loss and its gradient
        + 2 * 32 * MiB  # cuBLAS workspaces (sm90 default ":4096:8")
    )
    assert expected == 77_009_920
    spec = Spec.model_validate(
        {"model": ZOO["gpt2"], "train": {"batch": 2}, "budget": {"device": "H100"}}
    )
    res = probe.run(spec, device="fake", n=128, batch=2)  # default: emulate="cuda" (a GPU)
    assert res.extra["emulate"] == "cuda"
    assert res.attention_kernel == "efficient"
    assert res.peak_bytes == expected
    assert res.peak_bytes == train_memory(spec, 128, 2, device="cuda").total


def test_cuda_emulation_dropout_keeps_byte_masks_and_fused_kernel() -> None:
    """gpt2 zoo fp32 at s=128, b=2 (sbh = 16,384): dropout adds CUDA's 1-byte masks after the
    embedding and after each attention projection and MLP (2·L + 1 = 5 masks of sbh bytes) and
    nothing inside fused attention (Philox); FLOPs do not change."""
    base = probe.run(zoo_spec("gpt2"), device="fake", n=128, emulate="cuda")
    drop = probe.run(zoo_spec("gpt2", dropout=0.1), device="fake", n=128, emulate="cuda")
    assert base.peak_bytes is not None and drop.peak_bytes is not None
    assert drop.attention_kernel == "efficient"
    assert drop.peak_bytes - base.peak_bytes == 5 * 128 * 2 * 64 == 81920
    assert drop.flops == base.flops
    cpu = probe.run(zoo_spec("gpt2", dropout=0.1), device="fake", n=128, emulate="cpu")
    assert cpu.attention_kernel == "math"


@pytest.mark.parametrize(
    ("dtype", "dropout", "kernel"),
    [("fp32", 0.0, "math"), ("fp32", 0.1, "math"), ("bf16", 0.0, "flash"), ("bf16", 0.1, "flash")],
)
def test_cuda_emulation_gqa_kernel_choice(dtype: str, dropout: float, kernel: str) -> None:
    spec = zoo_spec("llama", dtype=dtype, dropout=dropout)
    res = probe.run(spec, device="fake", n=128, emulate="cuda")
    assert res.findings == [] and res.attention_kernel == kernel
    assert attention_kernel(spec, Target("cuda")) == kernel
    est = train_memory(spec, 128, 2, device="cuda")
    assert res.peak_bytes is not None
    assert abs(est.total - res.peak_bytes) <= 0.02 * res.peak_bytes


def test_cuda_sdpa_backend_rules() -> None:
    """sdp_utils.cpp: flash needs fp16/bf16, head_dim <= 256, no mask, takes GQA; efficient
    takes fp32 and masks but not enable_gqa, head_dim % 4 (fp32) / % 8 (16-bit)."""
    rule = cuda_sdpa_backend
    assert rule(lowp=True, head_dim=64, gqa=True, attn_mask=False) == "flash"
    assert rule(lowp=False, head_dim=64, gqa=False, attn_mask=False) == "efficient"
    assert rule(lowp=False, head_dim=64, gqa=True, attn_mask=False) == "math"
    assert rule(lowp=True, head_dim=64, gqa=False, attn_mask=True) == "efficient"
    assert rule(lowp=True, head_dim=64, gqa=True, attn_mask=True) == "math"
    assert rule(lowp=True, head_dim=512, gqa=False, attn_mask=False) == "efficient"
    assert rule(lowp=False, head_dim=66, gqa=False, attn_mask=False) == "math"
    assert rule(lowp=True, head_dim=64, gqa=False, attn_mask=False, prefer="efficient") == (
        "efficient"
    )


def test_allocator_constants_from_the_source() -> None:
    assert [cuda_alloc_size(x) for x in (0, 1, 512, 513, 4096)] == [0, 512, 512, 1024, 4096]
    assert cublas_workspace_bytes("H100", env="") == 4096 * 8 * 1024 == 32 * MiB
    assert cublas_workspace_bytes("A100 80GB", env="") == 4096 * 1024 * 2 + 16 * 1024 * 8
    # the built-in table spells Ada/Ampere GeForce cards with a hyphen (sm89/sm86: pre-Hopper);
    # 0.1 read "RTX-4090" as Hopper-class and added 64 MiB instead of 2 x 8.125 MiB
    for name in ("RTX-4090", "RTX-3090", "rtx4090"):
        assert cublas_workspace_bytes(name, env="") == 4096 * 1024 * 2 + 16 * 1024 * 8
    assert cublas_workspace_bytes(None, env=":4096:8") == 32 * MiB
    assert cublas_workspace_bytes("H100", env=":16:8") == 16 * 1024 * 8


def test_train_memory_cache_is_per_spec_object() -> None:
    a = zoo_spec("gpt2", dtype="bf16")
    b = zoo_spec("gpt2", dtype="bf16")
    c = zoo_spec("gpt2", optimizer="sgd")
    for n in (128, 1024):
        assert train_memory(a, n, 2) == train_memory(b, n, 2)
        assert train_memory(a, n, 2, device="cpu") == train_memory(b, n, 2, device="cpu")
    assert train_memory(c, 128, 2).optimizer == 0
    assert train_memory(a, 128, 2).optimizer > 0


@pytest.mark.parametrize(("byte_noise", "peak"), [(False, 3 * 4096), (True, 2 * 4096 + 1024)])
def test_dropout_noise_counted_as_cuda_byte_mask(byte_noise: bool, peak: int) -> None:
    """CPU dropout: x (1024 fp32 = 4096 B), noise = empty_like(x).bernoulli_() (4096 B; CUDA's
    fused kernel keeps a 1-byte mask instead: 1024 B) and the output x * noise (4096 B)."""
    tr = StorageTracker(count_flops=False)
    tr.byte_noise = byte_noise
    with tr:
        x = torch.randn(1024, requires_grad=True)
        y = torch.nn.functional.dropout(x, 0.5, training=True)
    assert y.shape == x.shape
    assert tr.peak == peak
