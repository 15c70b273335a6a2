"""Which rule codes run for a file: `select`/`ignore` prefixes and per-file-ignores, as in ruff.

Its own module because every front end and the pipeline need it, and the pipeline must not
import the engine (the engine imports the pipeline).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .spec.model import Settings


@dataclass
class Selection:
    """Which codes run: `select`/`ignore` prefixes as in ruff (ARC1 selects ARC101–ARC199)."""

    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    # path -> the per-file-ignores codes matching it: every rule asks for every file, and
    # matching resolves the path on disk
    _file_codes: dict[tuple[str, Path | None], list[str]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # code -> the select/ignore verdict: asked once per rule per spec (19,000 times for 1,000
    # specs), answered from the prefixes once per code
    _verdicts: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def enabled(self, code: str, path: str | None = None, root: Path | None = None) -> bool:
        verdict = self._verdicts.get(code)
        if verdict is None:
            verdict = self._verdicts[code] = not (
                (self.select and not any(code.startswith(s) for s in self.select))
                or any(code.startswith(s) for s in self.ignore)
            )
        if not verdict:
            return False
        if path is not None and self.per_file_ignores:
            return not any(code.startswith(c) for c in self._ignored_in(path, root))
        return True

    def _ignored_in(self, path: str, root: Path | None) -> list[str]:
        hit = self._file_codes.get((path, root))
        if hit is None:
            rel = _relpath(path, root)
            name = Path(rel).name
            hit = [
                c
                for pattern, codes in self.per_file_ignores.items()
                if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern)
                for c in codes
            ]
            self._file_codes[(path, root)] = hit
        return hit

    @classmethod
    def merged(
        cls, settings: Settings | None, select: Sequence[str] = (), ignore: Sequence[str] = ()
    ) -> Selection:
        """Command-line select/ignore win over pyproject's, which win over defaults."""
        s = settings or Settings()
        return cls(
            select=list(select) or s.select,
            ignore=[*s.ignore, *ignore],
            per_file_ignores=s.per_file_ignores,
        )


def _relpath(path: str, root: Path | None) -> str:
    try:
        return Path(path).resolve().relative_to((root or Path.cwd()).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()
