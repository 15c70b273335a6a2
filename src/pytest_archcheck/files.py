"""Which files a check reads, and how their paths are shown: stdlib only.

Kept apart from the engine so that a cached run (cache.py) can find the spec files, their
pyproject.toml and the paths users see without importing pydantic or the formula library.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .findings import ArchcheckError

SPEC_SUFFIX = ".archcheck.toml"

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".archcheck_cache",
        "build",
        "dist",
    }
)


def discover(paths: Iterable[str]) -> Iterator[Path]:
    """Spec files and pyproject.toml files under `paths` (files are taken as given)."""
    for p in paths:
        path = Path(p)
        if path.is_file():
            yield path
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(
                    d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                )
                for name in sorted(filenames):
                    if name.endswith(SPEC_SUFFIX) or name == "pyproject.toml":
                        yield Path(dirpath) / name
        else:
            raise ArchcheckError(f"no such file or directory: {p}")


def walk(
    paths: Iterable[str], expand: Callable[[Path], list[Path] | None]
) -> tuple[list[Path], int] | None:
    """The spec files to check under `paths`, and how many distinct files were found.

    Each pyproject.toml found goes to `expand`, which returns the files its `specs` globs add
    (or None to give up: the walk returns None). Only pyproject files under `paths` expand;
    the one governing a spec given by name does not (as `ruff check file.py` lints that file).
    """
    queue, seen, specs, files, i = list(discover(paths)), set(), [], 0, 0
    while i < len(queue):
        path = queue[i]
        i += 1
        rp = os.path.abspath(path)
        if rp in seen:
            continue
        seen.add(rp)
        files += 1
        if path.name == "pyproject.toml":
            extra = expand(path)
            if extra is None:
                return None
            queue.extend(extra)
        else:
            specs.append(path)
    return specs, files


def nearest_pyproject(folder: Path) -> Path | None:
    """The pyproject.toml that governs specs in `folder` (absolute): the nearest at or above it."""
    for d in (folder, *folder.parents):
        pp = d / "pyproject.toml"
        if pp.is_file():
            return pp
    return None


def spec_globs(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files matched by `[tool.archcheck] specs` globs, relative to the pyproject's folder."""
    out: list[Path] = []
    for pattern in patterns:
        try:
            matches = sorted(root.glob(pattern))
        except (ValueError, NotImplementedError):  # empty or absolute glob: ARC302 already
            continue
        out.extend(m for m in matches if m.is_file() and m.name != "pyproject.toml")
    return out


def display(path: Path | str) -> str:
    """The path as users see it: relative to the current directory when inside it."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if absolute.startswith(cwd + os.sep):
        return Path(absolute[len(cwd) + 1 :]).as_posix()
    return Path(absolute).as_posix()


def read_text(path: Path) -> str:
    """A file's text; a BOM (Windows editors) is dropped, it is not TOML."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArchcheckError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", display(path)
        ) from exc
    except OSError as exc:
        raise ArchcheckError(f"cannot read: {exc.strerror}", display(path)) from exc
