"""Which config governs a spec and which files are checked, as ruff decides for Python files.

Expected outcomes are ruff's documented behaviour (docs.astral.sh/ruff/configuration,
ruff 0.0.182 release note "Ignore any pyproject.toml without a [tool.ruff] section"; the
`respect-gitignore`, `exclude`, `extend-exclude` and `--force-exclude` settings):

- a pyproject.toml without the tool's table governs nothing: the parent's settings apply;
- files .gitignore names are not discovered inside folders, but a file named on the command
  line is checked unless --force-exclude;
- `exclude` replaces the default exclusions, `extend-exclude` adds to them; patterns are
  relative to the config's folder.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pytest_archcheck.cli import EXIT_FINDINGS, EXIT_NOTHING, EXIT_OK, main

# a spec whose only finding is ARC202 (learned table of 128 rows, max_n 256)
SPEC = """\
[model]
family = "transformer"
layers = 2
d_model = 64
heads = 4
d_ff = 256
vocab = 100
max_positions = 128

[train]
batch = 1
seq_len = 128

[budget]
max_n = 256
"""


def _codes(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> tuple[int, list[tuple[str, str]]]:
    rc = main(["check", *args, "--format", "json"])
    out = capsys.readouterr().out
    doc = json.loads(out) if out.strip().startswith("{") else {"findings": []}
    return rc, sorted((f["path"], f["code"]) for f in doc["findings"])


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree: the root's [tool.archcheck] ignores ARC202; sub/ is a package with a
    [project]-only pyproject.toml; ignored/ is git-ignored; both hold a spec."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0"\n\n[tool.archcheck]\nignore = ["ARC202"]\n',
        encoding="utf-8",
    )
    for folder in ("sub", "ignored"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.archcheck.toml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "sub" / "pyproject.toml").write_text(
        '[project]\nname = "sub"\nversion = "0"\n', encoding="utf-8"
    )
    # the git-ignored spec also has a config error, so that checking it shows
    (tmp_path / "ignored" / "m.archcheck.toml").write_text(
        SPEC + "\n[modle]\nx = 1\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("cache", [[], ["--no-cache"]], ids=["cached", "fresh"])
def test_project_only_pyproject_and_gitignored_folder(repo: Path, capsys, cache) -> None:
    # the parent's `ignore` reaches sub/ (its pyproject has no [tool.archcheck]); ignored/ is
    # never read
    assert _codes(capsys, [".", *cache]) == (EXIT_OK, [])
    assert _codes(capsys, [".", *cache]) == (EXIT_OK, [])  # warm cache: the same


def test_subpackage_with_its_own_table_governs(repo: Path, capsys) -> None:
    (repo / "sub" / "pyproject.toml").write_text(
        '[project]\nname = "sub"\nversion = "0"\n\n[tool.archcheck]\nselect = ["ARC2"]\n',
        encoding="utf-8",
    )
    assert _codes(capsys, ["."]) == (EXIT_FINDINGS, [("sub/m.archcheck.toml", "ARC202")])


def test_named_gitignored_file_is_checked_unless_force_exclude(repo: Path, capsys) -> None:
    named = "ignored/m.archcheck.toml"
    rc, found = _codes(capsys, [named])
    assert rc == EXIT_FINDINGS and ("ignored/m.archcheck.toml", "ARC301") in found
    # what pre-commit runs: every named file excluded is a clean, quiet run (ruff exits 0)
    assert main(["check", named, "--force-exclude"]) == EXIT_OK
    assert capsys.readouterr().out == ""


def test_respect_gitignore_false(repo: Path, capsys) -> None:
    with (repo / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("respect-gitignore = false\n")
    rc, found = _codes(capsys, ["."])
    assert rc == EXIT_FINDINGS and found == [("ignored/m.archcheck.toml", "ARC301")]


def test_exclude_replaces_defaults_extend_exclude_adds(repo: Path, capsys) -> None:
    for folder in ("generated", "build"):
        (repo / folder).mkdir()
        (repo / folder / "m.archcheck.toml").write_text(SPEC + "\n[modle]\n", encoding="utf-8")
    base = '[project]\nname = "demo"\nversion = "0"\n\n[tool.archcheck]\nignore = ["ARC202"]\n'
    pp = repo / "pyproject.toml"
    assert _codes(capsys, ["."]) == (EXIT_FINDINGS, [("generated/m.archcheck.toml", "ARC301")])
    pp.write_text(base + 'extend-exclude = ["generated"]\n', encoding="utf-8")
    assert _codes(capsys, ["."]) == (EXIT_OK, [])  # build/ stays excluded by default
    pp.write_text(base + 'exclude = ["generated/*.archcheck.toml"]\n', encoding="utf-8")
    assert _codes(capsys, ["."]) == (EXIT_FINDINGS, [("build/m.archcheck.toml", "ARC301")])
    # a named excluded file: checked as given, skipped under --force-exclude
    assert _codes(capsys, ["generated/m.archcheck.toml"])[0] == EXIT_FINDINGS
    assert main(["check", "generated/m.archcheck.toml", "--force-exclude"]) == EXIT_OK


def test_bad_exclude_is_a_finding(repo: Path, capsys) -> None:
    with (repo / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("exclude = 3\n")
    rc, found = _codes(capsys, ["."])
    assert rc == EXIT_FINDINGS and ("pyproject.toml", "ARC302") in found


def test_archcheck_toml_governs_and_wins_over_pyproject(repo: Path, capsys) -> None:
    # top-level keys, as ruff.toml; in its folder it wins over a pyproject.toml's table
    (repo / "sub" / "pyproject.toml").write_text(
        '[project]\nname = "sub"\nversion = "0"\n\n[tool.archcheck]\nignore = ["ARC202"]\n',
        encoding="utf-8",
    )
    (repo / "sub" / "archcheck.toml").write_text('select = ["ARC2"]\n', encoding="utf-8")
    assert _codes(capsys, ["."]) == (EXIT_FINDINGS, [("sub/m.archcheck.toml", "ARC202")])
    (repo / "sub" / "archcheck.toml").write_text('selct = ["ARC2"]\n', encoding="utf-8")
    _, found = _codes(capsys, ["."])
    assert ("sub/archcheck.toml", "ARC301") in found


def test_config_option_governs_every_spec(repo: Path, capsys) -> None:
    (repo / "ci.toml").write_text('select = ["ARC202"]\n', encoding="utf-8")
    assert _codes(capsys, ["sub", "--config", "ci.toml"]) == (
        EXIT_FINDINGS,
        [("sub/m.archcheck.toml", "ARC202")],
    )
    assert main(["check", "sub", "--config", "missing.toml"]) == 2
    assert _codes(capsys, ["sub"]) == (EXIT_OK, [])  # the option lasts one run


def test_nothing_left_without_force_exclude_is_still_exit_5(repo: Path, capsys) -> None:
    (repo / "sub" / "m.archcheck.toml").unlink()
    assert main(["check", "sub"]) == EXIT_NOTHING


def test_unreadable_subpyproject_is_an_error_not_skipped(repo: Path, capsys) -> None:
    """A pyproject.toml that cannot be read might hold [tool.archcheck]: it is not silently
    passed over as [project]-only: the run stops with a configuration error naming it (exit
    2, as any unreadable governing pyproject.toml)."""
    (repo / "sub" / "pyproject.toml").write_bytes(b"\xff\xfe[tool.archcheck]\n")
    assert main(["check", ".", "--no-cache"]) == 2
    assert "sub/pyproject.toml: not UTF-8 text" in capsys.readouterr().err


def test_hook_mode_on_a_project_only_pyproject_is_exit_0(repo: Path, capsys) -> None:
    """pre-commit names an edited [project]-only pyproject.toml: nothing to check is not a
    failed hook. A folder under --force-exclude with nothing in it is still exit 5."""
    assert main(["check", "sub/pyproject.toml", "--force-exclude", "--dependents-only"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["check", "sub/pyproject.toml"]) == EXIT_NOTHING
    (repo / "empty").mkdir()
    assert main(["check", "empty", "--force-exclude"]) == EXIT_NOTHING


@pytest.mark.parametrize("cache", [[], ["--no-cache"]], ids=["cached", "fresh"])
def test_inline_models_of_an_archcheck_toml(tmp_path: Path, capsys, monkeypatch, cache) -> None:
    """[[model]] tables in an archcheck.toml are models, as [[tool.archcheck.model]] in a
    pyproject.toml: checked (ARC202 on the right line), never "nothing to check"."""
    monkeypatch.chdir(tmp_path)
    body = SPEC.replace("[model]", "[[model]]").replace("[train]", "[model.train]")
    body = body.replace("[budget]", "[model.budget]")
    (tmp_path / "archcheck.toml").write_text('select = ["ARC2"]\n\n' + body, encoding="utf-8")
    rc, found = _codes(capsys, [".", *cache])
    assert (rc, found) == (EXIT_FINDINGS, [("archcheck.toml", "ARC202")])
    main(["check", ".", *cache])
    out = capsys.readouterr().out
    assert "archcheck.toml:10:" in out  # max_positions: line 8 of SPEC, 2 lines below


def test_pytest_collects_the_inline_models_of_an_archcheck_toml(tmp_path: Path) -> None:
    import os
    import sys

    body = SPEC.replace("[model]", "[[model]]").replace("[train]", "[model.train]")
    body = body.replace("[budget]", "[model.budget]")
    (tmp_path / "archcheck.toml").write_text('select = ["ARC2"]\n\n' + body, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--archcheck", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-p", "no:randomly"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "archcheck.toml:10: ARC202" in done.stdout
    assert "1 failed" in done.stdout
