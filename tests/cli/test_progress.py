"""Progress of long work (issue 17, point 5): `check --probe` on a terminal shows a rich
progress bar on stderr naming each model being measured and the phase its worker is in
(build, step, the n_max search, behaviour checks); on a pipe, nothing."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck import timings

ROOT = Path(__file__).resolve().parents[2]

MODELS = """
import time
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.out = nn.Linear(8, 20)

    def forward(self, tokens):
        return self.out(self.emb(tokens))


def slow_build():
    time.sleep(3)  # long enough for two redraws of the bar while the worker is in "build"
    return Tiny()
"""

SPEC = """[model]
name = "[slow]"
family = "transformer"
factory = "models:slow_build"
vocab = 20
layers = 1
d_model = 8
heads = 1
causal = false
max_positions = 64

[train]
batch = 2
seq_len = 16
"""


def test_phase_changes_are_announced_nested() -> None:
    seen: list[str] = []
    timings.announcing(seen.append)
    try:
        with timings.phase("n_max_search"):
            with timings.phase("build"):
                pass
            with timings.phase("step"):
                pass
    finally:
        timings.announcing(None)
    assert seen == [
        "n_max_search",
        "n_max_search/build",
        "n_max_search",
        "n_max_search/step",
        "n_max_search",
        "",
    ]
    with timings.phase("after"):  # no listener: nothing is told
        pass
    assert len(seen) == 6


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONPATH=str(ROOT / "src"), ARCHCHECK_NO_CACHE="1", COLUMNS="200")
    return env


def test_probe_progress_bar_names_model_and_phase_on_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("pebble")
    (tmp_path / "models.py").write_text(MODELS, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n', encoding="utf-8")
    (tmp_path / "slow.archcheck.toml").write_text(SPEC, encoding="utf-8")
    args = [sys.executable, "-m", "pytest_archcheck", "check", "--probe", "--device", "fake",
            "--format", "json"]  # fmt: skip
    piped = subprocess.run(
        args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert "measuring" not in piped.stderr and "\r" not in piped.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=300)
    os.close(master)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    # the model's bracketed name printed as text, the phase its worker announced (its probe's
    # first, then its behavioural checks', which run beside it: measure._parts), the count of
    # models (one, not its two parts)
    assert re.search(r"archcheck: measuring \[slow\] \(build[ )]", shown), shown
    assert "(build | behaviour" in shown, shown
    assert re.search(r"\[0/1 done, \d+s\]", shown), shown
    assert "━" in shown  # rich's bar


def _pty_stderr(args: list[str], cwd: Path) -> tuple[str, str]:
    """Run `args` with stderr on a pseudo-terminal (stdout piped): (stdout, stderr as shown)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout = proc.communicate(timeout=300)[0].decode()
    os.close(master)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    return stdout, shown


def test_single_probe_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "models.py").write_text(MODELS, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n', encoding="utf-8")
    (tmp_path / "slow.archcheck.toml").write_text(SPEC, encoding="utf-8")
    args = [sys.executable, "-m", "pytest_archcheck", "probe", "slow.archcheck.toml",
            "--device", "fake"]  # fmt: skip
    # on a terminal: the bracketed model name as text, the device, an elapsed clock
    stdout, shown = _pty_stderr(args, tmp_path)
    assert "archcheck: measuring [slow] (fake)" in shown, shown
    assert re.search(r"\d:\d\d:\d\d", shown), shown  # rich's elapsed-time column
    assert "[slow]" in stdout  # the report itself is unchanged, on stdout
    # JSON on a terminal's stderr: nothing extra (scripts read it)
    _, shown_json = _pty_stderr([*args, "--format", "json"], tmp_path)
    assert "measuring" not in shown_json, shown_json
    # a pipe: nothing
    piped = subprocess.run(
        args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert piped.returncode == 0, piped.stderr
    assert "measuring" not in piped.stderr and "\r" not in piped.stderr
    assert piped.stdout == stdout


STATIC_SPEC = """[model]
name = "m{i}"
family = "transformer"
vocab = 100
layers = 2
d_model = 64
heads = 4
causal = true
max_positions = 128

[train]
batch = 2
seq_len = 128
"""


@pytest.mark.parametrize(("count", "jobs"), [(101, "1"), (101, "2"), (100, "1")])
def test_static_check_of_many_files_shows_a_bar_on_a_terminal_only(
    tmp_path: Path, count: int, jobs: str
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n', encoding="utf-8")
    for i in range(count):
        (tmp_path / f"m{i}.archcheck.toml").write_text(STATIC_SPEC.format(i=i), "utf-8")
    args = [sys.executable, "-m", "pytest_archcheck", "check", "--no-cache", "-j", jobs, "."]
    stdout, shown = _pty_stderr(args, tmp_path)
    if count > 100:  # the bar, with the count of files, on the terminal's stderr
        assert "archcheck: checking" in shown, shown
        assert f"/{count} files" in shown, shown
    else:  # 100 files or fewer: too quick to need one
        assert "archcheck: checking" not in shown, shown
    for extra in (["-q"], ["--format", "json"], ["--format", "sarif"]):
        _, quiet = _pty_stderr([*args, *extra], tmp_path)
        assert "archcheck: checking" not in quiet, (extra, quiet)
    piped = subprocess.run(
        args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert "archcheck: checking" not in piped.stderr and "\r" not in piped.stderr
    assert piped.stdout == stdout  # the report is the same either way
