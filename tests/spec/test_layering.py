"""spec/ only parses and locates: it imports nothing from rules/ (DESIGN.md §2 data flow).

The loader reports `LoadProblem`s by kind; the config rules turn them into ARC301–306
findings (rules/load.py). An import of rules/ from spec/ would let rule codes leak back into
the parser, and makes an import cycle the day a rule imports the loader at module level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_archcheck

SPEC_DIR = Path(pytest_archcheck.__file__).parent / "spec"


def _imports(path: Path) -> list[str]:
    """Every module `path` imports, absolute or relative (as written, dots kept)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out.append(base)
            if not node.module:  # `from .. import rules`
                out.extend(base + a.name for a in node.names)
    return out


def _is_rules(name: str) -> bool:
    if name.startswith("pytest_archcheck.rules"):
        return True
    stripped = name.lstrip(".")
    # from spec/x.py, `..rules` is the sibling package; `.rules` would be spec/rules
    return name.startswith("..") and (stripped == "rules" or stripped.startswith("rules."))


def test_spec_modules_import_nothing_from_rules() -> None:
    modules = sorted(SPEC_DIR.rglob("*.py"))
    assert modules, SPEC_DIR
    bad = {
        str(p.relative_to(SPEC_DIR)): [n for n in _imports(p) if _is_rules(n)]
        for p in modules
        if any(_is_rules(n) for n in _imports(p))
    }
    assert bad == {}


def test_the_check_itself_sees_such_imports(tmp_path: Path) -> None:
    for line in (
        "from ..rules.registry import RULES",
        "from .. import rules",
        "import pytest_archcheck.rules",
        "from pytest_archcheck.rules import RULES",
    ):
        p = tmp_path / "m.py"
        p.write_text(f"def f():\n    {line}\n", encoding="utf-8")
        assert any(_is_rules(n) for n in _imports(p)), line


def test_load_problems_become_the_config_rules_findings(tmp_path: Path) -> None:
    """The kinds spec/ reports map to ARC301, 302, 304 and 306, named by their rule files."""
    from pytest_archcheck.rules import RULES
    from pytest_archcheck.rules.load import findings_of
    from pytest_archcheck.spec.load import load_spec_text

    loaded = load_spec_text('[budget]\nmemroy = "1 GiB"\n[model]\nlayers = -1\n', "m.toml")
    kinds = {p.kind for p in loaded.problems}
    assert kinds == {"unknown-key", "invalid-value"}
    unknown = next(p for p in loaded.problems if p.kind == "unknown-key")
    assert (unknown.key, unknown.line) == (("budget", "memroy"), 2)
    got = {(f.code, f.name, f.line) for f in findings_of(loaded)}
    assert ("ARC301", RULES["ARC301"].name, 2) in got
    assert any(code == "ARC302" for code, _, _ in got)
    assert load_spec_text("[budget\n", "m.toml").problems[0].kind == "unparsable"
    assert {k for r in RULES.values() for k in r.load_kinds} == {
        "unknown-key",
        "invalid-value",
        "inconsistent-dimensions",
        "unparsable",
    }
