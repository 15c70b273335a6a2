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


def _cached(cwd: Path, *args: str, modules: bool = False) -> subprocess.CompletedProcess[str]:
    """`check` with the static cache in `cwd/cache`; `modules`: the run also prints (on
    stderr) whether it imported the engine."""
    env = {**os.environ, "PYTHONPATH": SRC, "ARCHCHECK_CACHE_DIR": str(cwd / "cache")}
    env.pop("ARCHCHECK_NO_CACHE", None)
    script = (
        "import sys\n"
        "from pytest_archcheck.cli import main\n"
        "try:\n"
        f"    rc = main(['check', '--format', 'concise', *{list(args)!r}])\n"
        "finally:\n"
        "    print('engine' in {m.rsplit('.', 1)[-1] for m in sys.modules}, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    argv = ["-c", script] if modules else ["-m", "pytest_archcheck", "check", "--format",
                                           "concise", *args]  # fmt: skip
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip


def test_the_cache_names_the_dependents_without_checking_them_again(tmp_path: Path) -> None:
    """The pre-commit hook hands over every edited file. With a warm cache the specs that
    read a named file come from what their cache entries recorded: no engine import, the
    same report as --no-cache; after an edit of that file (the entry is stale only through
    it) the dependent is still found and checked afresh; after an edit of the spec itself,
    it is checked to learn what it reads."""
    p = _project(tmp_path)
    assert _cached(p, ".").returncode == 0  # fills the cache
    # (a config.json naming a model_type is also checked as a model of its own: its entry)
    assert _cached(p, "config.json").returncode == 0
    warm = _cached(p, "config.json", "lengths.json", modules=True)
    fresh = _run(p, "config.json", "lengths.json")
    assert warm.returncode == fresh.returncode == 0
    assert warm.stdout == fresh.stdout and "2 files checked" in warm.stdout
    assert warm.stderr.strip() == "False", warm.stderr  # nothing was checked again

    cfg = json.loads((p / "config.json").read_text())
    cfg["num_hidden_layers"] = 320
    (p / "config.json").write_text(json.dumps(cfg, indent=2))
    edited = _cached(p, "config.json")
    assert edited.returncode == 1
    assert edited.stdout == _run(p, "config.json").stdout
    assert any(ln.startswith("llama-2-7b.archcheck.toml:") and " ARC101 " in ln
               for ln in edited.stdout.splitlines())  # fmt: skip

    spec = p / "llama-2-7b.archcheck.toml"
    spec.write_text(spec.read_text().replace('lengths = "lengths.json"', 'lengths = "l2.json"'))
    shutil.copy(p / "lengths.json", p / "l2.json")
    moved = _cached(p, "lengths.json", "l2.json")  # the spec reads l2.json now, not lengths
    assert moved.stdout == _run(p, "lengths.json", "l2.json").stdout
    assert "ARC302" in moved.stdout  # lengths.json, read by no spec, checked as itself
