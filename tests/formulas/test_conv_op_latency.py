"""`latency.conv_op` / `latency.conv_ops` (a conv stack op by op on a calibrated host) and the
calibration's fit of a convolution's start-up and rate. Expected values worked by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_archcheck.formulas.devices import Device
from pytest_archcheck.formulas.latency import ConvOp, conv_op_latency, conv_op_seconds
from pytest_archcheck.probe.calibrate import fit_start_up

HOST = Device(
    "host", 16 * 1024**3, 1e10, {"fp32": 1e11}, "test",
    op_overhead_s=2e-6, conv_start_s=1e-4, conv_flops=1e11,
)  # fmt: skip


def test_a_conv_pays_its_start_up_then_its_flops_at_the_conv_rate() -> None:
    # 1 GFLOP at 100 GFLOP/s = 10 ms, plus the 0.1 ms start-up
    assert conv_op_seconds(HOST, 1e9) == pytest.approx(10.1e-3)


def test_conv_ops_sums_convs_elementwise_ops_dispatch_and_head_by_hand() -> None:
    # conv: 2 * 1 * 100 positions * 4 * 8 channels * 3 taps = 19,200 FLOP -> 1e-4 + 1.92e-7 s
    # elementwise: 1,600 values * 4 B = 6,400 B through DRAM at 10 GB/s = 6.4e-7 s
    # ops: 2 views + 1 conv + 1 elementwise = 4, at 2 us each = 8e-6 s
    est = conv_op_latency(HOST, "fp32", 1, [ConvOp(4, 8, 3, 100)], elementwise=[(1, 1600)],
                          dispatch_ops=2)  # fmt: skip
    assert est.seconds == pytest.approx(1e-4 + 1.92e-7 + 6.4e-7 + 8e-6)
    assert est.ops == 4 and est.overhead_s == pytest.approx(8e-6)
    assert est.compute_s == pytest.approx(19_200 / 1e11)
    # a head of 2 rows x 8 -> 10 (no Hockney keys: peak rate): 320 FLOP = 3.2e-9 s against
    # (80 weights + 2 * 18 activations) * 4 B = 464 B at 10 GB/s = 4.64e-8 s, plus one op
    with_head = conv_op_latency(HOST, "fp32", 1, [ConvOp(4, 8, 3, 100)],
                                elementwise=[(1, 1600)], dispatch_ops=2, head=(2, 8, 10))  # fmt: skip
    assert with_head.seconds - est.seconds == pytest.approx(4.64e-8 + 2e-6)
    assert with_head.ops == 5


def test_batch_scales_the_work_not_the_start_up() -> None:
    one = conv_op_latency(HOST, "fp32", 1, [ConvOp(64, 64, 3, 1024)])
    four = conv_op_latency(HOST, "fp32", 4, [ConvOp(64, 64, 3, 1024)])
    work = 2 * 1024 * 64 * 64 * 3 / 1e11  # 25.2 MFLOP at 100 GFLOP/s
    assert four.seconds - one.seconds == pytest.approx(3 * work)


def test_families_use_the_conv_model_only_on_a_device_with_conv_keys() -> None:
    from pytest_archcheck.families import family_of
    from pytest_archcheck.spec.model import Spec

    spec = Spec.model_validate({
        "model": {"name": "t", "family": "tcn", "layers": 2, "d_model": 16, "vocab": 50,
                  "kernel": 3, "dilations": [1, 2]},
        "infer": {"batch": 1, "seq_len": 64},
    })  # fmt: skip
    no_conv = replace(HOST, conv_start_s=None, conv_flops=None)
    assert family_of(spec).latency(spec, no_conv, 1e-5).ops == 0  # the per-step roofline
    assert family_of(spec).latency(spec, HOST, 1e-5).ops > 0


def test_fit_start_up_recovers_start_and_rate_from_exact_points() -> None:
    # t = 95 us + F / 175 GFLOP/s at the calibration's four convolutions
    points = [(f, 95e-6 + f / 175e9) for f in (1.57e6, 6.29e6, 25.2e6, 100.7e6)]
    start, rate = fit_start_up(points)
    assert start == pytest.approx(95e-6) and rate == pytest.approx(175e9)


def test_fit_start_up_never_returns_a_negative_start_or_rate() -> None:
    # times falling with work: no fit holds; the best rate measured, no start-up
    assert fit_start_up([(1e6, 2e-3), (4e6, 1e-3)]) == (0.0, 4e9)
    # a line through a negative intercept: start clipped to 0, all the work over all the time
    start, rate = fit_start_up([(1e6, 1e-5), (2e6, 3e-5)])
    assert start == 0.0 and rate == pytest.approx(3e6 / 4e-5)


def test_conv_keys_without_the_per_op_keys_keep_the_roofline() -> None:
    """The conv keys refine the per-op model; on a device without `op-overhead` (a datasheet
    row) a conv stack keeps the per-step roofline, as every other family does there."""
    from pytest_archcheck.families import family_of
    from pytest_archcheck.spec.model import Spec

    spec = Spec.model_validate({
        "model": {"name": "t", "family": "cnn", "input": "image", "layers": 1, "channels": [8],
                  "strides": [1], "in_channels": 3, "classes": 4},
        "train": {"image_size": 16},
    })  # fmt: skip
    datasheet = replace(HOST, op_overhead_s=None)
    assert not datasheet.per_op_conv and HOST.per_op_conv
    assert family_of(spec).latency(spec, datasheet, 1e-5).ops == 0
    assert family_of(spec).latency(spec, HOST, 1e-5).ops > 0
