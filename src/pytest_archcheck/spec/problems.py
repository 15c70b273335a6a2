"""What the spec loader reports: located problems, not findings.

spec/ parses and locates; it does not know rule codes. Each problem the loader meets (a key
it does not know, a value it cannot accept, dimensions no model can have, a file it cannot
parse) is a `LoadProblem` with its kind, message, file, line and the spec key it is about.
The rules layer names them: the config rule whose `load_kinds` holds the problem's kind turns
it into that rule's finding (`rules.load.load_findings`), so that a code, its name and its
severity are written once, in the rule's own file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .locate import Key

ProblemKind = Literal["unknown-key", "invalid-value", "inconsistent-dimensions", "unparsable"]


@dataclass(frozen=True)
class LoadProblem:
    """One problem the loader found in a spec or a pyproject.toml, where it found it.

    `message` is the full text shown to users (with any "did you mean" hint); `suggestion`
    is the hint's target alone (the key the user probably meant), for tools."""

    kind: ProblemKind
    message: str
    path: str
    line: int = 1
    model: str | None = None
    key: Key = ()
    suggestion: str | None = None
