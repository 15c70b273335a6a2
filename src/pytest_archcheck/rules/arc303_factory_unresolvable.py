"""ARC303 `factory-unresolvable`: A `factory` that does not point at a module and callable that
exist.

One file per rule, as in ruff: the decorated function is the rule's static check (it also reads
the measurements under `--probe` where the rule has them), and its docstring is the rule's docs
page (`archcheck rule ARC303`, docs/rules/ARC303.md).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from ..deps import note_file, note_module
from .context import RuleContext, Violation
from .registry import rule


def _module_source(module: str, root: Path) -> Path | None:
    """Find a module's source file without importing anything (no user code runs)."""
    parts = module.split(".")
    for base in (root, root / "src"):
        as_file = base.joinpath(*parts).with_suffix(".py")
        as_pkg = base.joinpath(*parts, "__init__.py")
        for cand in (as_file, as_pkg):
            note_file(cand)
            if cand.is_file():
                return cand
    # Installed packages: find_spec on the top-level name only (a dotted name would import
    # its parent package, which executes code).
    note_module(parts[0])
    try:
        top = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if top is None:
        return None
    if len(parts) == 1:
        return Path(top.origin) if top.origin and top.origin.endswith(".py") else Path("<builtin>")
    for loc in top.submodule_search_locations or []:
        base = Path(loc)
        for cand in (
            base.joinpath(*parts[1:]).with_suffix(".py"),
            base.joinpath(*parts[1:], "__init__.py"),
        ):
            note_file(cand)
            if cand.is_file():
                return cand
    return None


def _defines(source: Path, name: str) -> bool | None:
    """Whether `name` is bound at module level in `source` (None when the source is unreadable)."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    head = name.split(".", maxsplit=1)[0]
    for node in tree.body:
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.name == head
        ):
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == head for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) == head for a in node.names
        ):
            return True
        if isinstance(node, (ast.If, ast.Try)):
            return None  # conditional definitions: cannot decide statically
    return False


@rule("ARC303", "factory-unresolvable", concern="config")
def factory_unresolvable(ctx: RuleContext) -> Iterator[Violation]:
    """A `factory` that does not point at a module and callable that exist.

    ## What it does
    Statically, finds the factory's module file (project root, `src/`, or installed packages)
    and parses it to see that the callable is defined, without importing it. Under `--probe`,
    a factory that fails to import, raises, hangs, or returns something that is not an
    `nn.Module` is reported with this code too.

    ## Why is this bad?
    Every measured budget (memory, latency, behaviour) runs through the factory; if it cannot
    be built, those budgets are not checked at all.

    ## Example
    ```toml
    [model]
    factory = "mypkg.models:bulid"
    ```

    ## Use instead
    ```toml
    [model]
    factory = "mypkg.models:build"
    ```

    ## References
    - Entry-point object references use the same `module:attr` form:
      https://packaging.python.org/en/latest/specifications/entry-points/
    """
    factory = ctx.spec.model.factory
    if not factory:
        return
    module, _, attr = factory.partition(":")
    root = ctx.loaded.root or Path(ctx.loaded.path).resolve().parent
    src = _module_source(module, root)
    if src is None:
        yield Violation(
            f"factory module `{module}` not found under {root} or installed packages",
            ("model", "factory"),
            fix="check the module path; factories import with the project root on sys.path",
        )
        return
    if src.name == "<builtin>":
        return
    defined = _defines(src, attr)
    if defined is False:
        yield Violation(
            f"`{attr}` is not defined at module level in {src}",
            ("model", "factory"),
            fix="name a function or class defined in that module",
        )
