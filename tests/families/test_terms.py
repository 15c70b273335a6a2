"""Every row `estimate --format json` prints is a term naming a registered formula that
docs/formulas.md documents, and the training peak's rows add up to its total exactly: for every
example and for generated specs of every family unit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from family_specs import specs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_archcheck.estimate import estimate
from pytest_archcheck.formulas.registry import all_formulas

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("examples/*/*.archcheck.toml"))
DOC = (ROOT / "docs" / "formulas.md").read_text(encoding="utf-8")
REGISTERED = {f.name for f in all_formulas()}


def _check(model: dict[str, object]) -> None:
    terms = model["terms"]
    assert isinstance(terms, list) and terms
    for t in terms:
        assert t["formula"] in REGISTERED, t
        assert f"`{t['formula']}`" in DOC, t
    memory = model["memory"]
    assert isinstance(memory, dict)
    parts = [t for t in terms if t["key"].startswith("memory.") and t["key"] != "memory.total"]
    [total] = [t for t in terms if t["key"] == "memory.total"]
    assert sum(t["value"] for t in parts) == total["value"] == memory["total"]
    assert memory["phase"] in total["label"] and memory["target"] in total["label"]
    keys = ("params", "grads", "optimizer", "activations", "attention_scores", "logits",
            "backward_transients", "forward_transients", "step_temporaries", "allocator",
            "unsharded_params", "comm_buffers")  # fmt: skip
    assert sum(memory[k] for k in keys) == memory["total"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_through_the_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_archcheck.cli import main

    assert main(["estimate", str(path), "--format", "json"]) == 0
    [model] = json.loads(capsys.readouterr().out)["models"]
    _check(model)


@pytest.mark.parametrize("unit", ["transformer", "recurrent", "conv1d", "conv2d"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_specs_of_every_family(unit: str, data: st.DataObject) -> None:
    spec, n = data.draw(specs(unit))
    _check(json.loads(json.dumps(estimate(spec, n=n).to_json())))


def test_grads_are_zero_when_the_peak_is_the_end_of_forward() -> None:
    """0.1 printed "gradients live at the peak" with a full 4P while the peak fell at the end of
    forward, where zero_grad(set_to_none=True) has freed them (gpt-small: rows 7.47 GB for a
    7.04 GB total). With cross-entropy as the loss the peak falls at the start of backward (the
    loss's two gradients beside the log-probabilities), still before any parameter gradient
    exists."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "estimate",
         "examples/gpt-small/gpt-small.archcheck.toml", "--format", "json"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    e = json.loads(out.stdout)["models"][0]
    assert e["memory"]["phase"] in ("forward", "backward") and e["memory"]["grads"] == 0
