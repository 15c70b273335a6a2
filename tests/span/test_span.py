"""`archcheck span`: the autocorrelation length against series whose answer is known
analytically (AR(1): ρ(k) = φ^k, so the 1/e lag is −1/ln φ; a sine of period P), the ACF
against its definition computed directly, and bad data as errors, never tracebacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from pytest_archcheck.cli import main  # noqa: E402
from pytest_archcheck.span import SpanError, autocorrelation, measure, read_series  # noqa: E402


def ar1(phi: float, n: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """x_t = φ x_{t−1} + ε_t, started from the stationary distribution (variance 1/(1−φ²))."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((n, channels))
    x = np.empty((n, channels))
    x[0] = e[0] / math.sqrt(1 - phi * phi)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


@pytest.mark.parametrize(("phi", "seed"), [(0.9, 0), (0.95, 1), (0.95, 2), (0.98, 3)])
def test_ar1_e_folding_lag_is_minus_one_over_log_phi(phi: float, seed: int) -> None:
    # worked by hand: φ^k = 1/e  ⇔  k = −1/ln φ (φ=0.9: 9.49, 0.95: 19.50, 0.98: 49.50)
    expected = -1.0 / math.log(phi)
    report = measure(ar1(phi, 200_000, seed=seed))
    (row,) = report.rows
    assert row.period is None
    assert row.e_fold_lag == pytest.approx(expected, rel=0.05)
    assert report.suggested == math.ceil(report.percentile(90))


def test_p50_over_channels_and_windows() -> None:
    expected = -1.0 / math.log(0.95)  # 19.50
    report = measure(ar1(0.95, 60_000, channels=3, seed=7), window=20_000)
    assert len(report.rows) == 9  # 3 channels × 3 windows
    assert {(r.channel, r.window) for r in report.rows} == {
        (c, w) for c in range(3) for w in range(3)
    }
    assert report.percentile(50) == pytest.approx(expected, rel=0.05)
    assert report.percentile(90) >= report.percentile(50)


@pytest.mark.parametrize("period", [24, 48, 100])
def test_periodic_signal_span_is_one_period(period: int) -> None:
    rng = np.random.default_rng(period)
    t = np.arange(100_000)
    x = np.sin(2 * np.pi * t / period) + 0.3 * rng.standard_normal(t.size)
    (row,) = measure(x).rows
    assert row.period == pytest.approx(period, rel=0.05)
    assert row.span == row.period
    # a cycle is not a decay: the 1/e lag is a fraction of the period, not the span
    assert row.e_fold_lag is not None and row.e_fold_lag < period / 2


def test_acf_equals_its_definition() -> None:
    x = ar1(0.8, 3_000, seed=5)[:, 0]
    d = x - x.mean()
    direct = [float(np.dot(d[: d.size - k], d[k:]) / np.dot(d, d)) for k in range(50)]
    assert np.allclose(autocorrelation(x, 49), direct, atol=1e-10)


def test_white_noise_has_a_span_under_one_step() -> None:
    x = np.random.default_rng(3).standard_normal(100_000)
    (row,) = measure(x).rows
    # ρ(1) ≈ 0: the straight line from 1 at lag 0 to ~0 at lag 1 crosses 1/e at 1 − 1/e ≈ 0.63
    assert row.e_fold_lag == pytest.approx(1 - 1 / math.e, abs=0.02)
    assert row.noise_lag is not None and row.noise_lag <= 1.0


def test_random_walk_never_decorrelates_and_says_so(tmp_path: Path, capsys) -> None:
    walk = np.cumsum(np.random.default_rng(0).standard_normal(20_000))
    report = measure(walk, max_lag=200)
    assert report.suggested is None and report.percentile(90) is None
    assert "at least 200" in report.verdict()
    np.save(tmp_path / "walk.npy", walk)
    assert main(["span", str(tmp_path / "walk.npy"), "--max-lag", "200"]) == 1
    out = capsys.readouterr().out
    assert "span = " not in out and "at least 200" in out


def test_cli_json_and_the_line_to_paste(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "ar.npy", ar1(0.9, 50_000, seed=11))
    assert main(["span", str(tmp_path / "ar.npy"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1
    assert doc["p90"] == pytest.approx(-1 / math.log(0.9), rel=0.1)
    assert doc["suggested_span"] == math.ceil(doc["p90"])
    assert "CNN or an LSTM" in doc["verdict"]  # P90 ≈ 9.5 < 256: the article's rule
    assert main(["span", str(tmp_path / "ar.npy")]) == 0
    assert f"span = {doc['suggested_span']}" in capsys.readouterr().out


def test_csv_with_header_and_channels_first(tmp_path: Path) -> None:
    x = ar1(0.9, 4_000, channels=2, seed=2)
    path = tmp_path / "s.csv"
    path.write_text("a,b\n" + "\n".join(f"{u},{v}" for u, v in x), encoding="utf-8")
    assert np.allclose(read_series(path), x)
    np.save(tmp_path / "cf.npy", x.T)
    assert np.allclose(read_series(tmp_path / "cf.npy", channels_first=True), x)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.csv", "1,2\n3\n", "r.csv:2: 1 columns where the first row had 2"),
        ("t.csv", "1\n2\nx\n", "t.csv:3: not a number"),
        ("e.csv", "", "no numeric rows"),
        ("s.xlsx", "x", "unknown series format"),
    ],
)
def test_bad_files_are_errors_with_the_place(
    tmp_path: Path, capsys, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert main(["span", str(tmp_path / name)]) == 2
    assert message in capsys.readouterr().err


def test_pickled_arrays_are_refused_not_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # would create the marker file if unpickled
            return (Path.touch, (marker,))

    arr = np.empty(1, dtype=object)
    arr[0] = Evil()
    with open(tmp_path / "evil.npy", "wb") as f:
        np.save(f, arr, allow_pickle=True)
    with pytest.raises(SpanError, match="object arrays are refused"):
        read_series(tmp_path / "evil.npy")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.ones(1000), "constant"),
        (np.r_[np.zeros(100), np.nan], "NaN or infinite"),
        (np.arange(8.0), "too short"),
        (np.zeros((4, 4, 4)), "expected a series"),
    ],
)
def test_unmeasurable_series(data: np.ndarray, message: str) -> None:
    with pytest.raises(SpanError, match=message):
        measure(data)


def test_usage_errors_exit_2(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "x.npy", ar1(0.5, 1000))
    assert main(["span", str(tmp_path / "x.npy"), "--window", "0"]) == 2
    assert "--window must be at least 1" in capsys.readouterr().err
    assert main(["span", str(tmp_path / "missing.npy")]) == 2
    assert "not a regular file" in capsys.readouterr().err
