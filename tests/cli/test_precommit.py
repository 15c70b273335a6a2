"""The pre-commit hook on a commit that edits only a file specs read (issue 17, point 2).

A scratch git repository holds the hf-llama example (a spec that `extends` config.json and
reads lengths.json) plus files no spec reads (package.json, a CI workflow YAML, a Python
helper). Its `.pre-commit-config.yaml` is a `repo: local` hook built from this repository's
`.pre-commit-hooks.yaml` (entry, files, types_or), run by the real `pre-commit`: what
pre-commit passes (the staged file names, filtered by that pattern) is what archcheck gets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hf-llama"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _hook_config() -> str:
    """`.pre-commit-config.yaml` running our hook definition as a local hook: the entry's
    `archcheck` is this interpreter with the work tree's sources."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    entry = hook["entry"].replace("archcheck ", f"{sys.executable} -m pytest_archcheck ", 1)
    local = {**hook, "entry": entry, "language": "system"}
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]})


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def _pre_commit(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "PRE_COMMIT_HOME": str(repo.parent / "pc"),
    }
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--verbose"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    pytest.importorskip("pre_commit")
    repo = tmp_path / "repo"
    repo.mkdir()
    for f in EXAMPLE.iterdir():
        if f.is_file():
            shutil.copy(f, repo / f.name)
    (repo / "package.json").write_text('{"name": "site", "version": "1.0.0"}\n')
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yaml").write_text("on: push\njobs: {}\n")
    (repo / "util.py").write_text("def helper():\n    return 1\n")
    (repo / ".pre-commit-config.yaml").write_text(_hook_config())
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "start")
    return repo


def test_editing_only_the_extends_target_reports_the_dependent_spec(repo: Path) -> None:
    """Llama-2-7B at 320 layers instead of 32: ~68 B parameters, whose fp32 weights alone
    (68e9 x 4 B = ~250 GiB) exceed the spec's 136 GiB training budget: ARC101 on the spec."""
    cfg = json.loads((repo / "config.json").read_text())
    cfg["num_hidden_layers"] = 320
    (repo / "config.json").write_text(json.dumps(cfg, indent=2))
    _git(repo, "add", "config.json")
    done = _pre_commit(repo)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Failed" in out
    assert "llama-2-7b.archcheck.toml:" in out and "ARC101" in out
    assert "config.json:1:1" not in out  # the config stood for its spec, not a model of its own


def test_files_no_spec_reads_are_never_read_as_model_configs(repo: Path) -> None:
    """Edits to package.json, a workflow YAML and a helper module: each matches the hook's
    pattern, none is read by a spec; the hook passes (before --dependents-only, package.json
    gave ARC302 "unsupported Hugging Face config" and util.py "no config class")."""
    (repo / "package.json").write_text('{"name": "site", "version": "1.0.1"}\n')
    (repo / ".github" / "workflows" / "ci.yaml").write_text("on: [push]\njobs: {}\n")
    (repo / "util.py").write_text("def helper():\n    return 2\n")
    _git(repo, "add", "-A")
    done = _pre_commit(repo)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Passed" in out
    assert "ARC" not in out and "checked" not in out  # no spec was even loaded


def test_a_lengths_edit_stands_for_its_spec(repo: Path) -> None:
    """lengths.json is read by the spec. Unchanged in substance (reformatted), the hook checks
    the spec: one file, clean. With 70 % of documents at 8,192 tokens, P90 = 8,192 exceeds
    max_n = 4,096: ARC212 on the spec. Never a false ARC302 on lengths.json as a model config."""
    (repo / "lengths.json").write_text(
        json.dumps({"histogram": {"1024": 100, "2048": 200, "4096": 700}}, indent=2) + "\n"
    )
    _git(repo, "add", "-A")
    done = _pre_commit(repo)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "All checks passed! (1 file checked)" in out
    _git(repo, "commit", "-q", "-m", "reformat")
    (repo / "lengths.json").write_text('{"histogram": {"1024": 100, "2048": 200, "8192": 700}}\n')
    _git(repo, "add", "-A")
    done = _pre_commit(repo)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "llama-2-7b.archcheck.toml:" in out and "ARC212" in out
    assert "lengths.json:" not in out
