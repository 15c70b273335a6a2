"""Where a measurement's time goes: named phases, recorded while a model is measured.

Why: `check --probe` is slow enough that a user paying for CI minutes needs to see which part
costs what (start-up, build, the training step, the n_max search, each behavioural check)
before they can decide what to turn off. The probe and behaviour code mark their phases with
`phase("name")`; the pool worker records them around one model (`recording()`) and sends them
back with the result, where `check -v` prints them and `--format json` puts them under
`timings`.

Phases nest: a phase inside another is recorded as "outer/inner" (the builds of the n_max
search are `n_max_search/build`, not added to the first build), and an outer phase's time
includes its inner ones. Outside `recording()` a phase costs two clock reads. stdlib only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_state: dict[str, dict[str, float] | None] = {"current": None}
_stack: list[str] = []
# Told the phase now running ("n_max_search/step"; "" when none), as it changes: the pool
# worker (probe/pool.py) writes it where the parent's progress bar reads it
_announce: list[Callable[[str], object] | None] = [None]


def announcing(to: Callable[[str], object] | None) -> None:
    """Send each phase change to `to` (None: stop)."""
    _announce[0] = to


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the time spent in the block to phase `name` of the current recording (if any)."""
    start = time.perf_counter()
    _stack.append(name)
    key = "/".join(_stack)
    tell = _announce[0]
    if tell is not None:
        tell(key)
    try:
        yield
    finally:
        _stack.pop()
        current = _state["current"]
        if current is not None:
            current[key] = current.get(key, 0.0) + time.perf_counter() - start
        if tell is not None:
            tell("/".join(_stack))


@contextmanager
def recording() -> Iterator[dict[str, float]]:
    """Collect the phases timed inside the block: {"build": s, "behaviour/masks": s, ...}."""
    previous, saved_stack = _state["current"], list(_stack)
    current: dict[str, float] = {}
    _state["current"] = current
    _stack.clear()
    try:
        yield current
    finally:
        _state["current"] = previous
        _stack[:] = saved_stack


def rounded(times: dict[str, float]) -> dict[str, float]:
    """Seconds to milliseconds' precision, for JSON, each phase before its inner phases (a
    phase is recorded when it ends, after the phases inside it)."""
    first: dict[str, int] = {}
    for i, key in enumerate(times):
        first.setdefault(key.split("/")[0], i)
    order = sorted(times, key=lambda k: (first[k.split("/")[0]], k.count("/")))
    return {k: round(times[k], 3) for k in order}


def describe(name: str, times: dict[str, float | bool | int | None]) -> list[str]:
    """Lines for `check -v`: one per phase, nested phases indented under their parent."""
    out = [f"{name}:"]
    for key, value in times.items():
        if not isinstance(value, float) or isinstance(value, bool):
            if value is not None:
                out.append(f"  {key}: {value}")
            continue
        depth = key.count("/")
        out.append(f"  {'  ' * depth}{key.rsplit('/', 1)[-1]}: {value:.2f} s")
    return out
