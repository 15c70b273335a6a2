"""The rule registry: one unit per rule (code, name, severity, docs, checks, pytest item), as in ruff.

A rule lives in its own file `rules/arcNNN_<name>.py` and registers itself on import, either as
a function decorated with `@rule(...)` (its static check; it also reads the measurements under
`--probe` where the rule has them) or with `document(...)` when the code is decided elsewhere
(the spec loader, the probe, the behavioural checks). The docstring is the rule's documentation
page, with the sections "What it does", "Why is this bad?", "Example", "Use instead" and
"References": `archcheck rule CODE` prints it and `docs/rules/` is generated from it.

Everything else that used to repeat a rule's identity is derived from here: which pytest item
reports a code (`concern`, `codes_of`), the finding's name and severity (`Rule.finding`), and
which loader problems a config rule reports (`load_kinds`). `codes.RULE_CODES`, the light list
the cache's warm path reads, is derived from the file names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..findings import Finding, Severity

if TYPE_CHECKING:
    from .context import RuleContext, Violation

Kind = Literal["static", "probe", "behaviour", "config"]
# The pytest item (`<spec>::<model>::<concern>`) that reports a rule's findings.
Concern = Literal["config", "memory", "latency", "span", "pitfalls"]
CONCERNS: tuple[Concern, ...] = ("config", "memory", "latency", "span", "pitfalls")
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
    concern: Concern = "pitfalls"
    # kinds of `spec.problems.LoadProblem` this rule reports (config rules only)
    load_kinds: tuple[str, ...] = field(default=())

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

    def finding(
        self,
        message: str,
        path: str,
        line: int = 1,
        model: str | None = None,
        *,
        column: int = 1,
        fix: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Finding:
        """A finding of this rule: its code, name and severity come from here, never retyped."""
        return Finding(
            code=self.code,
            name=self.name,
            severity=self.severity,
            message=message,
            path=path,
            line=line,
            model=model,
            column=column,
            fix=fix,
            data=dict(data or {}),
        )


RULES: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity = "error",
    kind: Kind = "static",
    *,
    concern: Concern,
    load_kinds: tuple[str, ...] = (),
) -> Callable[[CheckFn], CheckFn]:
    """Register `fn` as rule `code`; its docstring is the rule's documentation page."""

    def deco(fn: CheckFn) -> CheckFn:
        _register(
            code,
            name,
            severity,
            kind,
            inspect.getdoc(fn) or "",
            fn if kind == "static" else None,
            concern,
            load_kinds,
        )
        return fn

    return deco


def document(
    code: str,
    name: str,
    severity: Severity,
    kind: Kind,
    doc: str,
    *,
    concern: Concern,
    load_kinds: tuple[str, ...] = (),
) -> None:
    """Register a rule decided outside the static engine (loader, probe, behaviour)."""
    _register(code, name, severity, kind, inspect.cleandoc(doc), None, concern, load_kinds)


def _where(fn: Any) -> tuple[str, str]:
    return (getattr(fn, "__module__", ""), getattr(fn, "__qualname__", ""))


def _register(
    code: str,
    name: str,
    severity: Severity,
    kind: Kind,
    doc: str,
    check: CheckFn | None,
    concern: Concern,
    load_kinds: tuple[str, ...],
) -> None:
    old = RULES.get(code)
    # the same rule re-imported (pytester rewinds sys.modules) replaces itself; another rule
    # claiming the code is a mistake
    if old is not None and (old.name != name or _where(old.check) != _where(check)):
        raise ValueError(f"rule {code} registered twice")
    if concern not in CONCERNS:
        raise ValueError(f"rule {code}: concern {concern!r} is not one of {CONCERNS}")
    summary = doc.strip().splitlines()[0] if doc.strip() else name
    RULES[code] = Rule(code, name, severity, kind, summary, doc, check, concern, load_kinds)


def codes_of(concern: Concern) -> tuple[str, ...]:
    """The codes the pytest item of `concern` reports, in code order."""
    return tuple(sorted(c for c, r in RULES.items() if r.concern == concern))
