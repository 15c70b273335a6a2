"""What a spec's static result depends on besides its own bytes: recorded for the cache.

A static check reads more than the spec: the `extends` target, a lengths file, the factory's
module source (looked up in the project, then among installed packages). Each place that looks
at such a file calls `note_file` (before reading it, and also when the file is absent: creating
it later changes the result) or `note_module`. The cache stores the state seen here and, on the
next run, reuses a result only while every state is unchanged (cache.py). stdlib only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# ["file", absolute path, state or None] | ["module", name, origin-and-locations or None]
Dep = list[object]

_stack: list[list[Dep]] = []

# Files up to this size are compared by content: an mtime can miss an edit made within one
# timestamp tick that keeps the size (`heads = 4` -> `heads = 5`). Larger ones (a .npy of
# lengths) by size and mtime, as ruff compares files.
HASH_LIMIT = 4 << 20


def digest(data: bytes) -> str:
    """BLAKE2b-128 of `data`, hex: how the cache compares file contents."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_state(path: str) -> list[int | str] | None:
    """A file's size and content hash (size and mtime_ns when large, or not a regular file);
    None when absent or unreadable."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode) and st.st_size <= HASH_LIMIT:
            with open(path, "rb") as fh:
                return [st.st_size, digest(fh.read())]
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns]


def module_state(name: str) -> list[str] | None:
    """Where an installed top-level module lives (importlib.util.find_spec runs no user code
    for a top-level name); None when it is not installed."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    return [str(spec.origin), *map(str, spec.submodule_search_locations or [])]


def note_file(path: Path | str) -> None:
    """The result depends on this file's presence and content."""
    if _stack:
        p = os.path.abspath(path)
        _stack[-1].append(["file", p, file_state(p)])


def note_module(name: str) -> None:
    """The result depends on where `name` is installed (or that it is not)."""
    if _stack:
        _stack[-1].append(["module", name, module_state(name)])


@contextmanager
def recording() -> Iterator[list[Dep]]:
    """Collect the dependencies noted inside the block (nested blocks see only their own)."""
    deps: list[Dep] = []
    _stack.append(deps)
    try:
        yield deps
    finally:
        _stack.pop()


def unchanged(deps: list[Dep]) -> bool:
    """Whether every recorded dependency is still in the state it was recorded in."""
    for kind, name, state in deps:
        assert isinstance(name, str)
        now = file_state(name) if kind == "file" else module_state(name)
        if now != state:
            return False
    return True
