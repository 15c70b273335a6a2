"""The rule registry: one unit per rule (code, name, severity, docs, check), as in ruff.

A rule is a function decorated with `@rule(...)` whose docstring is its documentation page, with
the sections "What it does", "Why is this bad?", "Example", "Use instead" and "References".
`archcheck rule CODE` prints it and `docs/rules/` is generated from it. Static rules receive a
`RuleContext` and yield `Violation`s; the engine turns them into located `Finding`s.

Codes that only the probe or the behavioural checks can decide, and the config codes raised by
the loader, are registered with `check=None` so that every code has one docs page.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..findings import Severity

if TYPE_CHECKING:
    from .context import RuleContext, Violation

Kind = Literal["static", "probe", "behaviour", "config"]
CheckFn = Callable[["RuleContext"], Iterable["Violation"]]
DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "References")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    kind: Kind
    summary: str
    doc: str
    check: CheckFn | None = None

    def sections(self) -> dict[str, str]:
        """The docs page split into its `## Section` parts."""
        out: dict[str, str] = {}
        current: str | None = None
        for line in self.doc.splitlines():
            if line.startswith("## "):
                current = line[3:].strip()
                out[current] = ""
            elif current is not None:
                out[current] += line + "\n"
        return {k: v.strip() for k, v in out.items()}


RULES: dict[str, Rule] = {}


def rule(
    code: str, name: str, severity: Severity = "error", kind: Kind = "static"
) -> Callable[[CheckFn], CheckFn]:
    """Register `fn` as rule `code`; its docstring is the rule's documentation page."""

    def deco(fn: CheckFn) -> CheckFn:
        _register(
            code, name, severity, kind, inspect.getdoc(fn) or "", fn if kind == "static" else None
        )
        return fn

    return deco


def document(code: str, name: str, severity: Severity, kind: Kind, doc: str) -> None:
    """Register a rule decided outside the static engine (loader, probe, behaviour)."""
    _register(code, name, severity, kind, inspect.cleandoc(doc), None)


def _register(
    code: str, name: str, severity: Severity, kind: Kind, doc: str, check: CheckFn | None
) -> None:
    if code in RULES:
        raise ValueError(f"rule {code} registered twice")
    summary = doc.strip().splitlines()[0] if doc.strip() else name
    RULES[code] = Rule(code, name, severity, kind, summary, doc, check)
