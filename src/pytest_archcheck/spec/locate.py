"""Line numbers for every key of a TOML document, and suppression comments.

Written by hand because no TOML library reports positions: `tomllib` gives none, and tomlkit keeps
formatting but exposes no line numbers. We only need "which line defines key a.b.c", which a
line scanner answers reliably for the TOML that specs use (tables, arrays of tables, dotted keys,
inline tables, multi-line arrays and strings). Anything it cannot place falls back to the
enclosing table's header line, never to a wrong key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

Key = tuple[str | int, ...]

# one part of a dotted key: bare, "basic" (with backslash escapes) or 'literal'
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*(\]\]?)\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SUPPRESS = re.compile(r"#\s*archcheck:\s*(ignore(?:-file)?)\[([A-Z0-9,\s]+)\]")


def _split_dotted(s: str) -> list[str]:
    """The parts of a dotted key; [] when a part cannot be read (then nothing is placed)."""
    parts = [_unquote(p) for p in re.findall(_PART, s)]
    return [] if None in parts else [p for p in parts if p is not None]


def _unquote(part: str) -> str | None:
    if part[:1] == "'":
        return part[1:-1]
    if part[:1] == '"':
        try:  # TOML's basic-string escapes are JSON's (\", \\, \n, \uXXXX), bar \UXXXXXXXX
            value = json.loads(part, strict=False)  # a raw tab is fine in TOML
        except ValueError:
            return None
        return value if isinstance(value, str) else None
    return part


def _string_end(text: str, i: int) -> int:
    """Index just past the string that starts at text[i] (a quote), honouring escapes."""
    quote = text[i]
    j = i + 1
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    return len(text)


@dataclass
class SourceMap:
    """Where each key is defined, and which rule codes each line silences."""

    lines: dict[Key, int] = field(default_factory=dict)
    line_suppressions: dict[int, set[str]] = field(default_factory=dict)
    file_suppressions: set[str] = field(default_factory=set)

    def line_of(self, key: Key, default: int = 1) -> int:
        """Line of `key`, else of its nearest defined parent, else `default`."""
        k = tuple(key)
        while k:
            if k in self.lines:
                return self.lines[k]
            k = k[:-1]
        return default


def _inline_keys(text: str, prefix: Key, lineno: int, out: dict[Key, int]) -> None:
    """Record keys of a one-line inline table `{ a = 1, b = { c = 2 } }` under `prefix`.

    Keys of inline tables inside arrays (`a = [{ b = 1 }]`) have no key path of their own and
    are not recorded.
    """
    owners: list[Key | None] = []  # per open brace/bracket: whose keys it holds (None: an array)
    pending: Key | None = None  # the key just assigned, in case its value is an inline table
    token = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            j = _string_end(text, i)
            token += text[i:j]
            i = j
            continue
        if ch == "{":
            owners.append(prefix if not owners else pending)
            pending, token = None, ""
        elif ch == "[":
            owners.append(None)
            pending, token = None, ""
        elif ch in "}]":
            if owners:
                owners.pop()
            if not owners:
                return
            pending, token = None, ""
        elif ch == "=":
            owner = owners[-1] if owners else None
            name = tuple(_split_dotted(token))
            pending = None
            if owner is not None and name:
                pending = owner + name
                out.setdefault(pending, lineno)
            token = ""
        elif ch == ",":
            pending, token = None, ""
        else:
            token += ch
        i += 1


def split_lines(text: str) -> list[str]:
    """Lines as TOML (and tomllib's line numbers) count them: split at "\n" only.

    `str.splitlines` would also split at U+0085, U+2028, form feeds and the like, which TOML
    allows inside comments and strings, and shift every later line number.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def locate(text: str) -> SourceMap:
    """Scan TOML text and return the line (1-based) of every table and key."""
    sm = SourceMap()
    table: Key | None = ()
    array_counts: dict[Key, int] = {}
    in_multiline: str | None = None  # '"""' or "'''" while inside a multi-line string
    bracket_depth = 0  # inside a multi-line array value
    for lineno, raw in enumerate(split_lines(text), start=1):
        first = raw.lstrip()[:1]
        if not in_multiline and not bracket_depth and first in {"", "#"}:
            if "archcheck:" in raw:  # a comment line can carry a suppression
                _suppressions(raw, lineno, sm)
            continue
        if "archcheck:" in raw:
            _suppressions(raw, lineno, sm)
        line = raw
        if in_multiline:
            if in_multiline in line:
                in_multiline = None
            continue
        if bracket_depth > 0:
            bracket_depth += _bracket_delta(line)
            continue
        if first != "[":
            # fast path: `bare_key = value` with a value that opens nothing multi-line
            left, eq, value = line.partition("=")
            bare = left.strip()
            if eq and _BARE_KEY.fullmatch(bare):
                stripped = value.strip()
                if stripped[:1] not in ("[", "{", '"', "'"):
                    if table is not None:
                        sm.lines.setdefault((*table, bare), lineno)
                    continue
        hm = _HEADER.match(line)
        if hm is None and line.lstrip().startswith("["):
            table = None  # a header we cannot read: place nothing until the next one
            continue
        if hm and hm.group(1) in ("[", "[["):
            names: Key = tuple(_split_dotted(hm.group(2)))
            if not names:
                table = None
                continue
            if hm.group(1) == "[[":
                idx = array_counts.get(names, 0)
                array_counts[names] = idx + 1
                # forget sub-array counters of the previous element
                for k in [
                    k for k in array_counts if len(k) > len(names) and k[: len(names)] == names
                ]:
                    del array_counts[k]
                base = _resolve_table(names, array_counts)  # index enclosing arrays too
                table = (*base, idx)
                sm.lines.setdefault(base, lineno)  # the array itself: its first element
            else:
                table = _resolve_table(names, array_counts)
            sm.lines.setdefault(table, lineno)
            continue
        km = _KEY.match(line)
        if not km:
            continue
        value = line[km.end() :]
        stripped = value.strip()
        for quote in ('"""', "'''"):
            if stripped.startswith(quote) and stripped.count(quote) == 1:
                in_multiline = quote
        if _bracket_delta(value) > 0:  # an array (or an inline table in one) spans lines
            bracket_depth = _bracket_delta(value)
        if table is None:
            continue
        name = tuple(_split_dotted(km.group(1)))
        if not name:
            continue
        key = table + name
        sm.lines.setdefault(key, lineno)
        if stripped.startswith("{"):
            _inline_keys(stripped, key, lineno, sm.lines)
    return sm


def _suppressions(raw: str, lineno: int, sm: SourceMap) -> None:
    for m in _SUPPRESS.finditer(raw):
        codes = {c.strip() for c in m.group(2).split(",") if c.strip()}
        if m.group(1) == "ignore-file":
            sm.file_suppressions |= codes
        else:
            sm.line_suppressions.setdefault(lineno, set()).update(codes)


def _resolve_table(names: Key, array_counts: dict[Key, int]) -> Key:
    """Map `[a.b.c]` to its key, inserting array indices for `[[a.b]]` ancestors."""
    out: list[str | int] = []
    for i, name in enumerate(names):
        out.append(name)
        prefix = tuple(names[: i + 1])
        if prefix in array_counts and i < len(names) - 1:
            out.append(array_counts[prefix] - 1)
    return tuple(out)


def _bracket_delta(s: str) -> int:
    """Brackets and braces opened minus closed on one line, outside strings and comments."""
    depth = 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "\"'":
            i = _string_end(s, i)
            continue
        if ch == "#":
            break
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth


class LazySourceMap:
    """A `SourceMap` computed on first use.

    Most spec files produce no finding, so their key lines are never needed; scanning them
    anyway cost more than parsing the TOML. Suppression comments are found by a substring test
    first, for the same reason.
    """

    __slots__ = ("_map", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._map: SourceMap | None = None

    def _get(self) -> SourceMap:
        if self._map is None:
            self._map = locate(self._text)
        return self._map

    @property
    def lines(self) -> dict[Key, int]:
        return self._get().lines

    @property
    def line_suppressions(self) -> dict[int, set[str]]:
        return self._get().line_suppressions if "archcheck:" in self._text else {}

    @property
    def file_suppressions(self) -> set[str]:
        return self._get().file_suppressions if "archcheck:" in self._text else set()

    def line_of(self, key: Key, default: int = 1) -> int:
        return self._get().line_of(key, default)
