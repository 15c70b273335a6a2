"""Which knob buys the most headroom: the training peak and the latency with each of n, batch,
heads, hidden width and layers halved, and the elasticity that follows.

The article's advice is "tune n and h first: they move memory and throughput most". Whether that
holds depends on where a model sits: with short sequences the weights and optimizer dominate and
n barely matters; past the point where attention dominates, the peak grows almost as n². So we do
not print a rule, we evaluate it: the same peak formula (formulas/peak.py) and latency formula
(formulas/latency.py) at the spec with one knob halved. The elasticity

    e = ln(peak(k/2) / peak(k)) / ln(1/2)

is the exponent of a local power law peak ∝ k^e (1: proportional, 2: quadratic, 0: no effect).

Halving keeps the spec consistent: halving `d_model` scales an explicit `d_ff` with it and keeps
the head dimension by halving the heads when they divide; halving heads keeps `d_model` (wider
heads). A knob whose halved value the family rejects (a dimension check) is skipped with the
reason, never evaluated on an invalid spec. Pure Python: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .registry import formula

if TYPE_CHECKING:
    from ..runtime import Target
    from ..spec.model import Spec


@dataclass(frozen=True)
class Sensitivity:
    """The peak (and latency) with one knob halved."""

    knob: str  # n, batch, heads, width, layers
    key: str  # the spec key it changes: train.seq_len, train.batch, model.heads, ...
    value: int
    halved: int
    peak: int
    peak_halved: int
    latency_s: float | None = None
    latency_halved_s: float | None = None

    @property
    def saved(self) -> int:
        return self.peak - self.peak_halved

    @property
    def elasticity(self) -> float:
        return elasticity(self.peak, self.peak_halved, self.value, self.halved)

    def to_json(self) -> dict[str, Any]:
        return {
            "knob": self.knob,
            "key": self.key,
            "value": self.value,
            "halved": self.halved,
            "peak": self.peak,
            "peak_halved": self.peak_halved,
            "saved": self.saved,
            "elasticity": self.elasticity,
            "latency_ms": None if self.latency_s is None else self.latency_s * 1e3,
            "latency_halved_ms": None
            if self.latency_halved_s is None
            else self.latency_halved_s * 1e3,
        }


@formula(
    "sensitivity.elasticity",
    "e = ln(peak(k') / peak(k)) / ln(k' / k), k' = k/2: peak ∝ k^e near k",
    "finite-difference elasticity (log-log slope)",
)
def elasticity(peak: int, peak_changed: int, value: int, changed: int) -> float:
    """The local exponent of peak ∝ knob^e from two points of the same formula."""
    if peak <= 0 or peak_changed <= 0 or value == changed:
        return 0.0
    return math.log(peak_changed / peak) / math.log(changed / value)


def _halved(spec: Spec, knob: str, n: int, batch: int) -> tuple[Spec, int, int, str, int, int]:
    """(spec with the knob halved, n, batch, key, value, halved value) — ValueError when the
    knob cannot be halved here (already 1, or not part of this family)."""
    from ..families import family_of

    m = spec.model
    fam = family_of(spec)
    if knob == "n":
        if n < 2:
            raise ValueError("n is 1")
        return spec, n // 2, batch, "train.seq_len", n, n // 2
    if knob == "batch":
        if batch < 2:
            raise ValueError("batch is 1")
        return spec, n, batch // 2, "train.batch", batch, batch // 2
    update: dict[str, Any]
    if m.stage is not None:  # a hybrid: its stages hold the model's layers, widths and heads
        raise ValueError("set per stage ([[model.stage]]); the hybrid table holds none")
    if knob == "layers":
        if m.layers < 2:
            raise ValueError("one layer")
        update, key, value = {"layers": m.layers // 2}, "model.layers", m.layers
        for listed in ("kernel", "dilations", "strides", "channels"):  # per-layer lists
            v = getattr(m, listed)
            if isinstance(v, list):
                update[listed] = v[: m.layers // 2]
    elif knob == "heads":
        if not fam.attention or not m.heads or m.heads < 2:
            raise ValueError("no attention heads to halve")
        update, key, value = {"heads": m.heads // 2}, "model.heads", m.heads
        if m.kv_heads:
            update["kv_heads"] = max(1, min(m.kv_heads, m.heads // 2))
    elif knob == "width":
        if fam.recurrent:
            width = m.hidden or m.d_model
            update, key, value = {"hidden": width // 2}, "model.hidden", width
        else:
            width = m.d_model
            update, key, value = {"d_model": width // 2}, "model.d_model", width
            if m.d_ff is not None:
                update["d_ff"] = max(1, m.d_ff // 2)
            if m.heads and m.heads % 2 == 0:  # keep the head dimension
                update["heads"] = m.heads // 2
                if m.kv_heads:
                    update["kv_heads"] = max(1, min(m.kv_heads, m.heads // 2))
        if width < 2:
            raise ValueError("width is 1")
    else:
        raise ValueError(f"unknown knob {knob!r}")
    changed = spec.model_copy(update={"model": m.model_copy(update=update)})
    problems = list(family_of(changed).dimension_problems(changed))
    if problems:
        raise ValueError(str(problems[0]))
    return changed, n, batch, key, value, update[key.split(".")[1]]


KNOBS = ("n", "batch", "heads", "width", "layers")


def sensitivities(
    spec: Spec, n: int, batch: int, target: Target, with_latency: bool = True
) -> list[Sensitivity]:
    """One row per knob that can be halved here, largest saving first."""
    from .latency import latency_from_spec
    from .peak import train_memory

    base = train_memory(spec, n, batch, target=target).total
    lat = latency_from_spec(spec) if with_latency else None
    rows = []
    for knob in KNOBS:
        try:
            changed, n2, b2, key, value, halved = _halved(spec, knob, n, batch)
        except ValueError:
            continue
        peak = train_memory(changed, n2, b2, target=target).total
        lat2 = None
        if lat is not None:
            infer = changed
            if knob == "n":  # latency is of one [infer] call: halve its sequence too
                i = spec.infer
                seq = i.seq_len or spec.infer_n
                infer = spec.model_copy(
                    update={"infer": i.model_copy(update={"seq_len": max(1, seq // 2)})}
                )
            elif knob == "batch":
                i = spec.infer
                infer = spec.model_copy(
                    update={"infer": i.model_copy(update={"batch": max(1, i.batch // 2)})}
                )
            got = latency_from_spec(infer)
            lat2 = None if got is None else got.seconds
        rows.append(
            Sensitivity(
                knob,
                key,
                value,
                halved,
                base,
                peak,
                None if lat is None else lat.seconds,
                lat2,
            )
        )
    return sorted(rows, key=lambda r: -r.saved)
