"""Issue #18 point 4: what `archcheck check` loads at start-up is cut down without changing
what it does.

`main` builds the parser of `check` alone for a `check` command line (the pre-commit hook's):
every command line must parse to the same namespace, and every usage error and help text must
read exactly as the full parser prints it. A warm run loads none of the modules the other verbs
or the version lookup need.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck.cli import _is_check, build_parser, main

REPO = Path(__file__).resolve().parents[2]


def _run_full(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:
    try:
        code: object = vars(build_parser().parse_args(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _run_trimmed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str, str]:
    parser = build_parser(check_only=True)
    parser.retry = argv  # type: ignore[attr-defined]  (as main sets it)
    try:
        code: object = vars(parser.parse_args(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["check"],
        ["check", "a", "b", "--format", "json", "-j", "2", "--select", "ARC1,ARC3"],
        ["-v", "check", "--no-cache", "--cache-dir", "c", "--exit-zero", "--output-file", "o"],
        ["check", "-v", "--probe", "--device", "cpu"],
        ["check", "--bogus"],  # unrecognized: reported by the top-level parser (all verbs)
        ["-v", "check", "--format", "xml"],  # invalid choice: reported by check's parser
        ["check", "--jobs", "many"],
        ["check", "--select", "XYZ9"],
        ["check", "-h"],
    ],
)
def test_check_only_parser_parses_and_fails_as_the_full_one(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _is_check(argv)
    assert _run_trimmed(argv, capsys) == _run_full(argv, capsys)


def test_usage_error_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    """The message of a top-level error comes from the full parser (the retry), not from the
    trimmed one, whose verb list would read {check}."""
    with pytest.raises(SystemExit) as exc:
        main(["check", "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "{check,estimate,probe," in err and "unrecognized arguments: --bogus" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["check", "x"], True),
        (["-v", "check"], True),
        (["--verbose", "check"], True),
        (["-h", "check"], False),  # the top-level help lists every verb
        (["--version"], False),
        (["estimate", "check"], False),
        ([], False),
    ],
)
def test_is_check(argv: list[str], expected: bool) -> None:
    assert _is_check(argv) is expected


def test_warm_check_loads_no_other_verb_and_no_metadata(tmp_path: Path) -> None:
    """A warm run: modules loaded by archcheck (beyond what the interpreter had loaded at
    start-up) include neither importlib.metadata (the version comes from _version.py) nor
    logging nor the modules of the other verbs."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n', encoding="utf-8")
    (tmp_path / "a.archcheck.toml").write_text(
        '[model]\nname = "m"\nlayers = 2\nd_model = 64\nheads = 4\nvocab = 100\n'
        "max_positions = 128\n\n[train]\nseq_len = 128\n",
        encoding="utf-8",
    )
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from pytest_archcheck.cli import main\n"
        "rc = main(['check', '.', '--format', 'json'])\n"
        "new = set(sys.modules) - before\n"
        "watch = ('importlib.metadata', 'logging', 'pytest_archcheck.scaffold', "
        "'pytest_archcheck.span', 'pytest_archcheck.plot', 'pydantic')\n"
        "print(rc, sorted(m for m in new if m in watch), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ARCHCHECK_CACHE_DIR": "cache"}
    env.pop("ARCHCHECK_NO_CACHE", None)
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        for _ in range(2)
    ]
    assert "pydantic" in runs[0].stderr  # cold: the spec was validated
    assert runs[1].stderr.strip() == "0 []", runs[1].stderr  # warm: none of them
    assert runs[0].stdout == runs[1].stdout


def test_a_gitignore_of_comments_only_imports_no_pathspec(tmp_path: Path) -> None:
    """A fresh repository's .git/info/exclude holds only comments: matching nothing, it costs
    no pathspec import (~30 ms, a pre-commit hook's start-up); a real pattern still excludes."""
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("# git ls-files --others\n#  *.o\n\n")
    (tmp_path / "a.archcheck.toml").write_text("")
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from pytest_archcheck.files import Excluder\n"
        "print(Excluder().excluded(Path('a.archcheck.toml'), False), 'pathspec' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = [sys.executable, "-c", script]
    out = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["False", "False"]
    (tmp_path / ".gitignore").write_text("# models\na.archcheck.toml\n")
    out = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["True", "True"]
