"""Shared helpers of the adapter tests: load any source as the engine will."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_archcheck.spec.load import LoadedSpec, load_spec_file
from pytest_archcheck.spec.model import Spec

DATA = Path(__file__).parent / "data"


def load(path: Path) -> LoadedSpec:
    return load_spec_file(path.read_text(encoding="utf-8"), str(path))


def extending(tmp_path: Path, cfg: dict[str, Any], train: str) -> Spec:
    """The spec a user writes over a Hugging Face config: `cfg` as tmp_path/config.json and a
    spec that extends it with the given `[train]` lines ("batch = 2\\ndtype = ..."), loaded
    as the engine loads it (a load problem fails the test with its message)."""
    (tmp_path / "config.json").write_text(json.dumps(cfg, default=str))
    text = f'[model]\nextends = "config.json"\n[train]\n{train}'
    loaded = load_spec_file(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)
    assert loaded.spec is not None, loaded.problems
    return loaded.spec
