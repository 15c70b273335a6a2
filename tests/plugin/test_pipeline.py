"""The pipeline's own pins: one finding per pitfall in pytest, typed measurements, ARC106."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from pytest_archcheck.pipeline import Measurements, check_spec
from pytest_archcheck.rules import RULES
from pytest_archcheck.rules.context import RuleContext
from pytest_archcheck.selection import Selection
from pytest_archcheck.spec.load import load_spec_text

pytest_plugins = ["pytester"]

SNIPPET = Path(__file__).resolve().parents[1] / "data" / "article-snippet"

INFER = """\
[model]
name = "kv"
family = "transformer"
layers = 2
d_model = 64
heads = 4
vocab = 100

[infer]
batch = 64
seq_len = 4096

[budget]
infer_memory = "1 MiB"
"""


def test_measurements_are_typed_and_keep_the_plugin_names() -> None:
    m = Measurements(device="fake", peak_bytes=10, n_max=None, probes=3, memory_error="boom")
    assert m.searched_n_max
    assert m.to_dict() == {
        "device": "fake",
        "peak_bytes": 10,
        "n_max": None,
        "probes": 3,
        "memory_probe_error": "boom",
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.peak_bytes = 1  # type: ignore[misc]
    assert not Measurements(device="cpu").searched_n_max


def test_arc106_reads_the_formula_measured_or_not() -> None:
    """ARC106 read a measured 'infer_peak_bytes' that nothing wrote; it now says what it does."""
    loaded = load_spec_text(INFER, "kv.archcheck.toml")
    assert loaded.spec is not None
    check = RULES["ARC106"].check
    assert check is not None
    static = list(check(RuleContext(loaded, loaded.spec)))
    measured = list(check(RuleContext(loaded, loaded.spec, Measurements(device="fake"))))
    assert [v.message for v in static] == [v.message for v in measured] != []
    assert "infer_peak_bytes" not in {f.name for f in dataclasses.fields(Measurements)}


def test_concern_items_report_only_their_codes() -> None:
    loaded = load_spec_text(INFER, "kv.archcheck.toml")
    by_concern = {
        c: {f.code for f in check_spec(loaded, Selection(), concern=c).findings}
        for c in ("config", "memory", "latency", "span", "pitfalls")
    }
    whole = {f.code for f in check_spec(loaded, Selection()).findings}
    assert by_concern["memory"] == {"ARC106"}
    assert set().union(*by_concern.values()) == whole


def test_pytest_reports_the_article_snippets_arc201_once(pytester: pytest.Pytester) -> None:
    """The static rule and the permutation probe both find it; pytest printed both."""
    pytest.importorskip("torch")
    for f in SNIPPET.iterdir():
        shutil.copy(f, pytester.path / f.name)
    run = pytester.runpytest_subprocess(
        "--archcheck", "--archcheck-probe", "--archcheck-device", "fake",
        "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(pytester.path),
    )  # fmt: skip
    # config and memory pass; the snippet declares no latency or span budget: skipped
    run.assert_outcomes(passed=2, skipped=2, failed=1)
    lines = [ln for ln in run.stdout.lines if ln.startswith("snippet.archcheck.toml:13: ARC201")]
    assert len(lines) == 1, run.stdout.str()
