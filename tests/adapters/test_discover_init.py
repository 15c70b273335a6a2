"""`archcheck discover` / `init` on a repository laid out like nanoGPT, and the CLI wiring."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck import scaffold
from pytest_archcheck.discover import discover_project
from pytest_archcheck.engine import check_paths

from .support import DATA


@pytest.fixture
def nanogpt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "nanogpt"
    shutil.copytree(DATA / "nanogpt", repo)
    monkeypatch.chdir(repo)  # a repository without pyproject.toml: the project root is the cwd
    return repo


def test_discover_finds_the_config_and_the_model(nanogpt: Path) -> None:
    configs, modules = discover_project(["."])
    [cfg] = configs
    assert (cfg.path.name, cfg.name, cfg.ref, cfg.kind) == (
        "model.py",
        "gpt",
        "model.py:GPTConfig",
        "dataclass",
    )
    assert cfg.model["layers"] == 12 and cfg.model["vocab"] == 50304
    top = [m for m in modules if m.top_level]
    assert [(m.name, m.kind) for m in top] == [("GPT", "class")]
    assert {m.name for m in modules} == {"LayerNorm", "CausalSelfAttention", "MLP", "Block", "GPT"}
    assert top[0].factory == "model:GPT"
    source = (nanogpt / "model.py").read_text().splitlines()
    assert source[cfg.line - 1] == "class GPTConfig:"


def test_discover_finds_functions_returning_modules(tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text(
        "import torch\n\nclass Net(torch.nn.Module):\n    pass\n\n"
        "def build() -> Net:\n    return Net()\n\n"
        "def mlp(d):\n    return torch.nn.Sequential(torch.nn.Linear(d, d))\n\n"
        "def helper():\n    return 3\n",
        encoding="utf-8",
    )
    _, modules = discover_project([str(tmp_path)])
    assert [(m.name, m.kind) for m in modules] == [
        ("Net", "class"), ("build", "function"), ("mlp", "function"),
    ]  # fmt: skip


def test_init_writes_a_spec_that_passes_once_budgets_are_filled(nanogpt: Path) -> None:
    [(path, what)] = scaffold.init_specs(["."])
    assert path.name == "gpt.archcheck.toml" and "model.py:GPTConfig" in what
    text = path.read_text()
    assert 'extends = "model.py:GPTConfig"' in text
    assert re.search(r"^# memory = ", text, re.M)  # budgets present, commented out
    assert not re.search(r"^memory = ", text, re.M)
    # train.py's literal settings fill the [train] placeholders
    assert "batch = 12" in text and "seq_len = 1024" in text
    assert check_paths([str(path)]).findings == []
    filled = text
    for key, value in {
        "device": '"H100-80GB"',
        "max_n": "1024",
        "memory": '"16 GiB"',
        "infer_memory": '"1 GiB"',
        "p95_latency": '"2 s"',  # above what 128 eager decode steps may take (ARC107)
        "span": "1024",
    }.items():
        filled, n = re.subn(rf"^# {key} = [^#]*", f"{key} = {value}  ", filled, flags=re.M)
        assert n == 1, key
    path.write_text(filled)
    result = check_paths([str(path)])
    assert result.findings == [], [f.message for f in result.findings]
    assert result.specs[0].spec is not None and result.specs[0].spec.budget.memory == 16 * 1024**3
    # a second init leaves the edited spec alone
    [(_, again)] = scaffold.init_specs(["."])
    assert again.startswith("exists")
    assert path.read_text() == filled


def test_discover_command_json(nanogpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = scaffold.discover_command(argparse.Namespace(paths=["."], format="json"))
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [c["extends"] for c in doc["configs"]] == ["model.py:GPTConfig"]
    assert "model:GPT" in [m["factory"] for m in doc["modules"]]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_cli_estimate_a_config_json_directly(tmp_path: Path) -> None:
    shutil.copy(DATA / "gpt2" / "config.json", tmp_path / "config.json")
    out = _cli("estimate", "config.json", "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    [model] = json.loads(out.stdout)["models"]
    assert model["params"] == 124_439_808


def test_cli_discover_init_check(nanogpt: Path) -> None:
    out = _cli("discover", cwd=nanogpt)
    assert out.returncode == 0 and "GPTConfig" in out.stdout and "model:GPT" in out.stdout
    assert _cli("init", cwd=nanogpt).returncode == 0
    assert _cli("check", ".", cwd=nanogpt).returncode == 0


def test_cli_check_reports_a_bad_config_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "mamba"}', encoding="utf-8")
    out = _cli("check", "config.json", "--format", "json", cwd=tmp_path)
    assert out.returncode == 1
    [f] = json.loads(out.stdout)["findings"]
    assert f["code"] == "ARC302" and "supported model types" in f["message"]
