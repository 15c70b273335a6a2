"""`archcheck check` over paths with nothing to check is not a green run: it warns, names what it
looked for, and exits 5 (pytest's "no tests collected"), so a CI gate checking nothing shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .repos import copy_repo


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("fmt", ["full", "concise", "json"])
def test_empty_folder_exits_5(tmp_path: Path, fmt: str) -> None:
    out = cli("check", ".", "--format", fmt, cwd=tmp_path)
    assert out.returncode == 5
    assert "All checks passed" not in out.stdout
    assert "nothing to check" in out.stderr and "*.archcheck.toml" in out.stderr
    if fmt == "json":
        assert json.loads(out.stdout)["findings"] == []


def test_pyproject_without_models_exits_5(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    out = cli("check", ".", "--no-cache", cwd=tmp_path)
    assert out.returncode == 5 and "Nothing checked" in out.stdout
    assert cli("check", ".", "--exit-zero", cwd=tmp_path).returncode == 0


def test_repo_without_specs_until_init(tmp_path: Path) -> None:
    repo = copy_repo("llama2c", tmp_path)
    assert cli("check", ".", cwd=repo).returncode == 5
    assert cli("init", cwd=repo).returncode == 0
    out = cli("check", ".", cwd=repo)
    assert out.returncode == 0 and "All checks passed" in out.stdout
