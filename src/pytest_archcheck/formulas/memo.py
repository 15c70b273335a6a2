"""Per-spec memoisation for the (n, batch)-independent parts of the memory formulas.

The n_max search evaluates the training peak ~20 times per spec; what does not depend on
(n, batch) -- parameter shapes, model states, allocator rounding, per-layer weight counts -- is
computed once per (spec object, target). Specs are frozen after validation, and each entry
keeps its spec alive, so an id is never reused while its entry exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import TypeVar

S = TypeVar("S")
T = TypeVar("T", bound=Hashable)
R = TypeVar("R")


def per_spec(maxsize: int) -> Callable[[Callable[[S, T], R]], Callable[[S, T], R]]:
    """Decorate `f(spec, target)`: one result per (spec object, target), at most `maxsize`."""

    def deco(fn: Callable[[S, T], R]) -> Callable[[S, T], R]:
        cache: dict[tuple[int, T], tuple[S, R]] = {}

        @functools.wraps(fn)
        def cached(spec: S, target: T) -> R:
            key = (id(spec), target)
            hit = cache.get(key)
            if hit is not None and hit[0] is spec:
                return hit[1]
            out = fn(spec, target)
            if len(cache) >= maxsize:
                cache.clear()
            cache[key] = (spec, out)
            return out

        return cached

    return deco
