"""The static engine: find spec files, load them, run every selected rule, apply suppressions.

`check_paths` is what `archcheck check`, the pre-commit hook and the pytest items call. It
imports no torch and runs no user code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .deps import Dep, recording
from .files import SKIP_DIRS, discover, nearest_pyproject, spec_globs, walk
from .files import display as _display
from .files import read_text as _read
from .findings import ArchcheckError, Finding
from .pipeline import apply_suppressions, check_spec, dedupe, run_rules
from .rules import load_findings
from .selection import Selection
from .spec.load import LoadedSpec, load_pyproject, load_spec_file
from .spec.model import Settings
from .spec.problems import LoadProblem

__all__ = [
    "SKIP_DIRS",
    "CheckResult",
    "Selection",
    "apply_suppressions",
    "check_paths",
    "dedupe",
    "discover",
    "load_all",
    "run_rules",
]


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding pyproject.toml, else the current directory."""
    start = start.resolve()
    for d in (start, *start.parents) if start.is_dir() else start.parents:
        if (d / "pyproject.toml").is_file():
            return d
    return Path.cwd().resolve()


@dataclass
class FileRecord:
    """One file's final findings and what they depend on besides its bytes (for the cache)."""

    findings: list[Finding]
    deps: list[Dep]
    specs: list[str] = field(default_factory=list)  # pyproject: its `specs` globs


@dataclass
class CheckResult:
    findings: list[Finding]
    specs: list[LoadedSpec]
    files: int
    # absolute path -> record, for every spec file and every pyproject.toml that was read
    records: dict[str, FileRecord] = field(default_factory=dict)


class _Project:
    """Settings of the nearest pyproject.toml, cached per folder."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[Settings | None, Path]] = {}
        # the same, by the folder's absolute path as a string: asked once per spec file
        self._by_folder: dict[str, tuple[Settings | None, Path]] = {}
        # problems of the pyproject.toml files themselves ([tool.archcheck] settings)
        self.problems: list[LoadProblem] = []
        self.inline: list[LoadedSpec] = []
        # every pyproject.toml read: its own findings (not the inline models') and dependencies
        self.pyprojects: dict[Path, FileRecord] = {}

    def settings_for(self, spec_path: Path) -> tuple[Settings | None, Path]:
        key = os.path.dirname(os.path.abspath(spec_path))
        hit = self._by_folder.get(key)
        if hit is None:
            hit = self._by_folder[key] = self._settings_for(Path(key))
        return hit

    def _settings_for(self, folder: Path) -> tuple[Settings | None, Path]:
        if folder in self._cache:
            return self._cache[folder]
        pp = nearest_pyproject(folder)  # the governing config (files.nearest_pyproject)
        # the project root (factories import from it): the nearest pyproject.toml of any
        # kind, as before; a [project]-only one roots its package but governs nothing
        root = next(
            (d for d in (folder, *folder.parents) if (d / "pyproject.toml").is_file()), None
        )
        if pp is not None:
            self._cache[folder] = (self.load_pyproject(pp), root or pp.parent)
        else:
            self._cache[folder] = (None, root or Path.cwd().resolve())
        return self._cache[folder]

    def load_pyproject(self, pp: Path) -> Settings | None:
        pp = pp.resolve()
        key = pp.parent
        if pp in self.pyprojects:
            return self._cache.get(key, (None, key))[0]
        with recording() as deps:
            text = _read(pp)
            settings, specs, problems = load_pyproject(text, _display(pp))
        self.pyprojects[pp] = FileRecord(
            findings=load_findings(problems),
            deps=deps,
            specs=list(settings.specs) if settings else [],
        )
        if nearest_pyproject(key) == pp:  # not a [project]-only one, nor one beside archcheck.toml
            self._cache[key] = (settings, key)
        self.problems.extend(problems)
        self.inline.extend(specs)
        return settings


def _collect(paths: Sequence[str]) -> tuple[_Project, list[Path], Settings | None, int]:
    """Phase 1: every file to check; pyproject.toml files are loaded here (settings, inline
    models, their `specs` globs)."""
    project = _Project()
    found: list[Settings | None] = []

    def expand(pp: Path) -> list[Path]:
        found.append(project.load_pyproject(pp))
        resolved = pp.resolve()
        return spec_globs(resolved.parent, project.pyprojects[resolved].specs)

    walked = walk(paths, expand)
    assert walked is not None  # expand never gives up
    settings = next((s for s in reversed(found) if s is not None), None)
    return project, walked[0], settings, walked[1]


def _load_file(project: _Project, path: Path) -> LoadedSpec:
    """One spec file; one that cannot be read (not UTF-8, a dangling link) is an ARC306
    finding for that file, and the other files are still checked (as ruff's E902)."""
    file_settings, root = project.settings_for(path)
    try:
        text = _read(path)
    except ArchcheckError as exc:
        from .spec.locate import SourceMap

        shown = _display(path)
        problem = LoadProblem("unparsable", f"cannot read the file: {exc.message}", shown, 1)
        return LoadedSpec(
            path=shown,
            name=path.name,
            spec=None,
            source=SourceMap(),
            problems=[problem],
            settings=file_settings,
            root=root,
        )
    return load_spec_file(text, _display(path), file_settings, root)


def load_all_problems(
    paths: Sequence[str],
) -> tuple[list[LoadedSpec], list[LoadProblem], Selection | None, int]:
    """Load every spec under `paths`; returns specs, the pyproject files' own load problems
    and the project selection."""
    project, spec_files, settings, files = _collect(paths)
    specs = [_load_file(project, p) for p in spec_files]
    for s in specs:
        settings = settings or s.settings
    specs.extend(project.inline)
    selection = Selection.merged(settings) if settings else None
    return specs, project.problems, selection, files


def load_all(paths: Sequence[str]) -> tuple[list[LoadedSpec], list[Finding], Selection | None, int]:
    """Load every spec under `paths`; returns specs, file-level findings and project selection."""
    specs, problems, selection, files = load_all_problems(paths)
    return specs, load_findings(problems), selection, files


# (settings object, select, ignore) -> (those settings, the Selection), for one check_paths run:
# the specs of one project share one Selection (and its per-code verdicts) instead of building
# one (and, without a pyproject, a validated default Settings) per spec; the entry holds the
# settings object, so its id is not reused while the entry exists
_SELECTIONS: dict[tuple[int, tuple[str, ...], tuple[str, ...]], tuple[object, Selection]] = {}


def _selection_for(loaded: LoadedSpec, select: Sequence[str], ignore: Sequence[str]) -> Selection:
    """The spec's own project settings, with the command line's select/ignore on top."""
    key = (id(loaded.settings), tuple(select), tuple(ignore))
    hit = _SELECTIONS.get(key)
    if hit is not None and hit[0] is loaded.settings:
        return hit[1]
    selection = Selection.merged(loaded.settings, select, ignore)
    if len(_SELECTIONS) >= 64:
        _SELECTIONS.clear()
    _SELECTIONS[key] = (loaded.settings, selection)
    return selection


def _check_one(
    loaded: LoadedSpec,
    select: Sequence[str],
    ignore: Sequence[str],
    measure: bool,
    device: str | None,
    suppress: bool = True,
    timeout: float | None = None,
    memory: int | None = None,
) -> list[Finding]:
    """Every finding of one spec, suppressions applied unless `suppress` is False."""
    selection = _selection_for(loaded, select, ignore)
    return check_spec(
        loaded,
        selection,
        probe=measure,
        device=device,
        timeout=timeout,
        suppress=suppress,
        memory=memory,
    ).findings


def _check_file(
    project: _Project,
    path: Path,
    select: Sequence[str],
    ignore: Sequence[str],
    measure: bool = False,
    device: str | None = None,
    timeout: float | None = None,
    memory: int | None = None,
) -> tuple[LoadedSpec, FileRecord]:
    """Load and check one spec file, recording the files its result depends on."""
    with recording() as deps:
        loaded = _load_file(project, path)
        findings = _check_one(
            loaded, select, ignore, measure, device, timeout=timeout, memory=memory
        )
    return loaded, FileRecord(findings=findings, deps=deps)


# Worker state for parallel checks: set before the pool forks, inherited by the workers.
_WORKER: dict[str, object] = {}


def _check_chunk(chunk: list[Path]) -> list[tuple[str, FileRecord]]:
    project = _WORKER["project"]
    assert isinstance(project, _Project)
    select, ignore = _WORKER["select"], _WORKER["ignore"]
    return [
        (os.path.abspath(path), _check_file(project, path, select, ignore)[1])  # type: ignore[arg-type]
        for path in chunk
    ]


def default_jobs(files: int) -> int:
    """Worker processes for a static check: one per core once there is enough work to share."""
    if files < PARALLEL_MIN_FILES or sys.platform == "win32":
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


PARALLEL_MIN_FILES = 200


def _preload_for_workers() -> None:
    """Import what the rules import lazily, once, before forking (else every worker would)."""
    from . import estimate, lengths  # noqa: F401
    from .adapters import hf, pyconfig  # noqa: F401
    from .formulas import advise, flops, kvcache, latency, limits, path, peak  # noqa: F401


def _prefetch(
    project: _Project,
    spec_files: Sequence[Path],
    device: str | None,
    timeout: float | None,
    memory: int | None,
    pyprojects: bool,
) -> None:
    """Hand every model to the probe pool before checking them in order (probe/pool.py):
    while the loop below waits on the first model, the pool's other workers measure the next
    ones. Nothing without an active pool."""
    from .probe.pool import active

    if active() is None:
        return
    from .measure import prefetch

    loaded = [_load_file(project, p) for p in spec_files]
    for one in [*loaded, *(project.inline if pyprojects else ())]:
        if one.spec is not None:
            prefetch(one, device, None, timeout, True, memory)


def check_paths(
    paths: Sequence[str],
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    measure: bool = False,
    device: str | None = None,
    jobs: int | None = 1,
    timeout: float | None = None,
    pyprojects: bool = True,
    memory: int | None = None,
) -> CheckResult:
    """Lint every spec under `paths` (static unless `measure`).

    `pyprojects=False` checks the spec files only: the pyproject.toml files that govern them are
    read for their settings, but their own findings and inline models are not checked (the
    cache has them).

    `jobs` > 1 (or None: one per core for large trees) checks files in forked worker processes,
    as ruff does; results are identical, but `CheckResult.specs` then holds only the pyproject
    inline specs (the workers' specs stay in the workers). `CheckResult.records` holds each
    file's findings and dependencies (cache.py stores them).
    """
    # one run's selections: per-file-ignores resolve paths against the current directory,
    # which a long-lived caller (the pytest plugin) may change between runs
    _SELECTIONS.clear()
    project, spec_files, _, files = _collect(paths)
    for path in spec_files:  # every governing pyproject.toml is read here, once, in this process
        project.settings_for(path)
    n_jobs = default_jobs(len(spec_files)) if jobs is None else jobs
    cli = Selection.merged(None, select, ignore)
    records: dict[str, FileRecord] = {}
    for pp, rec in project.pyprojects.items():
        rec.findings = [f for f in rec.findings if cli.enabled(f.code)]
        records[str(pp)] = rec
    specs: list[LoadedSpec] = []
    if measure:
        _prefetch(project, spec_files, device, timeout, memory, pyprojects)
    from .progress import MANY_FILES, listener

    total = len(spec_files)
    tell = listener() if not measure and total > MANY_FILES else None
    if tell is not None:
        tell(0, total)
    if n_jobs > 1 and not measure and len(spec_files) > 1:
        import multiprocessing

        _preload_for_workers()
        _WORKER.update(project=project, select=tuple(select), ignore=tuple(ignore))
        # with a bar to move, smaller chunks (about 25 files) so it moves as they finish
        n_chunks = n_jobs if tell is None else max(n_jobs, -(-total // 25))
        chunks = [spec_files[i::n_chunks] for i in range(n_chunks)]
        done = 0
        try:
            with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
                for chunk, part in zip(chunks, pool.imap(_check_chunk, chunks), strict=True):
                    records.update(part)
                    done += len(chunk)
                    if tell is not None:
                        tell(done, total)
        finally:
            _WORKER.clear()
    else:
        for i, path in enumerate(spec_files):
            loaded, rec = _check_file(
                project, path, select, ignore, measure, device, timeout, memory
            )
            specs.append(loaded)
            records[os.path.abspath(path)] = rec
            if tell is not None:
                tell(i + 1, total)
    # Inline models of one pyproject.toml share its suppression comments: apply them together.
    by_file: dict[str, list[LoadedSpec]] = {}
    for loaded in project.inline if pyprojects else ():
        by_file.setdefault(loaded.path, []).append(loaded)
    for group in by_file.values():
        specs.extend(group)
        assert group[0].root is not None
        rec = records[str(group[0].root / Path(group[0].path).name)]  # or archcheck.toml
        with recording() as deps:
            raw = [
                f
                for loaded in group
                for f in _check_one(loaded, select, ignore, measure, device, False, timeout, memory)
            ]
        rec.deps.extend(deps)
        rec.findings.extend(
            apply_suppressions(
                raw, group[:1], _selection_for(group[0], select, ignore), measured=measure
            )
        )
    if not pyprojects:
        records = {k: r for k, r in records.items() if Path(k) not in project.pyprojects}
    findings = sorted((f for r in records.values() for f in r.findings), key=Finding.sort_key)
    return CheckResult(findings=findings, specs=specs, files=files, records=records)
