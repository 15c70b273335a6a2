"""Registry of formulas, keyed by what they describe (like `torch.utils.flop_counter`'s registry).

Every public formula is decorated with `@formula("params.transformer", "P = ...", source=...)`.
The registry maps that name to the function, a one-line equation and its source, so that
`docs/formulas.md` is generated from the code (`python -m pytest_archcheck.formulas.registry`)
and any number the tool prints can be traced to its equation in a minute.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Formula:
    """One registered formula: its name, equation, source and the function computing it."""

    name: str
    equation: str
    source: str
    func: Callable[..., Any]
    latex: str | None = None  # the typeset form for the docs (else formulas/latex.py's table)

    @property
    def qualname(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.func) or ""
        return doc.split("\n\n", 1)[0].replace("\n", " ")


FORMULAS: dict[str, Formula] = {}


def _where(obj: Any) -> tuple[str, str]:
    """Where a function or class is defined: a re-import gives a new object, the same place."""
    return (getattr(obj, "__module__", ""), getattr(obj, "__qualname__", ""))


def formula(
    name: str, equation: str, source: str = "", latex: str | None = None
) -> Callable[[F], F]:
    """Register `func` under `name` with a one-line `equation` and its `source` (paper/URL).

    `equation` is plain text: the terminal and the JSON print it. `latex`, when given, is the
    same equation for KaTeX on the docs site (otherwise `formulas/latex.py` holds it)."""

    def register(func: F) -> F:
        old = FORMULAS.get(name)
        # the same function re-imported (pytester and importlib.reload rewind sys.modules) takes
        # its place; a different function claiming the name is a mistake
        if old is not None and _where(old.func) != _where(func):
            raise ValueError(f"formula {name!r} registered twice")
        FORMULAS[name] = Formula(
            name=name, equation=equation, source=source, func=func, latex=latex
        )
        return func

    return register


def get_formula(name: str) -> Formula:
    """The formula registered as `name` (KeyError with the known names otherwise)."""
    _load_all()
    try:
        return FORMULAS[name]
    except KeyError:
        raise KeyError(f"no formula {name!r}; known: {', '.join(sorted(FORMULAS))}") from None


def all_formulas() -> list[Formula]:
    """Every registered formula, sorted by name."""
    _load_all()
    return [FORMULAS[k] for k in sorted(FORMULAS)]


def _load_all() -> None:
    # Importing the packages imports every formula module, which fills FORMULAS: the shared
    # formulas, the kernel semantics (runtime/) and every family unit (families/).
    import pytest_archcheck.formulas
    import pytest_archcheck.formulas.peak
    import pytest_archcheck.runtime.cpu
    import pytest_archcheck.runtime.cuda  # noqa: F401
    from pytest_archcheck.families import units

    units()


def module_path(func: Callable[..., Any]) -> str:
    """Where a formula is defined, relative to the package: "families/transformer.py"."""
    mod = sys.modules[func.__module__]
    parts = func.__module__.split(".")[1:]
    if getattr(mod, "__path__", None) is not None:  # a package's __init__
        parts.append("__init__")
    return "/".join(parts) + ".py"


def typeset(f: Formula) -> str | None:
    """The LaTeX form of `f` for the docs: its decorator's, else formulas/latex.py's table;
    None for a formula described in words (latex.PROSE), whose plain text is shown instead."""
    from .latex import LATEX

    return f.latex if f.latex is not None else LATEX.get(f.name)


def render_markdown() -> str:
    """docs/formulas.md: one section per module, one entry per formula (its name as a heading,
    so a name `estimate` prints is a search hit and a link anchor; its equation typeset as
    display maths, which KaTeX renders and scrolls sideways on a phone instead of a table cell
    squeezing it; what it computes, the function and the source below)."""
    lines = [
        "# Formulas",
        "",
        "Generated from `src/pytest_archcheck` (formulas/, runtime/, families/) by",
        "`python -m pytest_archcheck.formulas.registry > docs/formulas.md`; do not edit by hand.",
        "Every number `archcheck estimate` prints comes from one of these functions; the name",
        "it prints beside a figure is a heading here. The equations are typeset from",
        "`formulas/latex.py` (the terminal prints the same equation as plain text); a formula",
        "that is an algorithm rather than an equation shows its plain description in code.",
        "Conventions: bytes are exact integers; FLOPs count 2 per multiply-accumulate;",
        "GiB/MiB are powers of 1024. Latency figures are always estimates.",
        "",
    ]
    by_module: dict[str, list[Formula]] = {}
    for f in all_formulas():
        by_module.setdefault(module_path(f.func), []).append(f)
    for module in sorted(by_module):
        mod = sys.modules[by_module[module][0].func.__module__]
        lines += [f"## `{module}`", "", inspect.cleandoc(mod.__doc__ or ""), ""]
        for f in by_module[module]:
            lines += [f"### `{f.name}`", ""]
            tex = typeset(f)
            if tex is None:
                lines += [f"`{f.equation}`", ""]
            else:
                lines += ["$$", tex, "$$", ""]
            lines += [f.summary, ""]
            src = f.source or "—"
            lines += [f"Function `{f.func.__name__}` · source: {src}", ""]
        appendix: Callable[[], str] | None = getattr(mod, "doc_appendix", None)
        if appendix is not None:
            lines += [appendix(), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    # Run as a script this file is `__main__`, a second copy: use the package's registry.
    from pytest_archcheck.formulas.registry import render_markdown as _render

    print(_render(), end="")
