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

from .files import CONFIG_NAMES, SPEC_SUFFIX

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


def dependents_of(targets: Sequence[Path]) -> dict[str, list[Path]]:
    """For each target (absolute path), the spec files of its project whose static result
    depends on it: each project's specs are checked once, whatever the number of targets."""
    from .engine import _check_file, _collect

    wanted: dict[Path, set[str]] = {}
    for t in targets:
        wanted.setdefault(project_root(t), set()).add(os.path.abspath(t))
    hits: dict[str, list[Path]] = {w: [] for ws in wanted.values() for w in ws}
    for root, want in wanted.items():
        project, spec_files, _, _ = _collect([str(root)])
        for spec in spec_files:
            # the dependencies a static check of the spec records (what the cache keys it on)
            _, record = _check_file(project, spec, (), (), False, None, None, None)
            for kind, name, _ in record.deps:
                if kind == "file" and name in want and os.path.abspath(spec) != name:
                    hits[str(name)].append(spec)
    return hits


def expand(paths: Sequence[str], only: bool = False) -> list[str]:
    """`paths` with each named non-spec file replaced by the specs that read it (see above).

    `only` (`check --dependents-only`, the pre-commit hook): a non-spec file stands only for
    its dependents, and one that no spec reads is dropped. The hook hands over every edited
    .py, .json and .yaml file of the commit; a package.json or a CI workflow is not a model
    config, and a bare config.json no spec extends is checked when named without the flag."""
    files = [Path(p) for p in paths if Path(p).is_file() and not _is_spec(Path(p))]
    found = dependents_of(files)
    out: list[str] = []
    for p in paths:
        path = Path(p)
        hits = found.get(os.path.abspath(path), []) if path in files else []
        if path not in files or (not only and (not hits or _is_model_config(path))):
            out.append(p)
        out.extend(str(h) for h in hits if str(h) not in out)
    return out
