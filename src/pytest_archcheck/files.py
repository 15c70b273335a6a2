"""Which files a check reads, and how their paths are shown: stdlib only.

Kept apart from the engine so that a cached run (cache.py) can find the spec files, their
pyproject.toml and the paths users see without importing pydantic or the formula library.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .findings import ArchcheckError

SPEC_SUFFIX = ".archcheck.toml"
# The largest file a check reads (a spec, a pyproject.toml, an `extends` target): a spec is a
# few KiB, a Hugging Face config.json tens; 16 MiB is far beyond both and bounds the memory
# and time one file can cost (docs/isolation.md).
MAX_FILE_BYTES = 16 * 2**20


def _log_skipped(found: Path, kind: str) -> None:
    """Say (at -v) that a special file named like a spec was skipped; `logging` is imported
    here, not at start-up: a run that skips nothing (nearly every run) never needs it."""
    import logging

    logging.getLogger("pytest_archcheck.files").info(
        "skipped %s: not a regular file (%s)", display(found), kind
    )


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is ("FIFO", "socket", ...); None when regular.
    Reading a FIFO blocks until a writer comes, /dev/zero never ends: neither is a spec."""
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
    ):
        if test(mode):
            return name
    return "special file"


def is_regular(path: Path | str) -> bool:
    """Whether `path` (links followed) is a regular file; False when it cannot be stat'ed."""
    try:
        return special_kind(os.stat(path).st_mode) is None
    except (OSError, ValueError):
        return False


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


# The stat of each regular file the last `discover` found in a folder, by its path as yielded:
# the cache's walk takes it (take_stat) instead of asking the filesystem a second time.
_STATS: dict[str, os.stat_result] = {}


def take_stat(path: Path) -> os.stat_result | None:
    """The stat `discover` took of `path` in this walk (once; None when it took none)."""
    return _STATS.pop(str(path), None)


def discover(paths: Iterable[str]) -> Iterator[Path]:
    """Spec files and pyproject.toml files under `paths` (files are taken as given).

    A path named on the command line that exists but is not a regular file (a FIFO, a
    device) is yielded as given: reading it is then ARC306 "not a regular file". Inside a
    folder, such files are skipped (logged at INFO: `archcheck check -v` shows them)."""
    _STATS.clear()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(
                    d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                )
                for name in sorted(filenames):
                    if name.endswith(SPEC_SUFFIX) or name == "pyproject.toml":
                        found = Path(dirpath) / name
                        try:
                            st = os.stat(found)
                        except OSError:
                            kind = None  # a dangling link: reading it says why (ARC306)
                        else:
                            kind = special_kind(st.st_mode)
                            if kind is None:
                                _STATS[str(found)] = st
                        if kind is not None:
                            _log_skipped(found, kind)
                            continue
                        yield found
        elif path.is_file() or os.path.lexists(path):
            yield path
        else:
            raise ArchcheckError(f"no such file or directory: {p}")


def abspath_here() -> Callable[[Path], str]:
    """os.path.abspath with the current directory read once, not once per file (posixpath
    asks getcwd on every call; a walk of 1,000 files paid more for that than for the walk)."""
    if os.name != "posix":  # pragma: no cover (ntpath asks Windows)
        return os.path.abspath
    cwd = os.getcwd()
    return lambda p: os.path.normpath(os.path.join(cwd, p))


def walk(
    paths: Iterable[str], expand: Callable[[Path], list[Path] | None]
) -> tuple[list[Path], int] | None:
    """The spec files to check under `paths`, and how many distinct files were found.

    Each pyproject.toml found goes to `expand`, which returns the files its `specs` globs add
    (or None to give up: the walk returns None). Only pyproject files under `paths` expand;
    the one governing a spec given by name does not (as `ruff check file.py` lints that file).
    """
    queue, seen, specs, files, i = list(discover(paths)), set(), [], 0, 0
    absolute = abspath_here()
    while i < len(queue):
        path = queue[i]
        i += 1
        rp = absolute(path)
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
    """A file's text; a BOM (Windows editors) is dropped, it is not TOML. A special file
    (FIFO, device: reading would block or never end) and a file over MAX_FILE_BYTES are
    refused before a byte is read."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ArchcheckError(f"cannot read: {exc.strerror}", display(path)) from exc
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise ArchcheckError(f"not a regular file ({kind})", display(path))
    if st.st_size > MAX_FILE_BYTES:
        raise ArchcheckError(
            f"file is {st.st_size:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes",
            display(path),
        )
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArchcheckError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", display(path)
        ) from exc
    except OSError as exc:
        raise ArchcheckError(f"cannot read: {exc.strerror}", display(path)) from exc
