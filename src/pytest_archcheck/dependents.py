"""`archcheck check FILE` where FILE is something specs read, not a spec: check those specs.

A spec's result depends on more than its own file: the `extends` target (a config.json, a
ds_config.json, a YAML recipe), its `[data] lengths` file, the span source (deps.py records
each). Editing only such a file and checking it by name must report what the edit does to the
specs that read it: `archcheck check configs/config.json` after raising its layer count, or the
pre-commit hook that receives only the edited file. Checked alone, a lengths file would be
taken for a model config (a false ARC302) and a config.json would pass with no budget to check.

For each named file that is not a spec (`*.archcheck.toml`, pyproject.toml): the specs of its
project (the nearest folder above it with a pyproject.toml or .git) that record it as a
dependency are checked instead. A Hugging Face config.json (it names a `model_type`) stays on
the list too, as a model of its own; any other file with no dependent spec is checked as
before. Static: loading specs runs no user code and imports no torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .files import CONFIG_NAMES, SPEC_SUFFIX

if TYPE_CHECKING:
    from .cache import Cache
    from .deps import Dep

PROJECT_MARKERS = ("pyproject.toml", "archcheck.toml", ".git")


def project_root(path: Path) -> Path:
    """The nearest folder at or above `path`'s folder that holds a pyproject.toml or .git."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / m).exists() for m in PROJECT_MARKERS):
            return candidate
    return folder


def _is_spec(path: Path) -> bool:
    return path.name.endswith(SPEC_SUFFIX) or path.name in CONFIG_NAMES


def _is_model_config(path: Path) -> bool:
    """A config.json that describes a model by itself (it names a `model_type`)."""
    if path.suffix.lower() != ".json":
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[: 1 << 20]
    except OSError:
        return False
    return '"model_type"' in head


def needs_expansion(paths: Sequence[str]) -> bool:
    """Whether any named path is a file other than a spec (cheap: the CLI asks on every run)."""
    return any(os.path.isfile(p) and not _is_spec(Path(p)) for p in paths)


def dependents_of(targets: Sequence[Path], cache: Cache | None = None) -> dict[str, list[Path]]:
    """For each target (absolute path), the spec files of its project whose static result
    depends on it: each project's specs are checked once, whatever the number of targets.

    `cache`: the run's static cache (cache.py). A spec whose entry there is still valid but
    for the targets themselves (its bytes, its pyproject.toml and every other file it read
    unchanged) lists what it read without being checked again: the pre-commit hook, handed
    every edited file, then imports no engine when nothing else changed. An edited target is
    in the list of every spec that read it before the edit, and what the spec reads through
    it comes from the spec's own, unchanged, text."""
    wanted: dict[Path, set[str]] = {}
    for t in targets:
        wanted.setdefault(project_root(t), set()).add(os.path.abspath(t))
    hits: dict[str, list[Path]] = {w: [] for ws in wanted.values() for w in ws}
    for root, want in wanted.items():
        for spec, deps in _recorded(root, want, cache):
            for kind, name, _ in deps:
                if kind == "file" and name in want and os.path.abspath(spec) != name:
                    hits[str(name)].append(spec)
    return hits


def _recorded(root: Path, want: set[str], cache: Cache | None) -> list[tuple[Path, list[Dep]]]:
    """Each spec file of the project at `root` with the dependencies a static check of it
    records (what the cache keys it on): from the cache where valid (see dependents_of),
    else by checking it."""
    from .deps import unchanged

    w = None
    if cache is not None:
        from .cache import _walk

        w = _walk([str(root)], cache)
    if w is None:  # no cache, or a pyproject.toml changed: every spec is checked
        return _checked(root, None)
    assert cache is not None
    out: list[tuple[Path, list[Dep]]] = []
    missed: list[Path] = []
    for path, key in zip(w.specs, w.keys, strict=True):
        e = cache.entries.get(key)
        state = w.state(key)
        try:
            valid = (
                e is not None
                and state == (e["sha"], e["gov"], e["gov_sha"])
                and unchanged([d for d in e["deps"] if d[1] not in want])
            )
        except (KeyError, TypeError, ValueError, AttributeError):  # damaged: check the spec
            valid = False
        if valid:
            assert e is not None
            out.append((path, e["deps"]))
        else:
            missed.append(path)
    if missed:
        out += _checked(root, missed)
    return out


def _checked(root: Path, specs: list[Path] | None) -> list[tuple[Path, list[Dep]]]:
    """`specs` of the project at `root` (None: all of them) with the dependencies a static
    check of each records."""
    from .engine import _check_file, _collect

    project, spec_files, _, _ = _collect([str(root)])
    return [
        (spec, _check_file(project, spec, (), (), False, None, None, None)[1].deps)
        for spec in (spec_files if specs is None else specs)
    ]


def expand(paths: Sequence[str], only: bool = False, cache: Cache | None = None) -> list[str]:
    """`paths` with each named non-spec file replaced by the specs that read it (see above).

    `only` (`check --dependents-only`, the pre-commit hook): a non-spec file stands only for
    its dependents, and one that no spec reads is dropped. The hook hands over every edited
    .py, .json and .yaml file of the commit; a package.json or a CI workflow is not a model
    config, and a bare config.json no spec extends is checked when named without the flag."""
    files = [Path(p) for p in paths if Path(p).is_file() and not _is_spec(Path(p))]
    found = dependents_of(files, cache)
    out: list[str] = []
    for p in paths:
        path = Path(p)
        hits = found.get(os.path.abspath(path), []) if path in files else []
        if path not in files or (not only and (not hits or _is_model_config(path))):
            out.append(p)
        out.extend(str(h) for h in hits if str(h) not in out)
    return out
