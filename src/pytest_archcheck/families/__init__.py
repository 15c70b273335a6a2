"""Model families: one unit per kind of network, one registry.

Each module in this package (not starting with "_") defines a `Family` subclass decorated with
`@register`; the package imports them all on first use, so adding a family is one new file here
(plus its reference `nn.Module`, which may live in the same file behind a lazy torch import or
in `families/reference/`). Everything else — formulas, estimate, probes, behavioural checks,
rules — asks `family_of(spec)`, never `spec.model.family == ...`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, TypeVar

from ._base import Family, ForwardSaved, NotModelled, Problem, Shape

if TYPE_CHECKING:
    from ..spec.model import ModelTable, Spec

__all__ = [
    "Family",
    "ForwardSaved",
    "NotModelled",
    "Problem",
    "Shape",
    "UnsupportedFamilyError",
    "family_names",
    "family_of",
    "register",
    "units",
]

_UNITS: dict[str, Family] = {}
_LOADED: list[bool] = []  # non-empty once every module of the package was imported
_NAMES: list[str] = []  # family_names(), kept until a unit registers (every spec validates it)
# units() in name order, and family_of's answers by [model] table object (frozen: its answer
# cannot change), both kept until a unit registers: a static check asks family_of about a
# dozen times per spec
_SORTED: list[Family] = []
_OF: dict[int, tuple[object, Family]] = {}
F = TypeVar("F", bound=type[Family])


class UnsupportedFamilyError(ValueError):
    """No unit models this combination of `[model] family` and `input`."""


def register(cls: F) -> F:
    """Class decorator: register one instance of a Family subclass under its `name`."""
    old = type(_UNITS[cls.name]) if cls.name in _UNITS else None
    # a re-import of the same module (pytester rewinds sys.modules) replaces its unit; another
    # class claiming the name is a mistake
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"family unit {cls.name!r} registered twice")
    _UNITS[cls.name] = cls()
    _NAMES.clear()
    _SORTED.clear()
    _OF.clear()
    return cls


def _load() -> None:
    if _LOADED:
        return
    _LOADED.append(True)
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "reference":
            importlib.import_module(f"{__name__}.{info.name}")


def units() -> list[Family]:
    """Every registered family unit, in name order."""
    _load()
    if len(_SORTED) != len(_UNITS):
        _SORTED[:] = [_UNITS[k] for k in sorted(_UNITS)]
    return list(_SORTED)


def family_names() -> list[str]:
    """Every `[model] family` value some unit serves (what the spec accepts)."""
    if not _NAMES:
        _NAMES.extend(sorted({f for u in units() for f in u.serves}))
    return list(_NAMES)


def family_of(spec: Spec | ModelTable) -> Family:
    """The unit that models this spec (or its [model] table).

    Raises UnsupportedFamilyError naming the family and input when none does (e.g. a
    Transformer with input = "image"): the spec validator turns that into ARC302, so that no
    formula silently models another network."""
    m = getattr(spec, "model", spec)
    hit = _OF.get(id(m))
    if hit is not None and hit[0] is m:  # the entry holds m: its id is not reused meanwhile
        return hit[1]
    for unit in units():
        if unit.handles(m):  # type: ignore[arg-type]
            if len(_OF) >= 1024:
                _OF.clear()
            _OF[id(m)] = (m, unit)
            return unit
    inputs = sorted({i for u in units() if m.family in u.serves for i in u.inputs})  # type: ignore[union-attr]
    if not inputs:
        raise UnsupportedFamilyError(
            f"unknown family {m.family!r}; known: {', '.join(family_names())}"  # type: ignore[union-attr]
        )
    raise UnsupportedFamilyError(
        f"family {m.family!r} with input = {m.input!r} is not modelled; "  # type: ignore[union-attr]
        f"it takes input = {' | '.join(repr(i) for i in inputs)}"
    )
