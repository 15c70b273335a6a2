"""Latency statistics: percentiles by hand, bootstrap CI, and a real CPU measurement."""

from __future__ import annotations

from pytest_archcheck import probe
from pytest_archcheck.probe.latency import bootstrap_ci, percentile, summarize
from pytest_archcheck.spec.model import Spec


def test_percentile_linear_interpolation() -> None:
    xs = [float(i) for i in range(1, 101)]  # 1..100
    # position (100-1)·0.95 = 94.05 -> 95 + 0.05·(96-95)
    assert abs(percentile(xs, 95) - 95.05) < 1e-9
    assert percentile(xs, 50) == 50.5
    assert percentile([3.0], 99) == 3.0


def test_bootstrap_ci_brackets_the_estimate() -> None:
    xs = [float(i % 17) for i in range(300)]
    lo, hi = bootstrap_ci(xs, 95)
    assert lo <= percentile(xs, 95) <= hi
    s = summarize(xs)
    assert s["samples"] == 300 and s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]


def test_latency_on_cpu_at_least_200_samples() -> None:
    spec = Spec.model_validate(
        {
            "model": {"family": "tcn", "layers": 1, "d_model": 8, "vocab": 20},
            "infer": {"batch": 1, "seq_len": 16},
        }
    )
    res = probe.run(spec, device="fake", n=16, latency=True)
    assert res.latency is not None
    assert res.latency["samples"] >= 200
    assert 0 < res.latency["p50_ms"] <= res.latency["p95_ms"] <= res.latency["p99_ms"]
