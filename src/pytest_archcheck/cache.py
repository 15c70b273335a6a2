"""Reuse the findings of files that did not change since the last run, as ruff's cache does.

Why by hand: the result of a static check is a pure function of a few files and settings, and
no library knows which ones. A file's cached findings are reused only while all of these hold:

- its bytes hash the same (BLAKE2b), and so do the bytes of the pyproject.toml that governs it
  (a file whose size, mtime, ctime, inode and device are those recorded when it was last
  hashed, and whose mtime and ctime were then at least RACY_NS old, is not read again: git's
  rule for "racily clean" files; any write since would have moved its ctime);
- every other file its check looked at (`extends` target, lengths file, factory module, and the
  absence of files it looked for) has the same size and mtime, and an installed factory package
  is still where it was (deps.py records these while the engine runs);
- the run's configuration is the same: archcheck version and source, Python, the installed
  pydantic, pydantic-core, PyYAML and numpy (their messages appear in findings), current directory
  (paths are shown relative to it), CUBLAS_WORKSPACE_CONFIG (the CUDA peak formula reads it),
  and --select/--ignore. Each configuration has its own cache file.

A hit costs a stat (a read and a hash when the file is recent or its stat changed); the engine
(and pydantic, and the formulas) is imported only when some file misses. The cache lives in `.archcheck_cache/` in the current directory
(ARCHCHECK_CACHE_DIR or --cache-dir elsewhere; --no-cache turns it off), holds a `.gitignore`
of `*` as pytest's and ruff's do, and may be deleted at any time. A cache that cannot be read is
ignored; one that cannot be written costs a warning, never a result. Only static runs use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import __version__
from .deps import digest, module_state, unchanged
from .files import (
    CONFIG_NAMES,
    abspath_here,
    nearest_pyproject,
    spec_globs,
    special_kind,
    take_stat,
    walk,
)
from .findings import Finding

CACHE_FORMAT = 1
DEFAULT_DIR = ".archcheck_cache"
_FINDING_FIELDS = tuple(f.name for f in fields(Finding))
KEEP = 8  # configurations (cache files) kept in one folder
# what pytest and ruff put in their cache folders: git ignores it, backup tools skip it
# (https://bford.info/cachedir/)
MARKERS = {
    ".gitignore": "# Created by archcheck automatically.\n*\n",
    "CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by archcheck.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n",
}

Entry = dict[str, Any]
# (the stat of a file that was hashed: size, mtime_ns, ctime_ns, inode, device; the time the
# hashing began, ns)
Seen = tuple[list[int], int]
# A stored stat is trusted in place of reading and hashing the file only when the file's mtime
# and ctime were at least this long before the hashing began (git's "racily clean" rule: a
# write within one timestamp tick of the hashing could leave both unchanged; 2 s covers the
# coarsest filesystem clocks, FAT's). Any later write sets the ctime to the time of writing,
# which no user-space call can set back, so an unchanged stat then means unchanged bytes.
RACY_NS = 2_000_000_000


def default_dir() -> Path:
    return Path(os.environ.get("ARCHCHECK_CACHE_DIR") or DEFAULT_DIR)


def _source_stamp() -> list[object]:
    """archcheck's own modules (size, mtime): an edited checkout must not reuse old verdicts."""
    root = Path(__file__).parent
    out: list[object] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                out.append([os.path.relpath(os.path.join(dirpath, name), root), st.st_size,
                            st.st_mtime_ns])  # fmt: skip
    return out


# Libraries whose upgrade can change a finding's text (pydantic's validation messages, the YAML
# and .npy readers): where each is installed, and the inode and mtime of its __init__ (pip
# writes new files on upgrade), found without importing it.
LIBRARIES = ("pydantic", "pydantic_core", "yaml", "numpy")


def _library_stamp() -> list[object]:
    out: list[object] = []
    for name in LIBRARIES:
        state = module_state(name)
        try:
            st = os.stat(state[0]) if state else None
        except OSError:
            st = None
        out.append([name, state, [st.st_ino, st.st_mtime_ns, st.st_size] if st else None])
    return out


def configuration(select: Sequence[str], ignore: Sequence[str]) -> str:
    """Everything besides the files that a run's findings depend on, hashed."""
    parts = {
        "format": CACHE_FORMAT,
        "version": __version__,
        "source": _source_stamp(),
        "libraries": _library_stamp(),
        "python": sys.version,
        "cwd": os.getcwd(),
        "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "select": list(select),
        "ignore": list(ignore),
    }
    return digest(json.dumps(parts, sort_keys=True).encode())


def _finding(d: dict[str, Any]) -> Finding:
    return Finding(**{k: d[k] for k in _FINDING_FIELDS})


class Cache:
    """One configuration's entries: absolute path -> {sha, gov, gov_sha, deps, findings, specs}."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.file = folder / f"{key}.json"
        self.entries: dict[str, Entry] = self._read()
        self.updated: dict[str, Entry] = {}

    def _read(self) -> dict[str, Entry]:
        try:
            data = json.loads(self.file.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def lookup(self, path: str, sha: str, gov: str | None, gov_sha: str | None) -> Entry | None:
        """The entry of `path` if still valid for these bytes and this governing pyproject."""
        e = self.entries.get(path)
        try:
            if (
                e is None
                or e["sha"] != sha
                or e["gov"] != gov
                or e["gov_sha"] != gov_sha
                or not unchanged(e["deps"])
            ):
                return None
            findings = [_finding(d) for d in e["findings"]]
        except (KeyError, TypeError, ValueError, AttributeError):  # a damaged entry: a miss
            return None
        return {**e, "findings": findings}

    def store(
        self,
        path: str,
        sha: str,
        gov: str | None,
        gov_sha: str | None,
        record: Any,
        seen: Seen | None = None,
    ) -> None:
        """seen: the file's stat when `sha` was taken, and when (see `_Walk.hash`)."""
        self.updated[path] = {
            "sha": sha,
            "gov": gov,
            "gov_sha": gov_sha,
            "deps": record.deps,
            "findings": [{k: getattr(f, k) for k in _FINDING_FIELDS} for f in record.findings],
            "specs": list(record.specs),
            **({"stat": seen[0], "hashed_at": seen[1]} if seen else {}),
        }

    def restamp(self, path: str, seen: Seen) -> None:
        """A valid entry whose file was hashed again (its stat was too recent to trust, or
        changed without its bytes changing, as after a `touch`): store the new stat, so that
        the next run can trust it."""
        old = self.entries.get(path)
        if isinstance(old, dict) and path not in self.updated:
            self.updated[path] = {**old, "stat": seen[0], "hashed_at": seen[1]}

    def save(self) -> None:
        """Merge this run's entries into the file (another run may have written meanwhile),
        drop entries of files that are gone, and replace the file atomically."""
        if not self.updated:
            return
        tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name, text in MARKERS.items():
                if not (self.folder / name).exists():
                    (self.folder / name).write_text(text, encoding="utf-8")
            merged = {p: e for p, e in self._read().items() if os.path.exists(p)}
            merged.update(self.updated)
            tmp.write_text(json.dumps({"format": CACHE_FORMAT, "files": merged}), "utf-8")
            os.replace(tmp, self.file)
            self._prune()
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            sys.stderr.write(f"archcheck: warning: cache not written ({self.folder}: {exc})\n")

    def _prune(self) -> None:
        """Keep the KEEP most recently written configurations: each archcheck upgrade or
        --select combination starts a new file, and old ones would pile up."""
        files = sorted(self.folder.glob("*.json"), key=lambda f: f.stat().st_mtime_ns)
        for old in files[:-KEEP]:
            if old != self.file:
                with contextlib.suppress(OSError):
                    old.unlink()


@dataclass
class _Walk:
    """The files a run checks, as the engine's _collect finds them, with their hashes."""

    specs: list[Path] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # os.path.abspath of each of `specs`
    pyprojects: list[Path] = field(default_factory=list)  # discovered or governing, resolved
    files: int = 0
    sha: dict[str, str] = field(default_factory=dict)  # absolute path -> BLAKE2b of the bytes
    # absolute path -> (stat, hashing time) of the files whose bytes were read and hashed
    seen: dict[str, Seen] = field(default_factory=dict)
    # absolute path -> the files' cache entries (raw): a stat they recorded may stand for the hash
    known: dict[str, Entry] = field(default_factory=dict)
    trusted: int = 0  # files whose stored stat stood for their hash (not read)
    project_findings: list[Finding] = field(default_factory=list)
    _folders: dict[str, str | None] = field(default_factory=dict)

    def hash(self, path: Path, key: str | None = None) -> None:
        """Hash the bytes of `path` (whose os.path.abspath is `key`, when the caller has it)."""
        if key is None:
            key = os.path.abspath(path)
        if key in self.sha:
            return
        st = take_stat(path)  # discover's, when it found the file in a folder
        try:
            st = st or os.stat(path)
        except (OSError, ValueError):  # not cached: the engine turns it into ARC306
            return
        if special_kind(st.st_mode) is not None:  # a FIFO would block the read: ARC306
            return
        now = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        e = self.known.get(key)
        try:
            if (
                e is not None
                and e.get("stat") == now
                and int(e["hashed_at"]) - max(st.st_mtime_ns, st.st_ctime_ns) >= RACY_NS
                and isinstance(e["sha"], str)
            ):
                self.sha[key] = e["sha"]
                self.trusted += 1
                return
        except (KeyError, TypeError, ValueError):  # a damaged entry: hash the file
            pass
        began = time.time_ns()  # before the read: a write after it is newer than this
        with contextlib.suppress(OSError):  # not cached: the engine turns it into ARC306
            self.sha[key] = digest(path.read_bytes())
            self.seen[key] = (now, began)

    def governing(self, key: str) -> str | None:
        """The pyproject.toml (absolute, resolved) that governs the file `key`."""
        folder, name = os.path.split(key)  # strings: this runs once per file on warm runs
        if name in CONFIG_NAMES:
            return key  # a config file governs itself
        if folder not in self._folders:
            pp = nearest_pyproject(Path(folder))
            self._folders[folder] = str(pp.resolve()) if pp is not None else None
        return self._folders[folder]

    def state(self, key: str) -> tuple[str, str | None, str | None] | None:
        """What an entry of `key` is valid for: (its sha, its pyproject, that one's sha);
        None when the file could not be read."""
        if key not in self.sha:
            return None
        gov = self.governing(key)
        return self.sha[key], gov, self.sha.get(gov) if gov else None


def _walk(paths: Sequence[str], cache: Cache | None) -> _Walk | None:
    """Find the files to check without the engine (files.walk, as the engine's _collect).
    None when a pyproject.toml has no valid entry: its settings decide what is checked and
    how, so everything is checked afresh."""
    w = _Walk(known=cache.entries if cache is not None else {})
    entries: dict[Path, Entry | None] = {}

    def project(pp: Path) -> Entry | None:
        pp = pp.resolve()
        if pp not in entries:
            w.pyprojects.append(pp)
            w.hash(pp)
            state = w.state(str(pp))
            entries[pp] = e = (
                None if cache is None or state is None else cache.lookup(str(pp), *state)
            )
            if e is not None:
                w.project_findings.extend(e["findings"])
        return entries[pp]

    def expand(pp: Path) -> list[Path] | None:
        e = project(pp)
        if cache is None:
            return []  # _check_all: the engine expands the globs itself
        return None if e is None else spec_globs(pp.resolve().parent, e["specs"])

    walked = walk(paths, expand)
    if walked is None:
        return None
    w.specs, w.files = walked
    # each absolute path once: a warm run of 1,000 files spent more on os.path.abspath (a
    # getcwd and a normpath per call, four calls per file) than on reading the files
    absolute = abspath_here()
    w.keys = [absolute(p) for p in w.specs]
    for path, key in zip(w.specs, w.keys, strict=True):
        gov = w.governing(key)
        if gov is not None and project(Path(gov)) is None and cache is not None:
            return None
        w.hash(path, key)
    return w


@dataclass
class CachedResult:
    findings: list[Finding]
    files: int
    hits: int  # spec and pyproject.toml files whose findings came from the cache
    misses: int  # ... that were checked afresh
    models: int = 0  # spec files and inline [[tool.archcheck.model]] entries: 0 = nothing checked
    trusted: int = 0  # files whose stored stat stood for reading and hashing them (RACY_NS)


def check_cached(
    paths: Sequence[str],
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    jobs: int | None = None,
    folder: Path | None = None,
    cache: Cache | None = None,
) -> CachedResult:
    """`check_paths` for a static run, reusing the findings of unchanged files. `cache`: the
    run's cache when the caller opened it already (the hook's dependents came from it), so
    that its file is read and its configuration stamped once."""
    if cache is None:
        cache = Cache(folder or default_dir(), configuration(select, ignore))
    w = _walk(paths, cache)
    if w is None:  # a pyproject.toml changed: check everything afresh
        return _check_all(paths, select, ignore, jobs, cache)
    findings = list(w.project_findings)
    misses: list[Path] = []
    for path, key in zip(w.specs, w.keys, strict=True):
        state = w.state(key)
        e = None if state is None else cache.lookup(key, *state)
        if e is None:
            misses.append(path)
        else:
            findings.extend(e["findings"])
            if key in w.seen:  # read and hashed although valid: trust its stat next time
                cache.restamp(key, w.seen[key])
    for pp in w.pyprojects:
        key = str(pp)
        if key in w.seen and key in cache.entries:
            cache.restamp(key, w.seen[key])
    if misses:
        from .engine import check_paths

        result = check_paths([str(p) for p in misses], select, ignore, jobs=jobs, pyprojects=False)
        for path in misses:
            key = os.path.abspath(path)
            findings.extend(result.records[key].findings)
            state = w.state(key)
            if state is not None:
                cache.store(key, *state, result.records[key], w.seen.get(key))
    cache.save()
    findings.sort(key=Finding.sort_key)
    hits = len(w.pyprojects) + len(w.specs) - len(misses)
    models = _models(w.specs, w.pyprojects)
    return CachedResult(findings, w.files, hits, len(misses), models, w.trusted)


def _models(specs: Sequence[Path], pyprojects: Sequence[Path]) -> int:
    """Spec files, plus 1 per pyproject.toml declaring inline models (the count only tells
    "something" from "nothing": `archcheck check` exits 5 on nothing)."""
    inline = 0
    for pp in pyprojects:
        try:
            text = pp.read_text(encoding="utf-8", errors="replace")
            # archcheck.toml holds [tool.archcheck]'s keys at its top level: [[model]]
            marker = "tool.archcheck.model" if pp.name == "pyproject.toml" else "[[model]]"
            inline += marker in text
        except OSError:
            continue
    return len(specs) + inline


def _check_all(
    paths: Sequence[str], select: Sequence[str], ignore: Sequence[str], jobs: int | None,
    cache: Cache,
) -> CachedResult:  # fmt: skip
    """A full engine run whose every record is stored."""
    from .engine import check_paths

    w = _walk(paths, None)  # hashes taken before the engine reads: a concurrent edit misses
    assert w is not None
    result = check_paths(paths, select, ignore, jobs=jobs)
    for key, rec in result.records.items():
        w.hash(Path(key))  # files found through `specs` globs
        state = w.state(key)
        if state is not None:
            cache.store(key, *state, rec, w.seen.get(key))
    cache.save()
    return CachedResult(result.findings, result.files, 0, len(result.records), len(result.specs))
