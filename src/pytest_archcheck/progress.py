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
from collections.abc import Callable, Iterator
from typing import Any


def transient_bar(*columns: Any, **options: Any) -> Any:
    """A rich Progress on stderr that erases itself when stopped: the displays below and the
    probe pool's bar (probe/pool.py) all draw through it."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(file=sys.stderr, force_terminal=True)
    return Progress(*columns, console=console, transient=True, **options)


@contextlib.contextmanager
def working(label: str, show: bool) -> Iterator[None]:
    """While the block runs, a spinner, `label` and the elapsed time on stderr (if `show`);
    gone when the block ends, before any report is printed."""
    if not show:
        yield
        return
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = transient_bar(
        SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn()
    )
    bar.add_task(label, total=None)
    with bar:
        yield


# Told (files checked, files in all) as a static check of more than MANY_FILES spec files goes
# on (engine.check_paths): the CLI's FileBar on a terminal; None: nobody. Kept here, not in
# engine.py, so a warm cached run that checks nothing never imports the engine.
_listener: list[Callable[[int, int], object] | None] = [None]


def reporting(to: Callable[[int, int], object] | None) -> None:
    """Send a large static check's progress to `to` (None: stop)."""
    _listener[0] = to


def listener() -> Callable[[int, int], object] | None:
    """Who is told a large static check's progress (None: nobody)."""
    return _listener[0]


# A static check of a large tree (more than this many spec files) shows a bar: below it the
# check ends before a bar would be read.
MANY_FILES = 100


class FileBar:
    """A transient bar on stderr for a static check of many files: `archcheck: checking`,
    the bar, "done/total files" and the elapsed time. engine.check_paths calls it with the
    count so far; it starts drawing on the first call (only made for more than MANY_FILES)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

            self._bar = transient_bar(
                TextColumn("archcheck: checking", markup=False),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TextColumn("files", markup=False),
                TimeElapsedColumn(),
            )
            self._task = self._bar.add_task("check", total=total)
            self._bar.start()
        self._bar.update(self._task, completed=done, total=total)

    def close(self) -> None:
        """Erase the bar (if it was ever drawn)."""
        if self._bar is not None:
            self._bar.stop()
