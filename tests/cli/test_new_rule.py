"""Adding a rule is adding one file: a new `rules/arc299_*.py` shows in `archcheck rule`, in
the generated docs, in `archcheck check` and in the pytest item of its concern, with no other
edit (before, a code missing from the plugin's own table never showed in pytest).

The package is copied to a temporary folder with the one new file, and run from there in
subprocesses (PYTHONPATH first), so that the installed package is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_archcheck

pytest_plugins = ["pytester"]

NEW_RULE = '''"""ARC299 `too-many-layers-example`: a rule added by a test, in one file."""

from __future__ import annotations

from collections.abc import Iterator

from .context import RuleContext, Violation
from .registry import rule


@rule("ARC299", "too-many-layers-example", severity="warning", concern="pitfalls")
def too_many_layers(ctx: RuleContext) -> Iterator[Violation]:
    """More than one layer (an example rule registered by a test).

    ## What it does
    Flags every spec with more than one layer.

    ## Why is this bad?
    It is not; the rule exists to show that one file is all a rule needs.

    ## Example
    ```toml
    [model]
    layers = 2
    ```

    ## Use instead
    ```toml
    [model]
    layers = 1
    ```

    ## References
    - tests/cli/test_new_rule.py
    """
    if ctx.spec.model.layers > 1:
        yield Violation(f"{ctx.spec.model.layers} layers", ("model", "layers"))
'''

SPEC = """[model]
name = "two"
family = "transformer"
layers = 2
d_model = 64
heads = 4
vocab = 100

[train]
batch = 1
seq_len = 64
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package with rules/arc299_too_many_layers_example.py added."""
    src = tmp_path_factory.mktemp("src")
    pkg = src / "pytest_archcheck"
    shutil.copytree(
        Path(pytest_archcheck.__file__).parent,
        pkg,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (pkg / "rules" / "arc299_too_many_layers_example.py").write_text(NEW_RULE, encoding="utf-8")
    return src


def _run(src: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_copy_is_what_runs(package: Path, tmp_path: Path) -> None:
    out = _run(package, tmp_path, "-c", "import pytest_archcheck; print(pytest_archcheck.__file__)")
    assert out.stdout.strip().startswith(str(package)), out


def test_new_rule_file_is_listed_documented_and_checked(package: Path, tmp_path: Path) -> None:
    listing = _run(package, tmp_path, "-m", "pytest_archcheck", "rule")
    assert "ARC299  too-many-layers-example" in listing.stdout, listing.stderr
    page = _run(package, tmp_path, "-m", "pytest_archcheck", "rule", "ARC299")
    assert "pytest item pitfalls" in page.stdout and "## Why is this bad?" in page.stdout
    codes = _run(
        package, tmp_path, "-c", "from pytest_archcheck.codes import RULE_CODES as c; print(c)"
    )
    assert "'ARC299'" in codes.stdout, codes.stderr

    docs = _run(package, tmp_path, "-m", "pytest_archcheck.docsgen", str(tmp_path / "docs"))
    assert docs.returncode == 0, docs.stderr
    assert "`too-many-layers-example`" in (tmp_path / "docs" / "rules" / "ARC299.md").read_text()
    assert "[ARC299](ARC299.md)" in (tmp_path / "docs" / "rules" / "index.md").read_text()

    (tmp_path / "two.archcheck.toml").write_text(SPEC, encoding="utf-8")
    check = _run(
        package, tmp_path, "-m", "pytest_archcheck", "check", ".", "--select", "ARC299",
        "--no-cache", "--format", "concise",
    )  # fmt: skip
    assert "two.archcheck.toml:4:1: ARC299 2 layers" in check.stdout, check.stderr


def test_new_rule_fails_the_pytest_item_of_its_concern(package: Path, tmp_path: Path) -> None:
    (tmp_path / "two.archcheck.toml").write_text(SPEC, encoding="utf-8")
    out = _run(
        package, tmp_path, "-m", "pytest", "--archcheck", "-p", "no:cacheprovider", "-rA",
        "two.archcheck.toml",
    )  # fmt: skip
    assert "ARCHCHECK two.archcheck.toml::two::pitfalls" in out.stdout, out.stdout + out.stderr
    assert "two.archcheck.toml:4: ARC299 2 layers" in out.stdout
    assert "PASSED two.archcheck.toml::two::config" in out.stdout
    for concern in ("memory", "latency", "span"):  # no such budget declared: nothing to assert
        assert f"SKIPPED [1] two.archcheck.toml:1: no {concern} budget" in out.stdout
