"""The cache trusts a file's recorded stat instead of reading it (issue #18 point 4) only when
git's "racily clean" rule allows: every edit is still seen.

RACY_NS is set to 0 where a test needs files older than the rule's margin (2 s) without
sleeping; the edits below are chosen so that an mtime-and-size cache would miss them, and the
expected finding is worked out from the spec text (d_model 64 with 5 heads: ARC304).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_archcheck import cache as cache_mod
from pytest_archcheck.cache import check_cached

SPEC = """\
[model]
name = "m"
d_model = 64
heads = {heads}
layers = 2
vocab = 100
max_positions = 128

[train]
seq_len = 128
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n', encoding="utf-8")
    (tmp_path / "a.archcheck.toml").write_text(SPEC.format(heads=4), encoding="utf-8")
    (tmp_path / "b.archcheck.toml").write_text(SPEC.format(heads=2), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARCHCHECK_NO_CACHE", raising=False)
    return tmp_path


def _codes(folder: Path) -> tuple[list[tuple[str, str, int]], int]:
    res = check_cached(["."], folder=folder)
    return [(f.code, f.path, f.line) for f in res.findings], res.trusted


def test_old_files_are_trusted_by_stat(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_mod, "RACY_NS", 0)
    assert _codes(project / "c") == ([], 0)  # cold: every file read and hashed
    assert _codes(project / "c") == ([], 3)  # warm: two specs and the pyproject.toml by stat


def test_recent_files_are_read_again(project: Path) -> None:
    """Written just now (within RACY_NS of the hashing): a stat proves nothing yet."""
    assert _codes(project / "c") == ([], 0)
    assert _codes(project / "c") == ([], 0)


def test_edit_keeping_size_and_mtime_is_seen(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """heads = 4 -> 5 keeps the size; the mtime is set back as it was: the ctime moved."""
    monkeypatch.setattr(cache_mod, "RACY_NS", 0)
    spec = project / "a.archcheck.toml"
    st = os.stat(spec)
    assert _codes(project / "c") == ([], 0)
    spec.write_text(SPEC.format(heads=5), encoding="utf-8")
    os.utime(spec, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(spec).st_size == st.st_size and os.stat(spec).st_mtime_ns == st.st_mtime_ns
    assert _codes(project / "c") == ([("ARC304", "a.archcheck.toml", 4)], 2)


def test_edit_within_the_same_tick_is_seen(project: Path) -> None:
    """Default margin: an edit right after a run, same size, is read again and seen."""
    spec = project / "a.archcheck.toml"
    assert _codes(project / "c") == ([], 0)
    spec.write_text(SPEC.format(heads=5), encoding="utf-8")
    assert _codes(project / "c")[0] == [("ARC304", "a.archcheck.toml", 4)]


def test_a_damaged_stat_in_an_entry_is_a_read(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_mod, "RACY_NS", 0)
    assert _codes(project / "c") == ([], 0)
    [file] = (project / "c").glob("*.json")
    text = file.read_text(encoding="utf-8").replace('"hashed_at": ', '"hashed_at": "x", "_": ')
    file.write_text(text, encoding="utf-8")
    assert _codes(project / "c") == ([], 0)  # every entry read and hashed again, none trusted
    assert _codes(project / "c") == ([], 3)  # and re-stamped
