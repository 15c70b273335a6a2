"""pytest-archcheck: budgets for PyTorch model architectures (memory, latency, span).

Importing this package imports no torch; probes import it lazily when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ._version import __version__  # the one version source (pyproject.toml reads it)

_F = TypeVar("_F", bound=Callable[..., Any])


def model(spec: str | None = None, **settings: Any) -> Callable[[_F], _F]:
    """Mark an `nn.Module` factory for archcheck: `@pytest_archcheck.model(spec="gpt.archcheck.toml",
    memory="24 GiB", max_n=2048)`.

    Discovery finds the decorator by parsing source, so this does nothing at run time beyond
    recording its arguments on the function; keyword arguments override the spec's [budget]
    (budget keys) or [model] (model keys).
    """

    def mark(fn: _F) -> _F:
        fn.__archcheck__ = {"spec": spec, **settings}  # type: ignore[attr-defined]
        return fn

    return mark


__all__ = ["__version__", "model"]
