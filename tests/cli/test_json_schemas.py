"""`archcheck schema --output check|estimate|probe`: the JSON Schema of each verb's JSON, and
the real output of each verb validated against it with jsonschema.

Validation uses the schema with every object closed (report.schemas.output_schema(strict=
True)): a field the code prints that the schema does not document fails here. Mutated copies of
real output (a finding without its line, a byte count as a string, an unknown severity) must
fail, so that the schema is not one that accepts anything.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.report.schemas import output_schema

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/*.archcheck.toml"))

TINY = """\
[model]
name = "tiny"
family = "transformer"
layers = 2
d_model = 64
heads = 4
d_ff = 256
vocab = 100
max_positions = 128

[train]
batch = 2
seq_len = 64

[budget]
max_n = 128
memory = "1 GiB"
"""


def _validator(kind: str) -> Any:
    schema = output_schema(kind, strict=True)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict[str, Any]:
    main(args)
    return json.loads(capsys.readouterr().out)


def test_schema_command_prints_each_schema(capsys) -> None:
    for kind in ("check", "estimate", "probe"):
        printed = _json(capsys, ["schema", "--output", kind])
        assert printed == output_schema(kind)
        jsonschema.Draft202012Validator.check_schema(printed)
        assert printed["properties"]["schema_version"]["const"] == 1
    spec = _json(capsys, ["schema"])  # without --output: the spec's schema, as before
    assert "model" in spec["properties"]


def test_check_output_of_the_examples_validates(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    doc = _json(capsys, ["check", "examples", "--format", "json", "--no-cache", "--exit-zero"])
    assert doc["findings"], "the examples hold findings: the items of the schema are exercised"
    _validator("check").validate(doc)
    v = _validator("check")
    for mutate in (
        lambda d: d["findings"][0].pop("line"),
        lambda d: d["findings"][0].update(severity="fatal"),
        lambda d: d["findings"][0].update(code="E501"),
        lambda d: d.update(schema_version=2),
        lambda d: d["findings"][0].update(undocumented=1),
    ):
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert not v.is_valid(bad)


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_estimate_output_of_every_example_validates(spec: Path, capsys) -> None:
    doc = _json(capsys, ["estimate", str(spec), "--format", "json"])
    _validator("estimate").validate(doc)


def test_estimate_schema_rejects_wrong_types(capsys, tmp_path: Path) -> None:
    (tmp_path / "tiny.archcheck.toml").write_text(TINY, encoding="utf-8")
    doc = _json(capsys, ["estimate", str(tmp_path / "tiny.archcheck.toml"), "--format", "json"])
    v = _validator("estimate")
    v.validate(doc)
    for mutate in (
        lambda d: d["models"][0]["memory"].update(total="1 GiB"),
        lambda d: d["models"][0]["dependency"].update(directions="forward"),
        lambda d: d["models"][0].pop("n_max"),
        lambda d: d["models"][0]["flops"].update(forward=1.5),
    ):
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert not v.is_valid(bad)


def _probe(tmp_path: Path, spec_text: str) -> dict[str, Any]:
    (tmp_path / "tiny.archcheck.toml").write_text(spec_text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "probe", "tiny.archcheck.toml",
         "--device", "fake", "--format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_probe_output_validates(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    doc = _probe(tmp_path, TINY)
    assert doc["models"][0]["peak_bytes"] > 0
    v = _validator("probe")
    v.validate(doc)
    bad = copy.deepcopy(doc)
    bad["models"][0]["breakdown"]["params"] = None
    assert not v.is_valid(bad)


def test_a_failed_probe_validates(tmp_path: Path) -> None:
    """A factory that cannot be imported: peak_bytes null and an ARC303 finding."""
    pytest.importorskip("torch")
    spec = TINY.replace('family = "transformer"', 'family = "transformer"\nfactory = "nomod:build"')
    doc = _probe(tmp_path, spec)
    model = doc["models"][0]
    assert model["peak_bytes"] is None and model["findings"][0]["code"] == "ARC303"
    _validator("probe").validate(doc)


def test_check_probe_output_with_timings_validates(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "tiny.archcheck.toml").write_text(TINY, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "check", "tiny.archcheck.toml", "--probe",
         "--device", "fake", "--format", "json", "--no-cache"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    doc = json.loads(done.stdout)
    assert doc["timings"]["models"], done.stderr
    v = _validator("check")
    v.validate(doc)
    bad = copy.deepcopy(doc)
    bad["timings"]["models"][0]["build"] = "fast"  # a phase is seconds
    assert not v.is_valid(bad)
