"""`archcheck advise SPEC --baseline`: light baselines for the same task, with their cost next
to the model's.

The article: "first verify with a light baseline that the data is learnable, then upgrade the
architecture". For the spec's task (input, vocabulary, n, span, batch, dtype, device) we write two
small specs the tool can estimate and probe with its reference modules (families/reference/):

- a causal or centred TCN: kernel 3, dilations doubling, just enough layers that its reach covers
  the span (reach per direction (k−1)·Σ dilations: `path.layers_needed`), width min(d_model, 256);
- a 2-layer LSTM of width min(d_model, 256) with truncated BPTT no shorter than the span.

Each is estimated with the same formulas as the model (params, training peak at the spec's batch
and n, latency on its device) and its reach is compared with the span, so the table answers
"how much cheaper, and does it still see far enough". Pure Python: no torch, no user code.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .estimate import Estimate
    from .spec.model import Spec

WIDTH = 256  # a light baseline: no wider than this (or the model, if narrower)
KERNEL = 3


@dataclass(frozen=True)
class Candidate:
    """A model (the spec's own, or a baseline) and what it costs."""

    name: str
    family: str
    toml: str  # the spec written for it ("" for the user's own model)
    params: int
    peak: int
    latency_ms: float | None
    reach: int | None  # None: unlimited
    covers: bool | None
    path_length: int | None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "toml"}


def _tcn_layers(span: int, causal: bool) -> int:
    """Layers of kernel-3 dilations 1, 2, 4, ... whose reach covers `span` (either direction:
    a causal stack reaches (k−1)·(2^L − 1) back, a centred one half that each way)."""
    per_layer = KERNEL - 1 if causal else (KERNEL - 1) // 2
    layers, reach = 0, 0
    while reach < span:
        reach += per_layer * 2**layers
        layers += 1
    return max(layers, 1)


def _bytes(value: int) -> str | int:
    """ "24 GiB" when that is exact, else the byte count."""
    from .units import format_bytes, parse_bytes

    shown = format_bytes(value)
    return shown if parse_bytes(shown) == value else value


def _toml(lines: dict[str, dict[str, Any]], header: str) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    out = [header]
    for table, keys in lines.items():
        kept = {k: v for k, v in keys.items() if v is not None}
        if kept:
            out.append(f"\n[{table}]")
            out += [f"{k} = {value(v)}" for k, v in kept.items()]
    return "\n".join(out) + "\n"


def baseline_specs(spec: Spec) -> list[tuple[str, str]]:
    """(name, TOML text) of the baselines for the spec's task."""
    from .families import family_of

    m, t, b = spec.model, spec.train, spec.budget
    fam = family_of(spec)
    causal = fam.is_causal(spec)
    span = b.span or spec.budget_n
    width = min(m.d_model, WIDTH)
    n = spec.train_n
    common_model = {
        "input": m.input if m.input != "tokens" else None,
        "vocab": m.vocab if m.input == "tokens" else None,
        "d_model": width,
    }
    common_train = {"batch": t.batch, "seq_len": n, "dtype": t.dtype, "optimizer": t.optimizer}
    budget = {
        "device": b.device,
        "max_n": b.max_n,
        "span": b.span,
        "memory": None if b.memory is None else _bytes(int(b.memory)),
        "p95_latency": None if b.p95_latency is None else f"{b.p95_latency * 1e3:g} ms",
    }
    layers = _tcn_layers(span, causal)
    head = (
        f"# A light baseline for {spec.name} (archcheck advise --baseline): the same task,\n"
        f"# span {span}, n {n}; estimate, probe and check it like any spec."
    )
    tcn = _toml(
        {
            "model": {
                "name": f"{spec.name}-tcn-baseline",
                "family": "tcn" if causal else "cnn",
                **common_model,
                "layers": layers,
                "kernel": KERNEL,
                "dilations": [2**i for i in range(layers)],
                "channels": width,
                "padding": "causal" if causal else "same",
            },
            "train": common_train,
            "budget": budget,
        },
        head,
    )
    lstm = _toml(
        {
            "model": {
                "name": f"{spec.name}-lstm-baseline",
                "family": "lstm",
                **common_model,
                "hidden": width,
                "layers": 2,
                "bidirectional": None if causal else True,
            },
            "train": {**common_train, "bptt": max(span, 1) if causal else None},
            "budget": budget,
        },
        head,
    )
    return [(f"{spec.name}-tcn-baseline", tcn), (f"{spec.name}-lstm-baseline", lstm)]


def _candidate(name: str, e: Estimate, toml: str) -> Candidate:
    p = e.path_info
    return Candidate(
        name=name,
        family=e.family,
        toml=toml,
        params=e.params,
        peak=e.memory.total,
        latency_ms=None if e.latency is None else e.latency.seconds * 1e3,
        reach=p.reach,
        covers=p.covered,
        path_length=p.path_length,
    )


def compare(spec: Spec, path: str | None = None) -> list[Candidate]:
    """The spec's model first, then each baseline, estimated at the spec's batch and n."""
    from .estimate import estimate
    from .spec.model import Spec as SpecModel

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    own = estimate(spec, path=path)
    out = [_candidate(spec.name, own, "")]
    for name, text in baseline_specs(spec):
        # validated with the project's own devices, as the user's spec was
        base = SpecModel.model_validate(
            tomllib.loads(text), context={"devices": spec.project_devices}
        )
        out.append(_candidate(name, estimate(base, n=own.n, batch=own.batch), text))
    return out


def write(candidates: list[Candidate], folder: Path, force: bool = False) -> list[Path]:
    """Write each baseline's spec into `folder`; an existing file is kept unless `force`."""
    written = []
    for c in candidates[1:]:
        target = folder / f"{c.name}.archcheck.toml"
        if target.exists() and not force:
            raise FileExistsError(f"{target} exists (use --force to overwrite)")
        target.write_text(c.toml, encoding="utf-8")
        written.append(target)
    return written
