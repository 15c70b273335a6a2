"""Rule codes and the finding builder shared by the behavioural checks (no torch here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..findings import Finding, Severity

if TYPE_CHECKING:
    from torch import Tensor, nn

# Names as in the rule registry (rules/*.py); kebab-case, one per DESIGN.md §6 code.
NAMES: dict[str, str] = {
    "ARC104": "span-not-covered",
    "ARC201": "missing-positional-information",
    "ARC202": "positional-table-too-short",
    "ARC203": "attention-mask-shape",
    "ARC204": "mask-polarity-flipped",
    "ARC205": "causal-leak",
    "ARC206": "padding-leak",
    "ARC207": "bptt-shorter-than-span",
    "ARC209": "weak-additive-mask",
    "ARC210": "forget-bias-not-positive",
    "ARC304": "inconsistent-dimensions",
}

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
    severity: Severity = "error",
    data: dict[str, Any] | None = None,
) -> Finding:
    """Build a Finding pointing at the first spec key in `keys` that `locations` knows."""
    line, column = _where(locations, (*keys, "model.factory", "model"))
    return Finding(
        code=code,
        name=NAMES[code],
        severity=severity,
        message=message,
        path=path,
        line=line,
        model=model,
        column=column,
        fix=fix,
        data=dict(data or {}),
    )
