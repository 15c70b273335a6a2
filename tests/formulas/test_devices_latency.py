"""Device table lookups and roofline latency estimates."""

from __future__ import annotations

import pytest

from pytest_archcheck.formulas.devices import (
    DEVICES,
    Device,
    UnknownDeviceError,
    lookup_device,
    suggest_device,
)
from pytest_archcheck.formulas.latency import (
    KERNEL_OVERHEAD_S,
    conv_latency,
    latency_from_spec,
    recurrent_latency,
    roofline_seconds,
    transformer_latency,
)
from pytest_archcheck.spec.model import Spec


def test_lookup_and_aliases() -> None:
    h100 = lookup_device("H100-80GB")
    assert lookup_device("h100") is h100 and lookup_device("NVIDIA H100_80GB") is h100
    assert h100.memory_bytes == 80 * 1024**3 == 85_899_345_920
    assert h100.flops_for("bf16") == pytest.approx(989.4e12)
    assert h100.bandwidth == 3.35e12
    assert h100.allocatable == 85_017_493_504  # measured torch total_memory, < 80 GiB
    assert lookup_device("L4").allocatable == 24 * 1024**3  # nominal where not measured
    a100 = lookup_device("a100-80gb")
    assert a100.flops_for("bf16") == 312e12 and a100.bandwidth == 2.039e12
    assert lookup_device("A100-40GB").bandwidth == 1.555e12
    assert lookup_device("v100").flops_for("bf16") == lookup_device("v100").flops_for("fp32")
    assert "assumption" in lookup_device("cpu").source


def test_did_you_mean() -> None:
    assert suggest_device("H100-80G") == "H100-80GB"
    with pytest.raises(UnknownDeviceError) as err:
        lookup_device("rtx-4080")
    assert err.value.suggestion == "RTX-4090" and "did you mean" in str(err.value)
    with pytest.raises(KeyError):
        lookup_device("tpu-v5e")


def test_every_device_has_source_and_fp32() -> None:
    for d in DEVICES.values():
        assert d.source and d.peak_flops["fp32"] > 0 and d.memory_bytes > 0 and d.bandwidth > 0


def test_roofline() -> None:
    assert roofline_seconds(1e12, 1e9, 1e12, 1e12) == 1.0  # compute-bound
    assert roofline_seconds(1e9, 1e12, 1e12, 1e12) == 1.0  # memory-bound


def test_rnn_pays_overhead_every_step() -> None:
    dev = Device("x", 1, 1e30, {"fp32": 1e30}, "test")
    est = recurrent_latency(dev, "fp32", "lstm", 2, 1, n=100, input_size=8, hidden=8)
    assert est.steps == 2 * 100 and est.seconds == pytest.approx(200 * KERNEL_OVERHEAD_S)
    assert est.label == "estimate" and est.bound == "overhead"


def test_decode_is_bandwidth_bound() -> None:
    h100 = lookup_device("H100-80GB")
    d, layers, ff, vocab = 4096, 32, 11008, 32000
    layer_params = 4 * d * d + 3 * d * ff + 2 * d
    kw = dict(d_model=d, heads=32, d_ff=ff, layer_params=layer_params, vocab=vocab, mlp="swiglu")
    prefill = transformer_latency(h100, "bf16", layers, 1, 1, **kw)  # type: ignore[arg-type]
    gen = transformer_latency(h100, "bf16", layers, 1, 1, new_tokens=1, **kw)  # type: ignore[arg-type]
    step = gen.seconds - prefill.seconds
    # one token reads every weight once: (32 layers + LM head) * 2 bytes / 3.35 TB/s ~ 4 ms
    weights = (layers * layer_params + vocab * d) * 2
    assert step == pytest.approx(weights / 3.35e12 + (layers + 1) * KERNEL_OVERHEAD_S, rel=0.01)


def test_latency_from_spec() -> None:
    spec = Spec(model={"layers": 2, "d_model": 64, "heads": 4, "vocab": 100},
                infer={"seq_len": 32, "new_tokens": 4}, budget={"device": "A100-80GB"})  # fmt: skip
    est = latency_from_spec(spec)
    assert est is not None and est.device == "A100-80GB" and est.steps == 5 * (2 + 1)
    assert latency_from_spec(Spec()) is None
    lstm = Spec(model={"family": "gru", "layers": 1, "d_model": 8}, infer={"seq_len": 10})
    assert latency_from_spec(lstm, "cpu").steps == 10 + 0  # type: ignore[union-attr]


def test_conv_latency_compute_bound() -> None:
    dev = Device("x", 1, 1e30, {"fp32": 1e12}, "test")
    # Conv1d(16, 32, 3) at n=100, B=2: 2*2*100*16*32*3 FLOPs at 1 TFLOP/s, + 1 overhead
    est = conv_latency(dev, "fp32", 2, 100, in_channels=16, channels=[32], kernels=[3])
    assert est.seconds == pytest.approx(2 * 2 * 100 * 16 * 32 * 3 / 1e12 + KERNEL_OVERHEAD_S)
    img = conv_latency(dev, "fp32", 1, 8, in_channels=3, channels=[4], kernels=[3], dims=2)
    assert img.compute_s == pytest.approx(2 * 64 * 3 * 4 * 9 / 1e12)


def test_conv_latency_counts_the_output_head() -> None:
    """The head is a step of its own: a Linear(32, 10) at each of the 2*100 positions (an LM
    head), or once per sample after pooling (a classifier); worked by hand."""
    dev = Device("x", 1, 1e30, {"fp32": 1e12}, "test")
    conv = 2 * 2 * 100 * 16 * 32 * 3
    lm = conv_latency(dev, "fp32", 2, 100, in_channels=16, channels=[32], kernels=[3], head_out=10)
    assert lm.steps == 2
    assert lm.seconds == pytest.approx((conv + 2 * 200 * 32 * 10) / 1e12 + 2 * KERNEL_OVERHEAD_S)
    cls = conv_latency(
        dev, "fp32", 2, 100, in_channels=16, channels=[32], kernels=[3], head_out=10,
        pooled_head=True,
    )  # fmt: skip
    assert cls.compute_s == pytest.approx((conv + 2 * 2 * 32 * 10) / 1e12)


def test_tcn_spec_latency_includes_its_vocabulary_head() -> None:
    """A TCN LM over a 1,000-word vocabulary: the head's 2*n*64*1000 FLOPs are in the estimate
    (they were missing: the FLOPs counted them, the latency did not)."""
    spec = Spec(
        model={"family": "tcn", "layers": 2, "d_model": 64, "vocab": 1000, "kernel": 3,
               "dilations": [1, 2]},
        infer={"seq_len": 1024},
    )  # fmt: skip
    dev = Device("x", 1, 1e30, {"fp32": 1e12}, "test")
    est = latency_from_spec(spec, dev)
    assert est is not None and est.steps == 3
    stack = 2 * (2 * 1024 * 64 * 64 * 3)  # two Conv1d(64, 64, 3), 'same' length, batch 1
    assert est.compute_s == pytest.approx((stack + 2 * 1024 * 64 * 1000) / 1e12)


def test_per_op_transformer_worked_by_hand() -> None:
    """One block (d 4, one head, d_ff 8, GELU, LayerNorm, fused q/k/v, learned positions) over
    2 tokens on a per-op device with no GEMM start-up: every op is memory-bound, so the time is
    Σ bytes / bandwidth + ops x dispatch, worked op by op (fp32, 4 bytes):

    norms 2 x 2*8*4 = 64 B; qkv GEMM (2x4 @ 4x12) (48 + 2*(4+12))*4 = 320 B; attention q,k,v,o
    (2*8 + 2*8)*4 = 128 B; out GEMM (16 + 2*8)*4 = 128 B; residual adds 2 x 3*8*4 = 96 B; fc1
    (32 + 2*12)*4 = 224 B; GELU 2*16*4 = 128 B; fc2 224 B; embedding gather + position add
    (2 + 3)*8*4 = 160 B; final norm 64 B: 1696 B in all, at 1e10 B/s 169.6 ns. Ops: 2 norms, 4
    GEMMs, attention, 2 adds, GELU, 2 embedding ops, final norm = 13, plus 24 reshapes."""
    from pytest_archcheck.formulas.latency import Block, transformer_op_latency

    dev = Device(
        "host", 2**30, 1e10, {"fp32": 1e11}, "test",
        op_overhead_s=1e-6, gemm_half_flops=0.0,
    )  # fmt: skip
    est = transformer_op_latency(
        dev, "fp32", 1, 1, 2, d_model=4, heads=1, d_ff=8, mlp="gelu", causal=True,
        block=Block(fused=True, norm="layernorm", learned_positions=True),
    )  # fmt: skip
    assert est.ops == 13 + 24
    assert est.memory_s == pytest.approx(1696 / 1e10, rel=1e-12)
    assert est.seconds == pytest.approx(169.6e-9 + 37 * 1e-6, rel=1e-9)


def test_per_op_only_where_the_op_list_was_measured() -> None:
    """On a calibrated host a dense full-attention Transformer is timed op by op (`ops` > 0);
    a mixture of experts, a sliding window and a class's own eager attention keep the roofline
    (`ops` == 0), so ARC107 bounds them by the wide row."""
    from pytest_archcheck.families import family_of

    dev = Device(
        "host", 2**34, 35e9, {"fp32": 1.8e11}, "test",
        op_overhead_s=1e-6, gemm_half_rows=34.0, llc_bytes=32 * 2**20, llc_bandwidth=1.6e11,
    )  # fmt: skip
    base = {"name": "m", "family": "transformer", "layers": 2, "d_model": 64, "heads": 4,
            "vocab": 100, "max_positions": 256}  # fmt: skip
    cases = {
        "dense": ({}, True),
        "moe": ({"experts": 4, "experts_per_token": 2, "mlp": "swiglu"}, False),
        "sliding": ({"attention": "sliding", "window": 32}, False),
        "eager": ({"eager_attention": True}, False),
    }
    for name, (extra, per_op) in cases.items():
        spec = Spec.model_validate({"model": {**base, **extra}, "infer": {"seq_len": 128}})
        est = family_of(spec).latency(spec, dev, 1e-5)
        assert (est.ops > 0) is per_op, name
