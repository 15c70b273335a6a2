"""Input limits checked on the text, before any parser sees it.

TOML (tomllib), JSON and YAML (PyYAML) parsers recurse once per level of nesting, and Python
refuses to turn an integer of more than 4300 digits into an int: inline tables nested 5,000
deep, flow sequences 50,000 deep or a 5,000-digit number used to end the run with
"internal error: RecursionError" (or ValueError). A spec needs a handful of levels and numbers
of at most a few dozen digits, so the limits below are far above any real file and far below
what breaks a parser; what exceeds them is a located problem (ARC306 for nesting, ARC302 for
a number) at the line where it happens. docs/isolation.md lists them.

The scan is a single pass over the characters that skips strings and comments; it does not
validate the syntax (the parser does that next).
"""

from __future__ import annotations

import re
from typing import Literal

from .problems import LoadProblem

MAX_DEPTH = 64  # nested arrays/tables/flow collections (YAML block nesting included)
MAX_DIGITS = 100  # digits of one number literal

Syntax = Literal["toml", "json", "yaml"]


def check_text(text: str, path: str, syntax: Syntax) -> LoadProblem | None:
    """The first limit `text` exceeds, as a problem at its line; None when within limits."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        return LoadProblem("unparsable", "the file contains a NUL byte (not a text file)",
                           path, line)  # fmt: skip
    found = None if _clearly_within(text) else _scan(text, syntax)
    if found is None and syntax == "yaml":
        found = _yaml_blocks(text)
    if found is None:
        return None
    what, line = found
    if what == "depth":
        return LoadProblem(
            "unparsable",
            f"nesting deeper than {MAX_DEPTH} levels (the limit; a spec needs a few)",
            path,
            line,
        )
    return LoadProblem(
        "invalid-value",
        f"a number with more than {MAX_DIGITS} digits (the limit for numbers in a spec)",
        path,
        line,
    )


_LONG_RUN = re.compile(f"[0-9_]{{{MAX_DIGITS + 1},}}")


def _clearly_within(text: str) -> bool:
    """True when no bracket nesting or number can exceed the limits, decided by C-speed string
    methods instead of the character loop of `_scan` (which costs as much as parsing).

    Conservative: nesting deeper than MAX_DEPTH needs more than MAX_DEPTH opening brackets in
    the whole text (those in strings and comments only add to the count), and a number of more
    than MAX_DIGITS digits needs a run of more than MAX_DIGITS characters from [0-9_] (in an
    ASCII text, where `str.isdigit` means 0-9). When either may happen, `_scan` decides."""
    if text.count("[") + text.count("{") <= MAX_DEPTH and text.isascii():
        return _LONG_RUN.search(text) is None
    return False


def _scan(text: str, syntax: Syntax) -> tuple[str, int] | None:
    """("depth" | "digits", line) of the first bracket nesting or number over the limits."""
    depth, line, i, n = 0, 1, 0, len(text)
    comment = "" if syntax == "json" else "#"
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return "depth", line
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == '"' or (c == "'" and syntax != "json"):
            j = _string_end(text, i, syntax)
            line += text.count("\n", i, j)
            i = j
            continue
        elif c == comment and (syntax != "yaml" or i == 0 or text[i - 1] in " \t\n"):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c.isdigit():
            j = i
            digits = 0
            while j < n and (text[j].isdigit() or text[j] == "_"):
                digits += text[j] != "_"
                j += 1
            if digits > MAX_DIGITS:
                return "digits", line
            i = j
            continue
        i += 1
    return None


def _string_end(text: str, i: int, syntax: Syntax) -> int:
    """Index just past the string starting at text[i]: TOML multi-line strings, backslash
    escapes in double quotes, YAML's '' inside single quotes."""
    quote = text[i]
    if syntax == "toml" and text.startswith(quote * 3, i):
        end = text.find(quote * 3, i + 3)
        while end >= 0 and quote == '"' and _escaped(text, end):
            end = text.find(quote * 3, end + 1)
        return len(text) if end < 0 else end + 3
    j = i + 1
    n = len(text)
    while j < n:
        ch = text[j]
        if ch == "\\" and quote == '"':
            j += 2
            continue
        if ch == quote:
            if syntax == "yaml" and quote == "'" and text.startswith("''", j):
                j += 2
                continue
            return j + 1
        if ch == "\n" and syntax != "yaml":  # TOML and JSON strings end at the line
            return j
        j += 1
    return n


def _escaped(text: str, i: int) -> bool:
    k = i - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (i - 1 - k) % 2 == 1


def _yaml_blocks(text: str) -> tuple[str, int] | None:
    """YAML block nesting: the stack of indentations, plus `- ` items on one line."""
    stack: list[int] = []
    for line_no, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(stripped)
        while stack and stack[-1] >= indent:
            stack.pop()
        stack.append(indent)
        dashes = 0
        while stripped.startswith("- ") or stripped == "-":
            dashes += 1
            stripped = stripped[2:].lstrip(" ")
        if len(stack) + dashes > MAX_DEPTH:
            return "depth", line_no
    return None
