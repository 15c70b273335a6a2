"""Sensitivity: halving a knob in `estimate` is the same as writing the halved spec, the
elasticity is the log-log slope, and the saving it predicts is what the fake-tensor probe
measures when the knob is halved on the model itself."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_archcheck.estimate import estimate
from pytest_archcheck.formulas.sensitivity import elasticity
from pytest_archcheck.spec.load import load_spec_text

SPEC = """\
[model]
family = "transformer"
layers = {layers}
d_model = {d}
heads = {heads}
d_ff = {d_ff}
vocab = 512
max_positions = 1024

[train]
batch = {batch}
seq_len = {n}
"""
BASE = {"layers": 4, "d": 128, "heads": 4, "d_ff": 512, "batch": 8, "n": 256}


def _spec(**changes: int):
    loaded = load_spec_text(SPEC.format(**{**BASE, **changes}), "m.archcheck.toml")
    assert loaded.spec is not None, loaded.problems
    return loaded.spec


def test_power_laws_have_their_exponent() -> None:
    assert elasticity(400, 100, 20, 10) == pytest.approx(2.0)  # peak = k²
    assert elasticity(400, 200, 20, 10) == pytest.approx(1.0)  # peak = 20k
    assert elasticity(400, 400, 20, 10) == 0.0
    assert elasticity(0, 0, 20, 10) == 0.0


@pytest.mark.parametrize(
    ("knob", "written"),
    [
        ("n", {"n": 128}),
        ("batch", {"batch": 4}),
        ("layers", {"layers": 2}),
        ("heads", {"heads": 2}),
        ("width", {"d": 64, "heads": 2, "d_ff": 256}),  # head dim 32 and d_ff/d kept
    ],
)
def test_halving_equals_the_spec_written_halved(knob: str, written: dict[str, int]) -> None:
    e = estimate(_spec())
    (row,) = [s for s in e.sensitivity if s.knob == knob]
    by_hand = estimate(_spec(**written))
    assert row.peak == e.memory.total
    assert row.peak_halved == by_hand.memory.total
    assert row.elasticity == pytest.approx(
        math.log(by_hand.memory.total / e.memory.total) / math.log(0.5)
    )


def test_rows_are_sorted_by_saving_and_in_json() -> None:
    e = estimate(_spec())
    saved = [s.saved for s in e.sensitivity]
    assert saved == sorted(saved, reverse=True)
    doc = e.to_json()["sensitivity"]
    assert {d["knob"] for d in doc} == {"n", "batch", "layers", "heads", "width"}
    assert all(d["saved"] == d["peak"] - d["peak_halved"] for d in doc)


def test_knobs_that_cannot_be_halved_are_left_out() -> None:
    e = estimate(_spec(batch=1, layers=1))
    assert {s.knob for s in e.sensitivity} == {"n", "heads", "width"}


@pytest.mark.parametrize("knob", ["n", "batch", "layers"])
def test_predicted_saving_is_what_the_fake_probe_measures(knob: str) -> None:
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    spec = _spec()
    e = estimate(spec)
    (row,) = [s for s in e.sensitivity if s.knob == knob]
    halved = {"n": {"n": 128}, "batch": {"batch": 4}, "layers": {"layers": 2}}[knob]
    small = _spec(**halved)
    full = probe.run(spec, device="fake", n=e.n, batch=e.batch)
    half = probe.run(small, device="fake", n=small.train.seq_len, batch=small.train.batch)
    assert full.peak_bytes and half.peak_bytes, (full.findings, half.findings)
    measured = full.peak_bytes - half.peak_bytes
    assert row.saved == pytest.approx(measured, rel=0.05)


def test_estimate_text_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_archcheck.cli import main

    (tmp_path / "m.archcheck.toml").write_text(SPEC.format(**BASE), encoding="utf-8")
    assert main(["estimate", str(tmp_path / "m.archcheck.toml")]) == 0
    out = capsys.readouterr().out
    assert "halve one knob" in out and "256 -> 128" in out


def test_latency_column_is_the_latency_of_the_halved_spec() -> None:
    from pytest_archcheck.formulas.latency import latency_from_spec

    text = (
        SPEC.format(**BASE)
        + '\n[infer]\nseq_len = 256\nbatch = 4\n\n[budget]\ndevice = "A100-80GB"\n'
    )
    spec = load_spec_text(text, "m.archcheck.toml").spec
    assert spec is not None
    rows = {s.knob: s for s in estimate(spec).sensitivity}
    halved_n = load_spec_text(
        text.replace("seq_len = 256\nbatch = 4", "seq_len = 128\nbatch = 4"), "m"
    ).spec
    halved_l = load_spec_text(text.replace("layers = 4", "layers = 2"), "m").spec
    assert halved_n is not None and halved_l is not None
    assert rows["n"].latency_halved_s == latency_from_spec(halved_n).seconds  # type: ignore[union-attr]
    assert rows["layers"].latency_halved_s == latency_from_spec(halved_l).seconds  # type: ignore[union-attr]
    assert rows["layers"].latency_halved_s < rows["layers"].latency_s  # type: ignore[operator]
