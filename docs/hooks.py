"""mkdocs hook: draw the docs' plots from the examples at build time (never committed by hand),
with the same code as `archcheck plot`, so a picture cannot drift from what the tool prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOTS = {
    "img/gpt-small-memory.svg": "examples/gpt-small/gpt-small.archcheck.toml",
    "img/tcn-forecast-memory.svg": "examples/tcn-forecast/tcn.archcheck.toml",
}


def on_pre_build(config: Any) -> None:
    from pytest_archcheck.engine import load_all
    from pytest_archcheck.plot import plot_data, render_file

    docs = Path(config["docs_dir"])
    root = docs.parent
    for image, spec_path in PLOTS.items():
        specs, _, _, _ = load_all([str(root / spec_path)])
        spec = next(s.spec for s in specs if s.spec is not None)
        render_file(plot_data(spec), docs / image)
