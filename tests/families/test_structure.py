"""The layering the architecture promises (docs/architecture.md), read from the source's AST:
torch is imported only by the probes, the behavioural checks and the families' reference
modules; spec/ parses and locates and imports nothing from rules/; nothing outside the family
registry branches on `model.family`."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "src" / "pytest_archcheck"
TORCH_ALLOWED = ("probe/", "behaviour/", "families/reference/", "runlog/recorder.py")


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (p.relative_to(PKG).as_posix(), ast.parse(p.read_text(encoding="utf-8")))
        for p in sorted(PKG.rglob("*.py"))
    ]


def _imports(tree: ast.Module, rel: str) -> list[str]:
    """Absolute names of every module imported anywhere in the file (lazy imports included)."""
    package = ["pytest_archcheck", *rel.split("/")[:-1]]
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append(mod)
            out += [f"{mod}.{a.name}" for a in node.names]
    return out


def test_torch_only_in_probe_behaviour_and_reference_modules() -> None:
    offenders = [
        rel
        for rel, tree in _modules()
        if not rel.startswith(TORCH_ALLOWED)
        and any(m == "torch" or m.startswith("torch.") for m in _imports(tree, rel))
    ]
    assert offenders == []


def test_spec_imports_nothing_from_rules() -> None:
    offenders = [
        (rel, m)
        for rel, tree in _modules()
        if rel.startswith("spec/")
        for m in _imports(tree, rel)
        if m.startswith("pytest_archcheck.rules")
    ]
    assert offenders == []


def test_no_family_branches_outside_the_family_units() -> None:
    """`model.family == ...` / `family in (...)` decides nothing outside families/, which asks
    each unit (the adapters compare Hugging Face's `model_type`, never our family)."""
    offenders = []
    for rel, tree in _modules():
        if rel.startswith("families/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                left = node.left
                named = (isinstance(left, ast.Attribute) and left.attr == "family") or (
                    isinstance(left, ast.Name) and left.id == "family"
                )
                if named and not all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
                    offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
