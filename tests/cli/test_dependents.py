"""`archcheck check FILE` where FILE is read by specs (an `extends` target, a lengths file):
the specs that depend on it are checked (dependents.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).parents[2] / "src")
EXAMPLE = Path(__file__).parents[2] / "examples" / "hf-llama"


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "check", "--no-cache", "--format", "concise",
         *args],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def _project(tmp_path: Path) -> Path:
    for f in EXAMPLE.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_an_edited_extends_target_reports_the_dependent_spec(tmp_path: Path) -> None:
    """Llama-2-7B at 320 layers instead of 32: ~68 B parameters, whose fp32 weights alone
    (~250 GiB) exceed the spec's 136 GiB budget."""
    p = _project(tmp_path)
    before = _run(p, "config.json")
    assert before.returncode == 0, before.stdout
    cfg = json.loads((p / "config.json").read_text())
    cfg["num_hidden_layers"] = 320
    (p / "config.json").write_text(json.dumps(cfg, indent=2))
    out = _run(p, "config.json")
    assert out.returncode == 1
    lines = [ln for ln in out.stdout.splitlines() if " ARC101 " in ln]
    assert lines and lines[0].startswith("llama-2-7b.archcheck.toml:")


def test_a_lengths_file_is_not_taken_for_a_model_config(tmp_path: Path) -> None:
    p = _project(tmp_path)
    out = _run(p, "lengths.json")
    assert "ARC302" not in out.stdout
    assert out.returncode == 0, out.stdout
    assert "1 file checked" in out.stdout  # the spec that reads it


def test_a_file_no_spec_reads_is_checked_as_itself(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "other.json").write_text('{"histogram": {"1024": 3}}')
    out = _run(tmp_path, "other.json")
    assert "ARC302" in out.stdout  # unchanged: not a model config, and nothing reads it
