"""Which rule codes run for a file: `select`/`ignore` prefixes and per-file-ignores, as in ruff.

Its own module because every front end and the pipeline need it, and the pipeline must not
import the engine (the engine imports the pipeline).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .codes import ALL, EXTEND
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
        """ruff's rule: the most specific selector that matches the code wins, and `ignore`
        wins over `select` at equal specificity (`--select ARC1 --ignore ARC104` drops ARC104;
        `--select ARC104 --ignore ARC1` keeps it). No select means every rule, at the lowest
        specificity."""
        verdict = self._verdicts.get(code)
        if verdict is None:
            chosen = _specificity(code, self.select) if self.select else 0
            verdict = self._verdicts[code] = (
                chosen >= 0 and _specificity(code, self.ignore) < chosen
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
        """Command-line select/ignore win over pyproject's, which win over defaults.

        A selector written `+CODE` (what `--extend-select CODE` passes) extends the select
        list instead of replacing it: pyproject's (or every rule), plus CODE."""
        s = settings or Settings()
        replace = [c for c in select if not c.startswith(EXTEND)]
        extend = [c[len(EXTEND) :] for c in select if c.startswith(EXTEND)]
        base = replace or s.select
        if extend:
            base = [*(base or [ALL]), *extend]
        return cls(
            select=base,
            ignore=[*s.ignore, *ignore],
            per_file_ignores=s.per_file_ignores,
        )


def _specificity(code: str, selectors: Sequence[str]) -> int:
    """Length of the longest selector that is a prefix of `code` (-1: none matches); "ARC"
    (every rule) counts as 0, below any code prefix a user writes."""
    best = -1
    for s in selectors:
        if code.startswith(s):
            best = max(best, 0 if s == ALL else len(s))
    return best


def _relpath(path: str, root: Path | None) -> str:
    try:
        return Path(path).resolve().relative_to((root or Path.cwd()).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()
