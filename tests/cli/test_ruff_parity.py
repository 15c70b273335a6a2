"""CLI parity with ruff: the most specific selector wins, `--extend-select`, `--statistics`,
`-q`, `-V`, `--color` with NO_COLOR / FORCE_COLOR. Expected outcomes are ruff's documented
behaviour (https://docs.astral.sh/ruff/linter/#rule-selection, `ruff check --statistics`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck.cli import colour_wanted
from pytest_archcheck.selection import Selection

SRC = str(Path(__file__).parents[2] / "src")

# ARC101 (memory over budget) and ARC104 (span not covered) on one spec, ARC201 (missing
# positional information: a bidirectional attention model with positional = "none")
OVER = """[model]
family = "transformer"
layers = 48
d_model = 2048
heads = 16
vocab = 50000
max_positions = 4096
[train]
batch = 8
seq_len = 4096
[budget]
memory = "1 GiB"
"""
SHORT = """[model]
family = "tcn"
layers = 2
d_model = 64
vocab = 100
kernel = 3
dilations = [1, 2]
[budget]
span = 200
"""
NOPOS = """[model]
family = "transformer"
layers = 2
d_model = 64
heads = 4
vocab = 100
causal = false
positional = "none"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "over.archcheck.toml").write_text(OVER)
    (tmp_path / "short.archcheck.toml").write_text(SHORT)
    (tmp_path / "nopos.archcheck.toml").write_text(NOPOS)
    return tmp_path


def _run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    for key in ("NO_COLOR", "FORCE_COLOR"):
        if env is None or key not in env:
            full.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", *args],
        cwd=cwd, capture_output=True, text=True, env=full, timeout=120, check=False,
    )  # fmt: skip


def _codes(out: str) -> set[str]:
    return {
        w
        for line in out.splitlines()
        for w in line.split()
        if w.startswith("ARC") and w[3:].isdigit()
    }


@pytest.mark.parametrize(
    ("select", "ignore", "enabled"),
    [
        (["ARC1"], ["ARC104"], False),  # ignore is more specific: off
        (["ARC104"], ["ARC1"], True),  # select is more specific: on (ruff: E501 over E)
        (["ARC104"], ["ARC104"], False),  # equal: ignore wins
        ([], ["ARC1"], False),
        ([], [], True),
        (["ARC2"], [], False),
    ],
)
def test_most_specific_selector_wins(select: list[str], ignore: list[str], enabled: bool) -> None:
    assert Selection(select=select, ignore=ignore).enabled("ARC104") is enabled


def test_cli_select_more_specific_than_ignore(project: Path) -> None:
    out = _run(project, "check", ".", "--no-cache", "--select", "ARC104", "--ignore", "ARC1")
    assert _codes(out.stdout) == {"ARC104"}
    assert out.returncode == 1


def test_extend_select_adds_to_pyprojects_select(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.archcheck]\nselect = ["ARC101"]\n')
    base = _run(project, "check", ".", "--no-cache", "--format", "concise")
    assert _codes(base.stdout) == {"ARC101"}
    out = _run(project, "check", ".", "--no-cache", "--format", "concise",
               "--extend-select", "ARC201")  # fmt: skip
    assert _codes(out.stdout) == {"ARC101", "ARC201"}


def test_extend_select_overrides_a_broader_ignore(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.archcheck]\nignore = ["ARC2"]\n')
    out = _run(project, "check", ".", "--no-cache", "--format", "concise",
               "--extend-select", "ARC201")  # fmt: skip
    assert "ARC201" in _codes(out.stdout)


def test_statistics_counts_per_code(project: Path) -> None:
    (project / "over2.archcheck.toml").write_text(OVER)  # a second ARC101
    out = _run(project, "check", ".", "--no-cache", "--statistics", "--select", "ARC101,ARC201")
    lines = out.stdout.strip().splitlines()
    assert lines == [
        "2\tARC101\t[E] train-memory-over-budget",
        "1\tARC201\t[E] missing-positional-information",
    ]
    assert out.returncode == 1


def test_quiet_prints_findings_without_the_summary(project: Path) -> None:
    loud = _run(project, "check", ".", "--no-cache", "--format", "concise")
    quiet = _run(project, "check", ".", "--no-cache", "--format", "concise", "-q")
    assert loud.stdout.strip().splitlines()[-1].startswith("Found ")
    assert quiet.stdout.strip().splitlines() == loud.stdout.strip().splitlines()[:-1]
    assert quiet.returncode == loud.returncode == 1


def test_short_version_flag(tmp_path: Path) -> None:
    out = _run(tmp_path, "-V")
    assert out.returncode == 0 and out.stdout.startswith("archcheck ")


def test_colour_choice_like_ruff() -> None:
    env = dict(os.environ)
    try:
        for key in ("NO_COLOR", "FORCE_COLOR"):
            os.environ.pop(key, None)
        assert colour_wanted("auto", True) and not colour_wanted("auto", False)
        assert colour_wanted("always", False) and not colour_wanted("never", True)
        os.environ["NO_COLOR"] = "1"
        assert not colour_wanted("auto", True)
        assert colour_wanted("always", True)  # an explicit flag beats the environment
        del os.environ["NO_COLOR"]
        os.environ["FORCE_COLOR"] = "1"
        assert colour_wanted("auto", False)
    finally:
        os.environ.clear()
        os.environ.update(env)


@pytest.mark.parametrize(
    ("args", "env", "escapes"),
    [
        (["--color", "always"], {}, True),
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        ([], {"FORCE_COLOR": "1"}, True),
        ([], {}, False),  # a pipe
    ],
)
def test_colour_in_a_pipe(
    project: Path, args: list[str], env: dict[str, str], escapes: bool
) -> None:
    out = _run(project, "check", ".", "--no-cache", "--format", "concise", *args, env=env)
    assert ("\x1b[" in out.stdout) is escapes
    assert "ARC101" in out.stdout
