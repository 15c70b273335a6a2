"""The per-op latency model: Hockney's GEMM rate, one eager op's time with the last-level cache,
and nn.LSTM as one oneDNN call per layer. Expected values are worked out by hand below from
round device numbers (peak 1 GFLOP/s, DRAM 1 MB/s, LLC 10 MB/s, F_half 1000, 1 ms per op)."""

from __future__ import annotations

import pytest

from pytest_archcheck.formulas.devices import Device
from pytest_archcheck.formulas.latency import (
    gemm_rate,
    gemm_rows_rate,
    lstm_fused_latency,
    op_seconds,
    recurrent_latency,
)

DEV = Device(
    "t", 1, 1e6, {"fp32": 1e9}, "test",
    op_overhead_s=1e-3, gemm_half_flops=1000.0, llc_bytes=100, llc_bandwidth=1e7,
)  # fmt: skip
PLAIN = Device("p", 1, 1e6, {"fp32": 1e9}, "test")


def test_gemm_rate_is_half_peak_at_the_half_performance_size() -> None:
    assert gemm_rate(1000, 1e9, 1000) == pytest.approx(5e8)
    assert gemm_rate(3000, 1e9, 1000) == pytest.approx(7.5e8)  # 3000 / 4000 of peak
    assert gemm_rate(1e12, 1e9, 1000) == pytest.approx(1e9, rel=1e-8)  # large: peak


def test_op_seconds_reads_resident_bytes_at_the_llc_rate_when_they_fit() -> None:
    # compute: F / rate(F) = (F + F_half) / peak = 2000 / 1e9
    assert op_seconds(DEV, "fp32", 1000, 0) == pytest.approx(2e-6)
    # 50 B resident, fits in 100 B: 50 / 1e7
    assert op_seconds(DEV, "fp32", 0, 50, resident_bytes=50) == pytest.approx(5e-6)
    # 200 B resident does not fit: all at DRAM rate, 200 / 1e6
    assert op_seconds(DEV, "fp32", 0, 200, resident_bytes=200) == pytest.approx(2e-4)
    # 50 B resident + 30 B streamed: 50 / 1e7 + 30 / 1e6
    assert op_seconds(DEV, "fp32", 0, 80, resident_bytes=50) == pytest.approx(3.5e-5)
    # no start-up inside a library call: 1000 / 1e9
    assert op_seconds(DEV, "fp32", 1000, 0, start_up=False) == pytest.approx(1e-6)


def test_lstm_is_one_op_per_layer_with_w_hh_from_the_llc() -> None:
    # layers 1, batch 1, n 2, input 1, hidden 1, fp32 (4 B), 4 gates:
    # input GEMM: F = 2*2*1*4 = 16, B = (4 + 2*(1+4)) * 4 = 56 -> max(1016e-9, 56e-6) = 56e-6
    # each step (inside the call: no start-up): F = 2*1*4 = 8 -> 8e-9; W_hh = 16 B (fits) -> 16/1e7 = 1.6e-6, plus the
    #   gates' 2*4 + 3 = 11 values = 44 B from DRAM -> 44e-6; step = 45.6e-6, twice
    # one dispatch: 1e-3
    est = lstm_fused_latency(DEV, "fp32", 1, 1, n=2, input_size=1, hidden=1)
    assert est.seconds == pytest.approx(56e-6 + 2 * 45.6e-6 + 1e-3)
    assert est.ops == 1 and est.overhead_s == pytest.approx(1e-3) and est.steps == 2
    bi = lstm_fused_latency(DEV, "fp32", 1, 1, n=2, input_size=1, hidden=1, bidirectional=True)
    assert bi.ops == 2 and bi.seconds == pytest.approx(2 * est.seconds)


def test_recurrent_latency_uses_the_fused_lstm_only_on_a_per_op_device() -> None:
    kw = {"n": 2, "input_size": 1, "hidden": 1}
    fused = recurrent_latency(DEV, "fp32", "lstm", 1, 1, **kw)  # type: ignore[arg-type]
    assert fused.ops == 1
    assert fused.seconds == pytest.approx(
        lstm_fused_latency(DEV, "fp32", 1, 1, n=2, input_size=1, hidden=1).seconds
    )
    # a device without the per-op keys, and GRU (ATen's native loop), keep per-step stepping
    assert recurrent_latency(PLAIN, "fp32", "lstm", 1, 1, **kw).ops == 0  # type: ignore[arg-type]
    gru = recurrent_latency(DEV, "fp32", "gru", 1, 1, **kw)  # type: ignore[arg-type]
    assert gru.ops == 0 and gru.steps == 2


ROWS = Device(
    "r", 1, 1e6, {"fp32": 1e9}, "test",
    op_overhead_s=1e-3, gemm_half_flops=1000.0, gemm_half_rows=32.0,
)  # fmt: skip


def test_gemm_rows_rate_is_half_peak_at_the_half_performance_rows() -> None:
    assert gemm_rows_rate(32, 1e9, 32) == pytest.approx(5e8)
    assert gemm_rows_rate(96, 1e9, 32) == pytest.approx(7.5e8)  # 96 / 128 of peak
    assert gemm_rows_rate(1, 1e9, 0) == pytest.approx(1e9)


def test_op_seconds_takes_the_rows_rate_for_a_gemm_that_names_its_rows() -> None:
    # 4000 FLOPs at 32 rows (m_half 32): half peak, 4000 / 5e8 = 8 us; without rows, the
    # FLOP start-up: (4000 + 1000) / 1e9 = 5 us; inside a library call, peak: 4 us
    assert op_seconds(ROWS, "fp32", 4000, 0, rows=32) == pytest.approx(8e-6)
    assert op_seconds(ROWS, "fp32", 4000, 0) == pytest.approx(5e-6)
    assert op_seconds(ROWS, "fp32", 4000, 0, rows=32, start_up=False) == pytest.approx(4e-6)
    # a device without the rows key keeps the FLOP start-up even when rows are named
    assert op_seconds(DEV, "fp32", 4000, 0, rows=32) == pytest.approx(5e-6)


def test_calibrate_fits_peak_and_half_rows_from_rates_by_rows() -> None:
    """Rates made from peak 180e9 and m_half 20 (rate = 180e9 m / (m + 20)) give them back;
    rates that fall with the rows keep the largest and m_half 0."""
    from pytest_archcheck.probe.calibrate import fit_rows

    rates = {m: 180e9 * m / (m + 20) for m in (8, 32, 128, 512)}
    peak, half = fit_rows(rates)
    assert peak == pytest.approx(180e9, rel=1e-9) and half == pytest.approx(20, rel=1e-9)
    assert fit_rows({8: 3e9, 512: 1e9}) == (3e9, 0.0)


def test_calibrate_counts_a_module_stack_s_ops_by_hand() -> None:
    """The op-overhead stack: 50 x (Linear at one row: t + addmm; GELU: gelu; LayerNorm:
    native_layer_norm) = 200 aten ops, worked by hand; its per-op time is above the bare
    dispatch of a one-element add (the module call on top)."""
    pytest.importorskip("torch")
    import time

    import torch

    from pytest_archcheck.probe.calibrate import module_op_seconds, module_stack

    _, _, ops = module_stack()
    assert ops == 200
    t = torch.ones(1)
    t0 = time.perf_counter()
    for _ in range(2000):
        t.add(t)
    bare = (time.perf_counter() - t0) / 2000
    assert module_op_seconds(3) > bare
