"""A transient progress line on stderr for one long piece of work (`archcheck probe`: a model
built and measured in an isolated child, often tens of seconds), so a terminal user sees what
is being measured and for how long instead of silence.

Why its own module: `check --probe` has the pool's bar (probe/pool.py), which follows many
models; a single probe has one model and no pool, only a label and a clock. Shown only where
the caller says (a terminal, not JSON output): never on a pipe, so captured output and CI logs
are unchanged. The label is printed as text (markup off: "[gpt-small]" is a name, not a tag).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def working(label: str, show: bool) -> Iterator[None]:
    """While the block runs, a spinner, `label` and the elapsed time on stderr (if `show`);
    gone when the block ends, before any report is printed."""
    if not show:
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr, force_terminal=True),
        transient=True,
    )
    bar.add_task(label, total=None)
    with bar:
        yield
