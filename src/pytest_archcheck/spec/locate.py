"""Line numbers for every key of a TOML document, and suppression comments.

Written by hand because no TOML library reports positions: `tomllib` gives none, and tomlkit keeps
formatting but exposes no line numbers. We only need "which line defines key a.b.c", which a
line scanner answers reliably for the TOML that specs use (tables, arrays of tables, dotted keys,
inline tables, multi-line arrays and strings). Anything it cannot place falls back to the
enclosing table's header line, never to a wrong key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Key = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*(\]\]?)\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_SUPPRESS = re.compile(r"#\s*archcheck:\s*(ignore(?:-file)?)\[([A-Z0-9,\s]+)\]")


def _split_dotted(s: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", s)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


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
    """Record keys of a one-line inline table `{ a = 1, b = { c = 2 } }` under `prefix`."""
    depth = 0
    stack: list[Key] = [prefix]
    token = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            j = text.find(ch, i + 1)
            token += text[i : (j + 1 if j >= 0 else len(text))]
            i = j + 1 if j >= 0 else len(text)
            continue
        if ch == "{":
            depth += 1
            token = ""
        elif ch == "}":
            depth -= 1
            if len(stack) > 1:
                stack.pop()
            token = ""
        elif ch == "=" and depth >= 1:
            name = tuple(_split_dotted(token.strip().lstrip(",")))
            if name:
                key = stack[-1] + name
                out.setdefault(key, lineno)
                rest = text[i + 1 :].lstrip()
                if rest.startswith("{"):
                    stack.append(key)
            token = ""
        elif ch == ",":
            token = ""
        else:
            token += ch
        i += 1


def locate(text: str) -> SourceMap:
    """Scan TOML text and return the line (1-based) of every table and key."""
    sm = SourceMap()
    table: Key = ()
    array_counts: dict[Key, int] = {}
    in_multiline: str | None = None  # '"""' or "'''" while inside a multi-line string
    bracket_depth = 0  # inside a multi-line array value
    for lineno, raw in enumerate(text.splitlines(), start=1):
        for m in _SUPPRESS.finditer(raw):
            codes = {c.strip() for c in m.group(2).split(",") if c.strip()}
            if m.group(1) == "ignore-file":
                sm.file_suppressions |= codes
            else:
                sm.line_suppressions.setdefault(lineno, set()).update(codes)
        line = raw
        if in_multiline:
            if in_multiline in line:
                in_multiline = None
            continue
        if bracket_depth > 0:
            bracket_depth += _bracket_delta(line)
            continue
        hm = _HEADER.match(line)
        if hm and hm.group(1) in ("[", "[["):
            names: Key = tuple(_split_dotted(hm.group(2)))
            if hm.group(1) == "[[":
                idx = array_counts.get(names, 0)
                array_counts[names] = idx + 1
                # forget sub-array counters of the previous element
                for k in [k for k in array_counts if len(k) > len(names) and k[: len(names)] == names]:
                    del array_counts[k]
                table = (*names, idx)
                sm.lines.setdefault(names, lineno)  # the array itself: its first element
            else:
                table = _resolve_table(names, array_counts)
            sm.lines.setdefault(table, lineno)
            continue
        km = _KEY.match(line)
        if not km:
            continue
        key = table + tuple(_split_dotted(km.group(1)))
        sm.lines.setdefault(key, lineno)
        value = line[km.end() :]
        stripped = value.strip()
        for quote in ('"""', "'''"):
            if stripped.startswith(quote) and stripped.count(quote) == 1:
                in_multiline = quote
        if stripped.startswith("{"):
            _inline_keys(stripped, key, lineno, sm.lines)
        elif stripped.startswith("["):
            delta = _bracket_delta(value)
            if delta > 0:
                bracket_depth = delta
    return sm


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
    depth = 0
    quote: str | None = None
    for ch in s:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
    return depth
