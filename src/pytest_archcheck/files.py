"""Which files a check reads, and how their paths are shown: stdlib only.

Kept apart from the engine so that a cached run (cache.py) can find the spec files, their
pyproject.toml and the paths users see without importing pydantic or the formula library.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

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
    """Spec files and config files (pyproject.toml, archcheck.toml) under `paths`.

    As ruff: inside a folder, what `.gitignore` or the governing config's `exclude` /
    `extend-exclude` names is skipped; a file named on the command line is taken as given
    unless `--force-exclude` (set_force_exclude) is on, as the pre-commit hook runs it.
    A path named on the command line that exists but is not a regular file (a FIFO, a
    device) is yielded as given: reading it is then ARC306 "not a regular file". Inside a
    folder, such files are skipped (logged at INFO: `archcheck check -v` shows them)."""
    _STATS.clear()
    excluder = Excluder()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            if FORCE_EXCLUDE[0] and excluder.excluded(path, True, named=True):
                continue
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(
                    d
                    for d in dirnames
                    if not d.startswith(".") and not excluder.excluded(Path(dirpath) / d, True)
                )
                for name in sorted(filenames):
                    if name.endswith(SPEC_SUFFIX) or name in CONFIG_NAMES:
                        found = Path(dirpath) / name
                        if excluder.excluded(found, False):
                            continue
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
            if FORCE_EXCLUDE[0] and excluder.excluded(path, False, named=True):
                continue
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
        if path.name in CONFIG_NAMES:
            extra = expand(path)
            if extra is None:
                return None
            queue.extend(extra)
        else:
            specs.append(path)
    return specs, files


def nearest_pyproject(folder: Path) -> Path | None:
    """The config file that governs specs in `folder` (absolute), as ruff finds its own: the
    `--config` file when one is given, else the nearest `archcheck.toml`, or `pyproject.toml`
    holding a `[tool.archcheck]` table, at or above `folder`. A pyproject.toml without one
    (a sub-package's `[project]`) governs nothing: the parent's settings still apply."""
    if CONFIG[0] is not None:
        return CONFIG[0]
    return _nearest(str(folder))


def _nearest(folder: str) -> Path | None:
    """nearest_pyproject by the folder's string, remembered for the run as governs() is: the
    files of one folder, and sibling folders, share the answer (a walk of 1,000 specs built
    and looked up ~7 paths a file before)."""
    if folder in _NEAREST:
        return _NEAREST[folder]
    found: Path | None = None
    for name in CONFIG_NAMES:
        pp = Path(folder, name)
        if governs(pp):
            found = pp
            break
    else:
        parent = os.path.dirname(folder)
        found = _nearest(parent) if parent != folder else None
    _NEAREST[folder] = found
    return found


ARCHCHECK_TOML = "archcheck.toml"  # [tool.archcheck]'s keys at the top level (as ruff.toml)
CONFIG_NAMES = (ARCHCHECK_TOML, "pyproject.toml")  # in a folder holding both, the first wins
# `--config FILE` (every spec governed by FILE) and `--force-exclude`, set by the CLI for one
# run; one-element lists, so that forked workers see the run's value
CONFIG: list[Path | None] = [None]
FORCE_EXCLUDE: list[bool] = [False]
_GOVERNS: dict[str, bool] = {}
_NEAREST: dict[str, Path | None] = {}
_RAW: dict[str, dict[str, object] | None] = {}


def set_run_options(config: Path | None, force_exclude: bool) -> None:
    """`--config` and `--force-exclude` of this run (the CLI; None/False restore defaults)."""
    CONFIG[0] = config.resolve() if config is not None else None
    FORCE_EXCLUDE[0] = force_exclude
    _GOVERNS.clear()
    _NEAREST.clear()
    _RAW.clear()


def _tool_table(path: Path) -> dict[str, object] | None:
    """The `[tool.archcheck]` table of a pyproject.toml (the whole of an archcheck.toml),
    parsed with the stdlib; None where absent, {} where the file cannot be parsed (its
    error is the engine's ARC306 to report)."""
    key = str(path)
    if key in _RAW:
        return _RAW[key]
    out: dict[str, object] | None = None
    text: str | None = None
    unreadable = False  # too large, not UTF-8, no permission: the engine says why (ARC306)
    try:
        st = os.stat(path)
        if special_kind(st.st_mode) is None:
            unreadable = st.st_size > MAX_FILE_BYTES
            text = None if unreadable else path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError):
        unreadable = True
    flat = path.name != "pyproject.toml"  # archcheck.toml, or a --config file of that form
    if unreadable:
        out = {}  # it governs, so that its problem is reported rather than skipped
    elif text is not None and (flat or "archcheck" in text):
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            raw = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError, ValueError):
            out = {}  # unreadable: it governs, so that its error is reported
        else:
            tool = raw.get("tool") if not flat else {"archcheck": raw}
            section = tool.get("archcheck") if isinstance(tool, dict) else None
            out = section if isinstance(section, dict) else ({} if section is not None else None)
    _RAW[key] = out
    return out


def governs(path: Path) -> bool:
    """Whether `path` is a config file that governs the specs below it: an archcheck.toml,
    or a pyproject.toml with a `[tool.archcheck]` table (ruff ignores a pyproject.toml
    without `[tool.ruff]` the same way)."""
    key = str(path)
    hit = _GOVERNS.get(key)
    if hit is None:
        hit = _GOVERNS[key] = path.is_file() and _tool_table(path) is not None
    return hit


class Excluder:
    """What discovery skips, as ruff: paths `.gitignore` names (with `.git/info/exclude`, in
    the git work tree around them; `respect-gitignore = false` turns it off) and the
    governing config's `exclude` (default: SKIP_DIRS by name) and `extend-exclude` globs,
    gitignore-style, relative to the config's folder. Matching uses `pathspec`, imported only
    when there is a pattern to match."""

    def __init__(self) -> None:
        self._specs: dict[str, Any] = {}  # folder -> pathspec of its .gitignore (or None)
        self._top: dict[str, str | None] = {}  # folder -> its git work tree (or None)
        self._config: dict[str, tuple[str, Any, bool]] = {}  # config -> (root, spec, gitignore)
        self._plain_folders: dict[str, bool] = {}  # folder -> nothing there can be excluded

    def excluded(self, path: Path, is_dir: bool, named: bool = False) -> bool:
        """Whether discovery skips `path`. `named`: given on the command line
        (--force-exclude); the patterns then also match it through a folder above it, as
        gitignore patterns do (`build` excludes `build/x.archcheck.toml`)."""
        where = os.path.abspath(path)
        parent, name = os.path.split(where)
        if not named and self._plain(parent):
            return is_dir and name in SKIP_DIRS
        absolute = Path(where)
        pp = nearest_pyproject(absolute.parent)
        root, spec, gitignore = self._settings(pp)
        rel = os.path.relpath(absolute, root)
        if spec is None:  # the default exclude: SKIP_DIRS by name
            parts = Path(rel).parts if named and not rel.startswith("..") else ()
            folders = parts[:-1] if not is_dir else parts
            if (is_dir and absolute.name in SKIP_DIRS) or any(d in SKIP_DIRS for d in folders):
                return True
        elif _matches(spec, rel, is_dir):
            return True
        return gitignore and self._ignored(absolute, is_dir)

    def _plain(self, folder: str) -> bool:
        """Whether no pattern can exclude an entry of `folder` (absolute) but the default
        SKIP_DIRS names: its config sets no `exclude`/`extend-exclude` and no `.gitignore`
        (nor `.git/info/exclude`) from the work tree's top down to it holds a pattern. Decided
        once a folder, so that a folder's files skip the per-file relative paths."""
        hit = self._plain_folders.get(folder)
        if hit is None:
            _root, spec, gitignore = self._settings(nearest_pyproject(Path(folder)))
            hit = spec is None
            if hit and gitignore:
                top = self._work_tree(folder)
                if top is not None:
                    hit = all(self._gitignore(f, top) is None for f in _down_to(top, folder))
            self._plain_folders[folder] = hit
        return hit

    def _settings(self, pp: Path | None) -> tuple[str, Any, bool]:
        key = str(pp)
        if key not in self._config:
            table = _tool_table(pp) if pp is not None else None
            table = table or {}
            exclude, extend = table.get("exclude"), table.get("extend-exclude")
            patterns: list[str] | None = None
            if isinstance(exclude, list) or isinstance(extend, list):
                base = exclude if isinstance(exclude, list) else sorted(SKIP_DIRS)
                more = extend if isinstance(extend, list) else []
                patterns = [str(x) for x in [*base, *more] if isinstance(x, str)]
            spec = _pathspec(patterns) if patterns is not None else None
            root = str(pp.parent) if pp is not None else os.getcwd()
            self._config[key] = (root, spec, table.get("respect-gitignore", True) is not False)
        return self._config[key]

    def _ignored(self, path: Path, is_dir: bool) -> bool:
        top = self._work_tree(str(path.parent))
        if top is None:
            return False
        verdict = False
        # deeper .gitignore files override shallower ones, as git's do
        for folder in _down_to(top, str(path.parent)):
            spec = self._gitignore(folder, top)
            if spec is None:
                continue
            rel = os.path.relpath(path, folder)
            result = spec.check_file(Path(rel).as_posix() + ("/" if is_dir else ""))
            if result.include is not None:
                verdict = result.include
        return verdict

    def _work_tree(self, folder: str) -> str | None:
        if folder not in self._top:
            parent = os.path.dirname(folder)
            if os.path.exists(os.path.join(folder, ".git")):
                self._top[folder] = folder
            elif parent == folder:
                self._top[folder] = None
            else:
                self._top[folder] = self._work_tree(parent)
        return self._top[folder]

    def _gitignore(self, folder: str, top: str) -> Any:
        if folder not in self._specs:
            lines: list[str] = []
            sources = [os.path.join(folder, ".gitignore")]
            if folder == top:
                sources.insert(0, os.path.join(folder, ".git", "info", "exclude"))
            for source in sources:
                try:
                    with open(source, encoding="utf-8", errors="replace") as fh:
                        lines.extend(fh.read().splitlines())
                except OSError:
                    continue
            # blank lines and comments match nothing (git's rules): a fresh repository's
            # .git/info/exclude holds only comments, and pathspec costs ~30 ms to import
            patterns = [x for x in lines if x.strip() and not x.startswith("#")]
            self._specs[folder] = _pathspec(patterns, gitignore=True) if patterns else None
        return self._specs[folder]


def _down_to(top: str, folder: str) -> list[str]:
    """The folders from the work tree's `top` down to `folder` (inside it), top first: those
    whose .gitignore files apply to `folder`'s entries."""
    chain = [top]
    rel = os.path.relpath(folder, top)
    if rel != ".":
        for part in Path(rel).parts:
            chain.append(os.path.join(chain[-1], part))
    return chain


def _pathspec(lines: list[str], gitignore: bool = False) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _matches(spec: Any, rel: str, is_dir: bool) -> bool:
    if rel.startswith(".."):  # outside the config's folder: its patterns do not reach it
        return False
    return bool(spec.match_file(Path(rel).as_posix() + ("/" if is_dir else "")))


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
