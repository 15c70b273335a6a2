"""Findings and errors: the only things our code ever reports to users.

A `Finding` is a rule's verdict on one spec key (code, file, line); `ArchcheckError` is for
problems that stop a command (unreadable file, bad CLI usage) and maps to exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Severity = Literal["error", "warning"]
DOCS_URL = "https://pytest-archcheck.readthedocs.io/en/latest/rules/{code}/"


@dataclass(frozen=True)
class Finding:
    """One rule violation, pointing at the line a user must change."""

    code: str
    name: str
    severity: Severity
    message: str
    path: str
    line: int = 1
    model: str | None = None
    column: int = 1
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this finding: its fields and `url`. A shallow copy (the `data`
        dict copied, its values shared) rather than dataclasses.asdict's deep one: the result
        is serialised at once, and the deep copy was half of a 1,000-spec warm run's report."""
        d = {name: getattr(self, name) for name in _FIELDS}
        d["data"] = dict(self.data)
        d["url"] = self.url
        return d

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


_FIELDS = tuple(f.name for f in fields(Finding))


class ArchcheckError(Exception):
    """A problem that stops a command; printed as `path:line: message`, exit code 2."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return f"{where}{self.message}"
