"""`[budget] span = "p90"` with `[data] span_source`: the span is measured from the data at load
time, so every rule (here ARC104) sees the data's number; without a number, ARC302 at the key."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

from pytest_archcheck.engine import check_paths  # noqa: E402

SPEC = """\
[model]
family = "tcn"
layers = {layers}
kernel = 3
d_model = 32
vocab = 100

[budget]
span = {span}

[data]
{data}
"""


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def _check(tmp_path: Path, layers: int, span: str, data: str) -> list:
    path = tmp_path / "m.archcheck.toml"
    path.write_text(SPEC.format(layers=layers, span=span, data=data), encoding="utf-8")
    return check_paths([str(path)], pyprojects=False).findings


@pytest.fixture
def series(tmp_path: Path) -> float:
    """An AR(1) series with φ = 0.95 (autocorrelation length −1/ln 0.95 = 19.5 samples)."""
    np.save(tmp_path / "series.npy", _ar1(0.95, 100_000, seed=3))
    return -1 / math.log(0.95)


def test_p90_from_a_series_drives_arc104(tmp_path: Path, series: float) -> None:
    # TCN at dilation 1, kernel 3: reach = 2·layers. The measured span is ≈ 19.5 (±5 %), so
    # 6 layers (reach 12) cannot cover it, 12 layers (reach 24) can.
    short = _check(tmp_path, 6, '"p90"', 'span_source = "series.npy"')
    (f,) = [f for f in short if f.code == "ARC104"]
    shown = int(f.message.split("does not cover span ")[1].split(";")[0])
    assert math.ceil(series * 0.95) <= shown <= math.ceil(series * 1.05)
    assert f.line == 9  # the `span = "p90"` line
    assert not [
        f
        for f in _check(tmp_path, 12, '"p90"', 'span_source = "series.npy"')
        if f.code in ("ARC104", "ARC302")
    ]


def test_p90_from_the_json_of_archcheck_span(tmp_path: Path) -> None:
    (tmp_path / "span.json").write_text(json.dumps({"schema_version": 1, "p90": 30.2}))
    codes = {f.code: f for f in _check(tmp_path, 10, '"p90"', 'span_source = "span.json"')}
    assert "does not cover span 31" in codes["ARC104"].message  # ceil(30.2); reach 20
    assert "ARC104" not in {
        f.code for f in _check(tmp_path, 16, '"p90"', 'span_source = "span.json"')
    }


@pytest.mark.parametrize(
    ("span", "data", "message"),
    [
        ('"p90"', "", "add `[data] span_source"),
        ('"p90"', 'span_source = "missing.npy"', "not found next to the spec"),
        ('"p75"', 'span_source = "series.npy"', "one of ['p50', 'p90']"),
    ],
)
def test_no_number_is_arc302_at_the_key(
    tmp_path: Path, series: float, span: str, data: str, message: str
) -> None:
    findings = _check(tmp_path, 6, span, data)
    (f,) = [f for f in findings if f.code == "ARC302"]
    assert message in f.message and f.line == 9
    assert "ARC104" not in {x.code for x in findings}  # no rule ran on a guessed span


def test_a_series_with_no_span_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "walk.npy", np.cumsum(np.random.default_rng(0).standard_normal(4_000)))
    (f,) = [
        f for f in _check(tmp_path, 6, '"p90"', 'span_source = "walk.npy"') if f.code == "ARC302"
    ]
    assert "the span is at least" in f.message
