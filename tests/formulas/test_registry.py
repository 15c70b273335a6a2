"""The registry: every formula findable by name, docs/formulas.md generated from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pytest_archcheck.formulas import FORMULAS, all_formulas, get_formula
from pytest_archcheck.formulas.registry import formula, render_markdown

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "pytest_archcheck" / "formulas"


def test_names_are_unique_and_described() -> None:
    names = [f.name for f in all_formulas()]
    assert len(names) == len(set(names)) >= 50
    for f in all_formulas():
        assert f.equation and f.summary, f.name
        # "<what it describes>.<which>", in a module under formulas/, runtime/ or families/
        category, _, which = f.name.partition(".")
        assert category and which, f.name
        assert f.func.__module__.split(".")[1] in ("formulas", "runtime", "families"), f.name


def test_get_formula() -> None:
    assert get_formula("params.transformer").func.__name__ == "transformer_param_breakdown"
    with pytest.raises(KeyError):
        get_formula("params.nope")


def test_double_registration_rejected() -> None:
    with pytest.raises(ValueError):

        @formula("params.transformer", "x")
        def other() -> int:
            return 0


def test_no_torch_import_in_formulas() -> None:
    for path in PKG.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("torch") for a in node.names), path
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("torch"), path


def test_docs_formulas_md_is_current() -> None:
    doc = ROOT / "docs" / "formulas.md"
    assert doc.read_text() == render_markdown(), (
        "regenerate: python -m pytest_archcheck.formulas.registry > docs/formulas.md"
    )


def test_registry_populated_on_import() -> None:
    assert "kvcache.kv_cache" in FORMULAS
