"""Static verbs import no torch and run no user code (DESIGN.md §1, §5).

The project below has a factory package whose modules, if ever imported, would import torch
and write marker files. `check` (without --probe), `estimate`, `rule`, `schema` and `advise` must
leave no marker and no torch in `sys.modules`: the factory's source is only parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_archcheck.cli import main

PKG = "archcheck_isolation_pkg"  # a name nothing else imports

SPEC_OK = textwrap.dedent(f"""\
    [model]
    name = "iso"
    factory = "{PKG}.models:build"
    d_model = 64
    heads = 4
    layers = 2
    vocab = 100
    max_positions = 128

    [train]
    seq_len = 128
    """)
SPEC_MISSING = textwrap.dedent(f"""\
    [model]
    name = "iso-missing"
    factory = "{PKG}.models:missing"
    d_model = 64
    heads = 4
    vocab = 100
    """)


def _module(marker: Path) -> str:
    return textwrap.dedent(f"""\
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("imported")
        import torch


        def build(vocab=100):
            return torch.nn.Embedding(vocab, 64)
        """)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    pkg = root / PKG
    pkg.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "iso"\n', encoding="utf-8")
    (pkg / "__init__.py").write_text(_module(tmp_path / "init-imported"), encoding="utf-8")
    (pkg / "models.py").write_text(_module(tmp_path / "models-imported"), encoding="utf-8")
    (root / "iso.archcheck.toml").write_text(SPEC_OK, encoding="utf-8")
    (root / "missing.archcheck.toml").write_text(SPEC_MISSING, encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return root


def _markers(project: Path) -> list[str]:
    return sorted(p.name for p in project.parent.glob("*-imported"))


VERBS = [
    ["check", "."],
    ["check", ".", "--format", "json"],
    ["check", ".", "--format", "sarif"],
    ["estimate", "iso.archcheck.toml"],
    ["estimate", "iso.archcheck.toml", "--format", "json"],
    ["rule"],
    ["rule", "ARC104"],
    ["schema"],
    ["advise", "--span", "512", "--n", "1024", "--memory", "24 GiB"],
]


def _importtime(project: Path, argv: list[str]) -> tuple[int, set[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pytest_archcheck", *argv],
        cwd=project,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return proc.returncode, modules, proc.stderr


@pytest.mark.parametrize(
    "argv", VERBS, ids=[" ".join(a[:2]) + f"-{i}" for i, a in enumerate(VERBS)]
)
def test_static_verbs_never_import_torch(project: Path, argv: list[str]) -> None:
    rc, modules, stderr = _importtime(project, argv)
    assert modules, "no -X importtime output: the interpreter did not run"
    torchy = sorted(m for m in modules if m == "torch" or m.startswith("torch."))
    assert torchy == [], torchy[:5]
    assert not any(m == PKG or m.startswith(PKG + ".") for m in modules)
    assert _markers(project) == []
    # check finds the unresolvable factory (exit 1); the other verbs succeed
    expected = 1 if argv[0] == "check" else 0
    errors = [ln for ln in stderr.splitlines() if not ln.startswith("import time:")]
    assert rc == expected, errors[-10:]


WRAPPER = textwrap.dedent("""\
    import json, sys
    from pytest_archcheck.cli import main
    try:
        rc = main(sys.argv[1:])
    except SystemExit as exc:
        rc = exc.code
    loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    print("ISOLATION " + json.dumps({"rc": rc, "torch": loaded[:5]}))
    """)


def test_check_leaves_torch_out_of_sys_modules(project: Path, tmp_path: Path) -> None:
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(wrapper), "check", ".", "--format", "json"],
        cwd=project,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("ISOLATION "))
    result = json.loads(line.removeprefix("ISOLATION "))
    assert result["torch"] == []
    assert result["rc"] == 1
    assert _markers(project) == []


def test_factory_source_is_parsed_not_imported(project: Path, capsys) -> None:
    """In-process: the defined factory passes ARC303, the missing one is found by parsing."""
    assert main(["check", ".", "--format", "json", "--select", "ARC3"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["code"], f["path"], f["line"]) for f in findings] == [
        ("ARC303", "missing.archcheck.toml", 3)
    ]
    assert "`missing` is not defined at module level" in findings[0]["message"]
    assert "models.py" in findings[0]["message"]
    assert _markers(project) == []
    assert PKG not in sys.modules
    assert f"{PKG}.models" not in sys.modules


def test_estimate_does_not_import_factory(project: Path, capsys) -> None:
    assert main(["estimate", "iso.archcheck.toml", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1
    assert [m["name"] for m in doc["models"]] == ["iso"]
    assert _markers(project) == []
    assert PKG not in sys.modules
