"""What a terminal shows: the text formats rendered through a real pseudo-terminal.

rich parses `[...]` as markup unless told not to; a test on captured (piped) output never
sees that, because a pipe takes the plain path. These tests run `archcheck` in a child whose
stdout is a pty (so `--color auto` colours it through rich), strip the colour codes and compare
with the text the same command writes into a pipe: every bracketed piece of user text
(`[modle]`, the `[gpt-small]` suffix, a source line) and of our own labels ("KV cache [infer]")
must be there in both.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

SPEC = """\
[model]
name = "gpt-small"
family = "transformer"
layers = 12
d_model = 768
heads = 12
d_ff = 3072
vocab = 50257
max_positions = 1024

[modle]  # [red]not markup[/red]
layers = 3

[train]
batch = 8
seq_len = 1024

[infer]
batch = 1
seq_len = 1024
kv_cache = true

[budget]
max_n = 2048
memory = "1 GiB"
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(PYTHONPATH=SRC, COLUMNS="200", TERM="xterm-256color", GITHUB_ACTIONS="")
    return env


def _on_pty(args: list[str], cwd: Path) -> str:
    """Run `archcheck ARGS` with stdout and stderr on a pseudo-terminal; what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_archcheck", *args],
        cwd=cwd,
        env=_env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=120)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def _in_pipe(args: list[str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout + done.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "gpt-small.archcheck.toml").write_text(SPEC, encoding="utf-8")
    return tmp_path


def test_findings_on_a_terminal_keep_every_bracket(project: Path) -> None:
    args = ["check", "gpt-small.archcheck.toml", "--no-cache"]
    shown = _on_pty(args, project)
    piped = _in_pipe(args, project)
    assert "\x1b[" in shown, "on a terminal --color auto colours: rich's path was taken"
    assert "\x1b[" not in piped
    plain = ANSI.sub("", shown)
    assert plain == piped
    assert "ARC301 unknown table [modle]; did you mean [model]? [gpt-small]" in plain
    assert "11 | [modle]  # [red]not markup[/red]" in plain
    heads = re.findall(r"^gpt-small\.archcheck\.toml:\d+:\d+: ARC\d{3} .* \[gpt-small\]$",
                       plain, re.M)  # fmt: skip
    assert len(heads) >= 3
    # every finding's `path:line:col:` is bold, not only the first (a `^` without MULTILINE)
    assert len(re.findall(r"^\x1b\[1mgpt-small\.archcheck\.toml:\d+:\d+:", shown, re.M)) == len(
        heads
    )


def test_concise_on_a_terminal_equals_the_pipe(project: Path) -> None:
    args = ["check", ".", "--no-cache", "--format", "concise"]
    plain = ANSI.sub("", _on_pty(args, project))
    assert plain == _in_pipe(args, project)
    assert "[modle]" in plain and "[model]" in plain


def test_color_always_in_a_pipe_is_the_terminal_text(project: Path) -> None:
    args = ["check", ".", "--no-cache", "--color", "always"]
    forced = _in_pipe(args, project)
    assert "\x1b[" in forced
    assert ANSI.sub("", forced) == ANSI.sub("", _on_pty(args, project))
    assert "[gpt-small]" in ANSI.sub("", forced)


def test_estimate_table_keeps_bracketed_labels(project: Path) -> None:
    """The estimate table's row "KV cache [infer]" (which shape the figure is for) lost its
    `[infer]` to rich markup, in a pipe as on a terminal."""
    clean = SPEC.replace("[modle]  # [red]not markup[/red]\nlayers = 3\n", "")
    (project / "clean.archcheck.toml").write_text(clean, encoding="utf-8")
    args = ["estimate", "clean.archcheck.toml"]
    shown = ANSI.sub("", _on_pty(args, project))
    piped = _in_pipe(args, project)
    assert "KV cache [infer]" in piped
    assert "KV cache [infer]" in shown
