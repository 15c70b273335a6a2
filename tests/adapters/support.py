"""Shared helpers of the adapter tests: load any source as the engine will."""

from __future__ import annotations

from pathlib import Path

from pytest_archcheck.spec.load import LoadedSpec, load_spec_file

DATA = Path(__file__).parent / "data"


def load(path: Path) -> LoadedSpec:
    return load_spec_file(path.read_text(encoding="utf-8"), str(path))
