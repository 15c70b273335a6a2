"""A finding on a key inherited through `extends` names the file and line it came from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_archcheck.engine import check_paths

DATA = Path(__file__).parent / "data"


def test_inherited_key_points_into_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(DATA / "gpt2" / "config.json", tmp_path / "config.json")
    (tmp_path / "g.archcheck.toml").write_text(
        '[model]\nextends = "config.json"\n\n[train]\nseq_len = 2048\n\n[budget]\nmax_n = 2048\n'
    )
    monkeypatch.chdir(tmp_path)
    [f] = check_paths(["."]).findings
    # GPT-2's table has n_positions = 1024 rows, on line 17 of the published config.json
    # (counted in the file); the finding stays at the `extends` line (2) of the spec.
    lines = (tmp_path / "config.json").read_text().splitlines()
    assert lines[16].strip() == '"n_positions": 1024,'
    assert (f.code, f.line) == ("ARC202", 2)
    assert f.message.endswith("(`model.max_positions` from config.json:17)")


def test_own_keys_have_no_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(DATA / "gpt2" / "config.json", tmp_path / "config.json")
    (tmp_path / "g.archcheck.toml").write_text(
        '[model]\nextends = "config.json"\nmax_positions = 1024\n\n[budget]\nmax_n = 2048\n'
    )
    monkeypatch.chdir(tmp_path)
    [f] = check_paths(["."]).findings
    assert (f.code, f.line) == ("ARC202", 3) and " from " not in f.message
