"""Rule codes and the finding builder shared by the behavioural checks (no torch here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..findings import Finding, Severity

if TYPE_CHECKING:
    from torch import Tensor, nn


class _Names(Mapping[str, str]):
    """code -> rule name, read from the rule registry (rules/arcNNN_*.py) on first use: the
    names are written once, in the rule's own file. Lazy, so that importing behaviour/ stays
    as light as before."""

    def _rules(self) -> dict[str, Any]:
        from ..rules import RULES

        return RULES

    def __getitem__(self, code: str) -> str:
        return str(self._rules()[code].name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules())

    def __len__(self) -> int:
        return len(self._rules())


NAMES: Mapping[str, str] = _Names()

# Locations may map a dotted spec key ("model.pad_id") to a line, a (line, column) pair, or
# any object with `line` (and optionally `column`) attributes.
Locations = Mapping[str, Any]

# `train_step(model, x) -> outputs`: runs the model over a batch-first sequence the way training
# does (chunks, detach, ...); reach.measure_horizon reads the gradient horizon through it.
TrainStep = Callable[["nn.Module", "Tensor"], Any]


def _where(locations: Locations | None, keys: tuple[str, ...]) -> tuple[int, int]:
    if not locations:
        return 1, 1
    for key in keys:
        loc = locations.get(key)
        if loc is None:
            continue
        if isinstance(loc, int):
            return loc, 1
        if isinstance(loc, tuple | list) and loc:
            return int(loc[0]), int(loc[1]) if len(loc) > 1 else 1
        line = getattr(loc, "line", None)
        if line is not None:
            return int(line), int(getattr(loc, "column", 1) or 1)
    return 1, 1


def finding(
    code: str,
    message: str,
    *,
    path: str,
    model: str | None,
    locations: Locations | None,
    keys: tuple[str, ...] = (),
    fix: str | None = None,
    severity: Severity | None = None,
    data: dict[str, Any] | None = None,
) -> Finding:
    """Build the rule's Finding pointing at the first spec key in `keys` that `locations`
    knows; name and severity come from the rule (`severity` overrides it, for callers that
    still pass one)."""
    line, column = _where(locations, (*keys, "model.factory", "model"))
    from ..rules import RULES

    found = RULES[code].finding(
        message, path, line, model, column=column, fix=fix, data=dict(data or {})
    )
    if severity is not None and severity != found.severity:
        found = replace(found, severity=severity)
    return found
