"""The static check's cache (cache.py): a warm run prints what a fresh run prints, imports no
engine, and every input a result depends on invalidates it.

Each invalidation test changes one input between two runs and asserts the finding that input
decides appears or disappears; the expected findings are worked out from the spec text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck.cache import check_cached
from pytest_archcheck.cli import main
from pytest_archcheck.codes import RULE_CODES
from pytest_archcheck.rules import RULES

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

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
ARC304 = "d_model 64 is not divisible by heads 5"


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def codes(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[tuple[str, str, int]]:
    """(code, path, line) of every finding `archcheck check argv` prints as JSON."""
    run(["check", *argv, "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    return [(f["code"], f["path"], f["line"]) for f in out["findings"]]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n', encoding="utf-8")
    (tmp_path / "a.archcheck.toml").write_text(SPEC.format(heads=4), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


def test_rule_codes_list_matches_the_registry() -> None:
    assert tuple(sorted(RULES)) == RULE_CODES


def test_warm_run_prints_exactly_what_a_fresh_run_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every example (extends, lengths files, factories, inline pyproject models, planted
    problems): --no-cache, the cold run that fills the cache, and the warm run agree byte for
    byte in every format, and the warm run checks nothing again."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    for fmt in ("json", "concise", "full", "sarif", "github"):
        outs = []
        for extra in (["--no-cache"], [], []):
            rc = run(["check", "examples", "--format", fmt, *extra])
            outs.append((rc, capsys.readouterr().out))
        assert outs[0][0] == 1  # the planted problems
        assert outs[0] == outs[1] == outs[2], fmt
    warm = check_cached(["examples"])
    specs = len(list((tmp_path / "examples").rglob("*.archcheck.toml")))
    pyprojects = len(list((tmp_path / "examples").rglob("pyproject.toml")))
    assert (warm.hits, warm.misses) == (specs + pyprojects, 0)
    assert warm.findings


def test_parallel_cold_run_fills_the_same_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    fresh = codes(capsys, ["examples", "--no-cache", "-j", "1"])
    assert codes(capsys, ["examples", "-j", "2"]) == fresh  # cold, two forked workers
    assert check_cached(["examples"]).misses == 0
    assert codes(capsys, ["examples"]) == fresh


def test_warm_run_imports_neither_engine_nor_pydantic(project: Path) -> None:
    (project / "b.archcheck.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    script = (
        "import sys\n"
        "from pytest_archcheck.cli import main\n"
        "rc = main(['check', '.', '--format', 'json', '--select', 'ARC3'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'rich', "
        "'torch') or m in ('pytest_archcheck.engine', 'pytest_archcheck.rules'))\n"
        "print(rc, heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
        )
        for _ in range(2)
    ]
    assert "pytest_archcheck.engine" in runs[0].stderr  # cold: the engine ran
    assert runs[1].stderr.strip() == "1 []", runs[1].stderr  # warm: it did not
    assert runs[0].stdout == runs[1].stdout
    assert ARC304 in runs[1].stdout


def test_edited_spec_is_checked_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert codes(capsys, ["."]) == []
    (project / "a.archcheck.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    assert codes(capsys, ["."]) == [("ARC304", "a.archcheck.toml", 4)]
    (project / "a.archcheck.toml").write_text(SPEC.format(heads=4), encoding="utf-8")
    assert codes(capsys, ["."]) == []


def test_edited_pyproject_settings_apply_to_cached_specs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "a.archcheck.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    (project / "b.archcheck.toml").write_text(SPEC.format(heads=4), encoding="utf-8")
    assert codes(capsys, ["a.archcheck.toml"]) == [("ARC304", "a.archcheck.toml", 4)]
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.archcheck]\nignore = ["ARC304"]\n', encoding="utf-8"
    )
    # a run over another file refreshes the pyproject's entry; a's entry is from the old one
    assert codes(capsys, ["b.archcheck.toml"]) == []
    assert codes(capsys, ["a.archcheck.toml"]) == []


def test_new_pyproject_between_spec_and_old_one_takes_over(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = project / "sub"
    sub.mkdir()
    (sub / "a.archcheck.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    assert codes(capsys, ["sub"]) == [("ARC304", "sub/a.archcheck.toml", 4)]
    (sub / "pyproject.toml").write_text('[tool.archcheck]\nignore = ["ARC3"]\n', "utf-8")
    assert codes(capsys, ["sub/a.archcheck.toml"]) == []


def test_edited_extends_target_is_noticed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "base.toml").write_text("[model]\nheads = 4\n", encoding="utf-8")
    spec = SPEC.format(heads=4).replace("heads = 4\n", 'extends = "base.toml"\n')
    (project / "a.archcheck.toml").write_text(spec, encoding="utf-8")
    assert codes(capsys, ["."]) == []
    (project / "base.toml").write_text("[model]\nheads = 5\n", encoding="utf-8")  # same size
    # an inherited key is reported at the `extends` line (line 4)
    assert codes(capsys, ["."]) == [("ARC304", "a.archcheck.toml", 4)]
    (project / "base.toml").unlink()
    assert [c for c, _, _ in codes(capsys, ["."])] == ["ARC302"]  # cannot read 'base.toml'


def test_edit_at_the_end_of_an_extends_chain_is_noticed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "base.toml").write_text('[model]\nextends = "deep.toml"\n', encoding="utf-8")
    (project / "deep.toml").write_text("[model]\nheads = 4\n", encoding="utf-8")
    spec = SPEC.format(heads=4).replace("heads = 4\n", 'extends = "base.toml"\n')
    (project / "a.archcheck.toml").write_text(spec, encoding="utf-8")
    assert codes(capsys, ["."]) == []
    (project / "deep.toml").write_text("[model]\nheads = 5\n", encoding="utf-8")
    assert codes(capsys, ["."]) == [("ARC304", "a.archcheck.toml", 4)]


def test_lengths_file_created_later_is_noticed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """max_padding 0.25 at max_n 128: lengths all 128 pad nothing; all 32 pad 75%."""
    spec = SPEC.format(heads=4) + (
        '\n[budget]\nmax_n = 128\nmax_padding = 0.25\n\n[data]\nlengths = "lens.json"\n'
    )
    (project / "a.archcheck.toml").write_text(spec, encoding="utf-8")

    def messages() -> list[tuple[str, str]]:
        run(["check", ".", "--format", "json"])
        return [(f["code"], f["message"]) for f in json.loads(capsys.readouterr().out)["findings"]]

    ((code, message),) = messages()
    assert code == "ARC208" and "'lens.json' not found" in message
    (project / "lens.json").write_text(json.dumps([128] * 64), encoding="utf-8")
    assert messages() == []
    (project / "lens.json").write_text(json.dumps([32] * 64) + " ", encoding="utf-8")
    ((code, message),) = messages()
    assert code == "ARC208" and "makes 75% of tokens padding" in message


def test_factory_module_edits_are_noticed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SPEC.format(heads=4).replace('name = "m"\n', 'name = "m"\nfactory = "nets:build"\n')
    (project / "a.archcheck.toml").write_text(spec, encoding="utf-8")
    assert codes(capsys, ["."]) == [("ARC303", "a.archcheck.toml", 3)]  # no nets.py yet
    (project / "nets.py").write_text("def bulid():\n    pass\n", encoding="utf-8")
    assert codes(capsys, ["."]) == [("ARC303", "a.archcheck.toml", 3)]  # typo
    (project / "nets.py").write_text("def build():\n    pass\n", encoding="utf-8")  # same size
    assert codes(capsys, ["."]) == []


def test_select_and_ignore_have_their_own_entries(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "a.archcheck.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    assert codes(capsys, [".", "--ignore", "ARC304"]) == []
    assert codes(capsys, ["."]) == [("ARC304", "a.archcheck.toml", 4)]
    assert codes(capsys, [".", "--select", "ARC1"]) == []
    assert codes(capsys, [".", "--ignore", "ARC304"]) == []


def test_damaged_cache_is_ignored(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "a.archcheck.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    folder = project / "cache"
    monkeypatch.setenv("ARCHCHECK_CACHE_DIR", str(folder))
    expected = [("ARC304", "a.archcheck.toml", 4)]
    assert codes(capsys, ["."]) == expected
    (entry,) = folder.glob("*.json")
    good = json.loads(entry.read_text(encoding="utf-8"))
    damaged = [
        "{not json",
        "[]",
        json.dumps({"format": 1, "files": []}),
        json.dumps({"format": 1, "files": {k: {"sha": 1} for k in good["files"]}}),
        json.dumps(
            {"format": 1, "files": {k: {**v, "findings": [{}]} for k, v in good["files"].items()}}
        ),
        json.dumps(
            {"format": 1, "files": {k: {**v, "deps": [[1]]} for k, v in good["files"].items()}}
        ),
    ]
    for text in damaged:
        entry.write_text(text, encoding="utf-8")
        assert codes(capsys, ["."]) == expected, text
        assert "Traceback" not in capsys.readouterr().err


def test_unwritable_cache_warns_and_still_reports(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "a.archcheck.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    (project / "blocked").write_text("a file where the cache folder would go", encoding="utf-8")
    monkeypatch.setenv("ARCHCHECK_CACHE_DIR", str(project / "blocked"))
    assert run(["check", ".", "--format", "concise"]) == 1
    out, err = capsys.readouterr()
    assert f"a.archcheck.toml:4:1: ARC304 {ARC304}" in out
    assert "archcheck: warning: cache not written" in err
    assert "Traceback" not in err


def test_cache_folder_ignores_itself_and_no_cache_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "c"
    assert run(["check", ".", "--no-cache", "--cache-dir", str(folder)]) == 0
    assert not folder.exists()
    assert run(["check", ".", "--cache-dir", str(folder)]) == 0
    assert (folder / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    tag = (folder / "CACHEDIR.TAG").read_text(encoding="utf-8")
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    capsys.readouterr()


def test_old_configurations_are_pruned(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each --select combination has its own file; the 8 most recent are kept."""
    folder = project / "c"
    selects = ["ARC1", "ARC2", "ARC3", "ARC10", "ARC20", "ARC30", "ARC101", "ARC201", "ARC301"]
    for code in selects:
        assert run(["check", ".", "--cache-dir", str(folder), "--select", code]) == 0
    assert len(list(folder.glob("*.json"))) == 8
    capsys.readouterr()
    newest = check_cached(["."], select=["ARC301"], folder=folder)  # spec and pyproject
    assert (newest.hits, newest.misses) == (2, 0)
    oldest = check_cached(["."], select=["ARC1"], folder=folder)  # pruned: checked afresh
    assert (oldest.hits, oldest.misses) == (0, 2)


def test_every_file_a_static_check_opens_is_a_recorded_input(tmp_path: Path) -> None:
    """The guard for deps.py: an audit hook lists every file the engine opens while checking
    the examples; each must be a spec, a pyproject.toml, or a recorded dependency of one.
    A rule that reads a new kind of file without noting it fails here."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    script = """
import json, os, sys
from pytest_archcheck.engine import check_paths, _preload_for_workers
_preload_for_workers()  # module imports are not inputs
opened = set()
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and (args[1] in (None, "r", "rb")):
        opened.add(os.path.abspath(args[0]))
sys.addaudithook(hook)
result = check_paths(["examples"], jobs=1)
sys.stdout.write(json.dumps({"opened": sorted(opened), "records": {
    k: [d[1] for d in r.deps if d[0] == "file"] for k, r in result.records.items()}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    allowed = set(data["records"]) | {p for deps in data["records"].values() for p in deps}
    inside = [p for p in data["opened"] if p.startswith(str(tmp_path))]
    assert inside, "the hook saw no file: the test would pass vacuously"
    assert sorted(set(inside) - allowed) == []
    # the examples do exercise each kind of dependency
    deps = {Path(p).name for d in data["records"].values() for p in d}
    assert {"config.json", "model.py", "lengths.csv", "lengths.json"} <= deps


def test_specs_globs_are_expanded_afresh_and_only_for_pyprojects_under_the_paths(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.archcheck]\nspecs = ["configs/*.toml"]\n', "utf-8"
    )
    (project / "configs").mkdir()
    (project / "configs" / "x.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    x = ("ARC304", "configs/x.toml", 4)
    y = ("ARC304", "configs/y.toml", 4)
    for _ in range(2):  # cold, then warm
        assert codes(capsys, ["."]) == [x]
        assert codes(capsys, ["a.archcheck.toml"]) == []  # as `ruff check file.py`
        assert codes(capsys, ["a.archcheck.toml", "--no-cache"]) == []
    (project / "configs" / "y.toml").write_text(SPEC.format(heads=5), encoding="utf-8")
    assert codes(capsys, ["."]) == [x, y]
    assert codes(capsys, [".", "--no-cache"]) == [x, y]


def test_plugin_spells_the_spec_suffix_as_files_does() -> None:
    """plugin.py keeps its own copy (importing files.py would slow every pytest start)."""
    from pytest_archcheck import files, plugin

    assert plugin.SPEC_SUFFIX == files.SPEC_SUFFIX == ".archcheck.toml"


def test_library_upgrade_starts_a_new_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pydantic's messages appear in ARC302 findings: an upgraded library (new files written by
    pip) must not reuse findings worded by the old one."""
    from pytest_archcheck import cache

    lib = tmp_path / "site" / "fakelib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("VERSION = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(cache, "LIBRARIES", ("fakelib",))
    before = cache.configuration([], [])
    assert cache.configuration([], []) == before
    st = (lib / "__init__.py").stat()
    os.utime(lib / "__init__.py", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache.configuration([], []) != before


@pytest.mark.parametrize(("value", "cached"), [("1", False), ("0", True), ("", True)])
def test_archcheck_no_cache_variable(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
    cached: bool,
) -> None:
    folder = project / "c"
    monkeypatch.setenv("ARCHCHECK_CACHE_DIR", str(folder))
    monkeypatch.setenv("ARCHCHECK_NO_CACHE", value)
    assert run(["check", "."]) == 0
    assert folder.exists() is cached
    capsys.readouterr()
