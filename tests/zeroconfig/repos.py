"""The fixture repositories under tests/data/repos and their true parameter counts.

Each repository is a small real-shaped copy (written for these tests, not copied code) of a
public project's model and config files. `true_params` builds the repository's own model class
on the meta device (no memory, no initialisation) and counts its parameters with torch: the
count `archcheck estimate` must reproduce from the spec `archcheck init` writes.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPOS = Path(__file__).parent.parent / "data" / "repos"


def copy_repo(name: str, dest: Path) -> Path:
    """A private copy of one fixture repository (init writes specs into it)."""
    repo = dest / name
    shutil.copytree(REPOS / name, repo)
    return repo


@contextmanager
def importable(root: Path) -> Iterator[None]:
    """`root` first on sys.path, and its modules forgotten afterwards (several repos have a
    `model.py`)."""
    before = set(sys.modules)
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            mod = sys.modules.get(name)
            origin = getattr(mod, "__file__", None) or ""
            if origin.startswith(str(root)):
                del sys.modules[name]


def true_params(root: Path, module: str, build: Callable[[Any], Any]) -> int:
    """Parameters of `build(module)` constructed on the meta device (tied weights once)."""
    import torch

    with importable(root):
        mod = importlib.import_module(module)
        with torch.device("meta"):
            model = build(mod)
    return sum(p.numel() for p in model.parameters())
