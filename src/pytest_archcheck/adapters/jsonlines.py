"""The line of every key in a JSON document.

`json.loads` keeps no positions, and findings must point at the line a user edits; this scanner
walks the text once, tracking strings and nesting, and records where each key path first appears.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.locate import Key


@dataclass
class _Frame:
    is_object: bool
    path: Key
    key: str | int | None  # the last key of an object, the element index of an array

    def child(self) -> Key:
        return self.path if self.key is None else (*self.path, self.key)


def json_key_lines(text: str) -> dict[Key, int]:
    """{("rope_parameters", "rope_theta"): 12, ...}: 1-based line of each object key."""
    out: dict[Key, int] = {}
    stack: list[_Frame] = []
    line, i, n = 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == '"':
            start_line = line
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j : j + 2])
                    j += 2
                    continue
                if text[j] == "\n":  # invalid JSON, but keep counting lines
                    line += 1
                buf.append(text[j])
                j += 1
            k = j + 1
            while k < n and text[k] in " \t\r\n":
                if text[k] == "\n":
                    line += 1
                k += 1
            if k < n and text[k] == ":" and stack and stack[-1].is_object:
                frame = stack[-1]
                frame.key = _decode("".join(buf))
                out.setdefault(frame.child(), start_line)
            i = k
            continue
        elif ch in "{[":
            parent = stack[-1].child() if stack else ()
            stack.append(_Frame(ch == "{", parent, None if ch == "{" else 0))
        elif ch in "}]":
            if stack:
                stack.pop()
        elif ch == "," and stack and not stack[-1].is_object and isinstance(stack[-1].key, int):
            stack[-1].key += 1
        i += 1
    return out


def _decode(raw: str) -> str:
    import json

    try:
        value = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw
