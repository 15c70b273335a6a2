"""Behavioural checks: what the model actually does, on random inputs, with no data.

Static rules read what users declare; these checks run the model (float64, CPU, eval mode,
dropout off, parameters frozen; everything restored afterwards) and decide by exact zeros
where the property is structural, by a documented margin where it is not:

========  ===========================  ==================================================
code      function                     property
========  ===========================  ==================================================
ARC201    check_positional             bidirectional outputs must not permute with inputs
ARC202    check_positional_table       a forward at n = max_n must not overrun a table
ARC203/4  check_masks                  SDPA / MultiheadAttention mask shape and polarity
ARC209    check_masks                  weak additive fills, fully masked rows (NaN)
ARC205    check_causality              outputs at t independent of inputs after t
ARC206    check_padding                pads change no output at a real token
ARC104/7  check_reach                  measured reach / BPTT horizon vs budget.span
ARC210    check_forget_gate            LSTM forget-gate bias for a long span
========  ===========================  ==================================================

Importing this package does not import torch; each function imports its submodule lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..findings import Finding
from ..spec.model import Spec
from ._codes import NAMES, Locations, TrainStep

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "NAMES",
    "check_causality",
    "check_forget_gate",
    "check_masks",
    "check_padding",
    "check_positional",
    "check_positional_table",
    "check_reach",
    "run_all",
]


def check_positional(
    model: nn.Module, spec: Spec, path: str, locations: Locations | None = None, **kw: Any
) -> list[Finding]:
    """ARC201: permutation equivariance of a bidirectional sequence model."""
    from .order import check_positional as f

    return f(model, spec, path, locations, **kw)


def check_positional_table(
    model: nn.Module, spec: Spec, path: str, locations: Locations | None = None, **kw: Any
) -> list[Finding]:
    """ARC202: one forward at n = budget.max_n."""
    from .order import check_positional_table as f

    return f(model, spec, path, locations, **kw)


def check_causality(
    model: nn.Module, spec: Spec, path: str, locations: Locations | None = None, **kw: Any
) -> list[Finding]:
    """ARC205: perturbation, gradient and incremental-decoding tests of a causal model."""
    from .causal import check_causality as f

    return f(model, spec, path, locations, **kw)


def check_padding(
    model: nn.Module, spec: Spec, path: str, locations: Locations | None = None, **kw: Any
) -> list[Finding]:
    """ARC206: changed or appended pads must not move outputs at real tokens."""
    from .padding import check_padding as f

    return f(model, spec, path, locations, **kw)


def check_masks(
    model: nn.Module, spec: Spec, path: str, locations: Locations | None = None, **kw: Any
) -> list[Finding]:
    """ARC203/ARC204/ARC209: every SDPA / MultiheadAttention mask seen in one forward."""
    from .masks import check_masks as f

    return f(model, spec, path, locations, **kw)


def check_reach(
    model: nn.Module,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    train_step: TrainStep | None = None,
    **kw: Any,
) -> list[Finding]:
    """ARC104/ARC207/ARC304: measured reach, BPTT horizon and declared architecture."""
    from .reach import check_reach as f

    return f(model, spec, path, locations, train_step=train_step, **kw)


def check_forget_gate(
    model: nn.Module, spec: Spec, path: str, locations: Locations | None = None
) -> list[Finding]:
    """ARC210: LSTM forget-gate bias when budget.span is long."""
    from .recurrent import check_forget_gate as f

    return f(model, spec, path, locations)


def run_all(
    model_or_factory: Any,
    spec: Spec,
    path: str,
    locations: Locations | None = None,
    *,
    train_step: TrainStep | None = None,
    reach: tuple[Callable[[], Any], Spec] | None = None,
) -> list[Finding]:
    """Every behavioural check on one model (a module, a factory, or "module:callable").

    `reach`: (build, spec) of the full-depth model the reach check measures instead, when the
    caller built a shallower one for the other checks (measure.behaviour_plan).

    Masks are inspected first: a mask of the wrong shape (ARC203) usually stops the forward,
    and then the checks that cannot run are skipped instead of failing. Any other failure of
    the model raises ArchcheckError naming the check.
    """
    from ..findings import ArchcheckError
    from ..timings import phase
    from ._harness import probe_mode, resolve_model

    with phase("build"):
        model = resolve_model(model_or_factory, spec)
    findings: list[Finding] = []

    def run(name: str, check: Callable[[], list[Finding]]) -> None:
        try:
            with phase(name):
                findings.extend(check())
        except Exception as exc:
            if any(f.code == "ARC203" for f in findings):
                return
            if isinstance(exc, ArchcheckError):
                raise
            raise ArchcheckError(f"behaviour check {name} failed: {exc}", path) from exc

    with probe_mode(model):  # one float64 conversion shared by the float64 checks
        run("masks", lambda: check_masks(model, spec, path, locations))
        run("positional", lambda: check_positional(model, spec, path, locations))
        run("causality", lambda: check_causality(model, spec, path, locations))
        run("padding", lambda: check_padding(model, spec, path, locations))
        if reach is None:
            run("reach", lambda: check_reach(model, spec, path, locations, train_step=train_step))
    if reach is not None:
        build, deep_spec = reach
        with phase("build"):
            deep = build()
        with probe_mode(deep):
            run(
                "reach",
                lambda: check_reach(deep, deep_spec, path, locations, train_step=train_step),
            )
    run("positional-table", lambda: check_positional_table(model, spec, path, locations))
    run("forget-gate", lambda: check_forget_gate(model, spec, path, locations))
    return sorted(findings, key=lambda f: (f.sort_key(), f.message))
