"""Load problems -> findings: the config rules name what the spec loader found.

spec/ reports `LoadProblem`s by kind ("unknown-key", "invalid-value", ...); the rule whose
`load_kinds` holds a kind (ARC301, ARC302, ARC304, ARC306, in their own files) owns its code,
name and severity, and builds the finding here.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..findings import Finding
from ..spec.load import LoadedSpec
from ..spec.problems import LoadProblem
from .registry import RULES, Rule


def rule_for(kind: str) -> Rule:
    """The config rule that reports load problems of `kind`."""
    for r in RULES.values():
        if kind in r.load_kinds:
            return r
    raise KeyError(f"no rule reports load problems of kind {kind!r}")


def load_finding(problem: LoadProblem) -> Finding:
    return rule_for(problem.kind).finding(
        problem.message, problem.path, problem.line, problem.model
    )


def load_findings(problems: Iterable[LoadProblem]) -> list[Finding]:
    """Findings of the load problems, in the loader's order."""
    return [load_finding(p) for p in problems]


def findings_of(loaded: LoadedSpec) -> list[Finding]:
    """The findings of one loaded spec's load problems."""
    return load_findings(loaded.problems)
