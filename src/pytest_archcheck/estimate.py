"""`archcheck estimate`: every formula applied to one spec, as terms (DESIGN.md §5 JSON).

Each printed row is a `Term`: its value, the registered formula that produced it (a name in
docs/formulas.md) and that formula's inputs. The rows under the training peak are the peak's
composition at the phase where it falls and add up to it exactly; the text table and the JSON
`terms` list are rendered from the same terms. This file only wires the family unit
(families/*.py) and the target (runtime/) into `formulas/`. Pure Python: no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .families._base import NotModelled
from .formulas.peak import Term, TrainMemory
from .spec.model import Spec
from .units import format_bytes, format_count, format_seconds

if TYPE_CHECKING:
    from .families import Family
    from .formulas.sensitivity import Sensitivity
    from .runtime import Target


@dataclass(frozen=True)
class PathInfo:
    span: int | None
    reach: int | None  # positions per direction; None = unlimited
    path_length: int | None  # fewest layers (or steps) on a path of length span; None = no path
    covered: bool | None  # None when no span is declared
    sequential_steps: int
    receptive_field: int | None  # None = unlimited
    layers_needed: int | None = None
    gradient_horizon: int | None = None  # truncated BPTT
    directions: str = "both"  # "past" for causal models: reach counts positions before t


@dataclass(frozen=True)
class LatencyEstimate:
    seconds: float
    sequential_steps: int
    device: str
    label: str = "estimate"
    ops: int = 0  # eager ops of an op-by-op estimate (a calibrated host); 0: the roofline


class Estimate:
    """Every formula for one spec at (batch, n), each computed on first use.

    Rules read only what they need (the linter runs on thousands of files per second), while
    `to_json`, `terms` and `render_text` compute everything.
    """

    def __init__(
        self,
        spec: Spec,
        n: int | None = None,
        batch: int | None = None,
        path: str | None = None,
        target: str | None = None,
    ) -> None:
        from .families import family_of
        from .runtime import target_for

        self.spec = spec
        self.name = spec.name
        self.path = path
        self.family = spec.model.family
        self.unit: Family = family_of(spec)
        self.n = n or self.unit.train_n(spec)
        self.batch = batch or spec.train.batch
        self.target: Target = target_for(spec, target)

    @cached_property
    def params(self) -> int:
        from .formulas.params import params_from_spec

        return params_from_spec(self.spec)

    @cached_property
    def params_active(self) -> int | None:
        """Parameters per token when fewer than all run (mixture of experts), else None."""
        return self.unit.active_params(self.spec)

    @cached_property
    def refused(self) -> dict[str, NotModelled]:
        """Figures the formulas do not model for this spec ("memory", "kv_cache"): printed as
        refusals, never as numbers (Family.not_modelled)."""
        return self.unit.not_modelled_on(self.spec, self.target)

    @cached_property
    def memory(self) -> TrainMemory:
        """Raises NotModelled when the family does not model the training peak (`refused`)."""
        if "memory" in self.refused:
            raise self.refused["memory"]
        return train_memory(self.spec, self.n, self.batch, self.target)

    @cached_property
    def kv_cache(self) -> int | None:
        return None if "kv_cache" in self.refused else self.unit.kv_cache(self.spec)

    @cached_property
    def infer_weights(self) -> int:
        from .formulas.states import inference_weight_bytes_from_spec

        return inference_weight_bytes_from_spec(self.spec, self.params)

    @cached_property
    def infer_memory(self) -> int | None:
        """Weights plus KV cache at the [infer] shape (None: the KV cache is not modelled)."""
        from .formulas.kvcache import inference_bytes

        if "kv_cache" in self.refused:
            return None
        return inference_bytes(self.infer_weights, self.kv_cache)

    @cached_property
    def flops(self) -> tuple[int, int]:
        f = self.unit.flops(self.spec, self.n, self.batch)
        return f.forward, f.train_step

    @property
    def flops_forward(self) -> int:
        return self.flops[0]

    @property
    def flops_train_step(self) -> int:
        return self.flops[1]

    @cached_property
    def path_info(self) -> PathInfo:
        spec = self.spec
        p = self.unit.path(spec, spec.budget.span, self.n)
        need = None
        if p.covered is False and spec.budget.span is not None:
            need = self.unit.layers_needed(spec, spec.budget.span)
        return PathInfo(
            span=p.span,
            reach=p.reach,
            path_length=p.path_length,
            covered=p.covered,
            sequential_steps=p.sequential_steps,
            receptive_field=p.receptive_field,
            layers_needed=need,
            gradient_horizon=p.gradient_horizon,
            directions=p.directions,
        )

    @cached_property
    def n_max(self) -> int | None:
        budget = self.spec.budget.memory
        if "memory" in self.refused:
            return None
        # the peak at this estimate's n is a point of the same monotone curve: it seeds the
        # search (ARC102 and the report have computed it already)
        seed = None if budget is None else (self.n, self.memory.total)
        return n_max_for(self.spec, self.batch, self.target, seed=seed)

    @cached_property
    def secondary(self) -> dict[str, int] | None:
        """The article's rules of thumb for this family, printed beside the exact figures."""
        return self.unit.rules_of_thumb(self.spec, self.batch)

    @cached_property
    def latency(self) -> LatencyEstimate | None:
        from .formulas.latency import latency_from_spec

        lat = latency_from_spec(self.spec)
        return (
            None
            if lat is None
            else LatencyEstimate(lat.seconds, lat.sequential_steps, lat.device, ops=lat.ops)
        )

    @cached_property
    def sensitivity(self) -> list[Sensitivity]:
        """The peak (and latency) with each knob halved, largest saving first."""
        from .formulas.sensitivity import sensitivities

        if "memory" in self.refused:
            return []
        return sensitivities(self.spec, self.n, self.batch, self.target)

    @cached_property
    def run(self) -> dict[str, Any] | None:
        """The model's training log (runlog/) against the estimate at the run's batch and n;
        None without a log, {"error": ...} when it cannot be read."""
        from .runlog import RunLogError, find_run_log, read_run_log
        from .runtime import target_for

        if self.path is None or "memory" in self.refused:
            return None
        found = find_run_log(self.path, self.spec.name, self.spec.data.run_log)
        if found is None:
            return None
        try:
            log = read_run_log(found)
        except RunLogError as exc:
            return {"error": str(exc)}
        est = train_memory(self.spec, log.peak_n, log.peak_batch, target_for(self.spec, log.device))
        return {
            **log.to_json(),
            "estimate_bytes": est.total,
            "delta": est.total / log.peak_bytes - 1,
        }

    def terms(self) -> list[Term]:
        """Every printed figure, in order, with the formula behind it (peak rows sum to total)."""
        spec, fam = self.spec, self.unit
        f = {k: fam.formula_for(k) for k in ("flops", "latency", "reach", "receptive_field",
                                              "path_length", "sequential_steps")}  # fmt: skip
        shape = {"family": fam.name, "n": self.n, "batch": self.batch}
        out = [
            Term(
                "parameters", "parameters", self.params, "params.from_shapes", {"family": fam.name}
            ),
            *(
                []
                if self.params_active is None
                else [
                    Term(
                        "parameters.active",
                        "parameters active per token",
                        self.params_active,
                        "params.active",
                        {"experts": spec.model.experts, "k": spec.model.experts_per_token},
                    )
                ]
            ),
        ]
        if "memory" in self.refused:
            out.append(_refused_term("memory.total", "training peak", self.refused["memory"]))
        else:
            m = self.memory
            out.append(
                Term(
                    "memory.total",
                    f"training peak ({m.phase} phase, target {m.target})",
                    m.total,
                    "memory.training_peak",
                    m.inputs,
                )
            )
            # the peak's composition: every part alive at that phase (zeros omitted; they sum)
            out += [
                t for t in m.terms() if t.value or t.key in ("memory.params", "memory.activations")
            ]
        if self.n_max is not None:
            out.append(
                Term(
                    "n_max",
                    "n_max (fits memory)",
                    self.n_max,
                    "limits.n_max",
                    {"memory": spec.budget.memory, "granularity": spec.budget.granularity},
                )
            )
        if self.kv_cache is not None:
            out.append(Term("kv_cache", "KV cache [infer]", self.kv_cache, "kvcache.kv_cache"))
        if self.infer_memory is None:
            out.append(_refused_term("kv_cache", "KV cache", self.refused["kv_cache"]))
        else:
            out.append(
                Term(
                    "infer_memory",
                    "inference memory",
                    self.infer_memory,
                    "memory.inference",
                    {"weights": self.infer_weights, "kv_cache": self.kv_cache},
                )
            )
        out += [
            Term("flops.forward", "forward FLOPs", self.flops_forward, f["flops"], shape),
            Term("flops.train_step", "train-step FLOPs", self.flops_train_step, f["flops"], shape),
        ]
        p = self.path_info
        dep = {"family": fam.name, "span": p.span}
        out += [
            Term("dependency.reach", "reach per direction", p.reach, f["reach"], dep),  # type: ignore[arg-type]
            Term(
                "dependency.receptive_field",
                "receptive field",
                p.receptive_field,  # type: ignore[arg-type]
                f["receptive_field"],
                dep,
            ),
            Term(
                "dependency.sequential_steps",
                "sequential steps",
                p.sequential_steps,
                f["sequential_steps"],
                dep,
            ),
        ]
        if p.span is not None:
            out.append(
                Term(
                    "dependency.path_length",
                    f"path length for span {p.span:,}",
                    p.path_length,  # type: ignore[arg-type]
                    f["path_length"],
                    dep,
                )
            )
        names = {
            "sqrt_rule_n_max": ("article's attention-only n_max", "limits.sqrt_rule"),
            "attention_dominates_above_n": (
                "attention outweighs FFN above n",
                "limits.attention_dominates",
            ),
        }
        for key, value in (self.secondary or {}).items():
            label, name = names[key]
            out.append(Term(f"rules_of_thumb.{key}", label, value, name))
        if self.latency is not None:
            out.append(
                Term(
                    "latency",
                    f"latency on {self.latency.device} (estimate)",
                    self.latency.seconds * 1e3,  # type: ignore[arg-type]
                    f["latency"],
                    {"device": self.latency.device},
                )
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "family": self.family,
            "unit": self.unit.name,
            "target": self.target.to_json(),
            "n": self.n,
            "batch": self.batch,
            "params": self.params,
            "params_active": self.params_active,
            "memory": None if "memory" in self.refused else self.memory.to_json(),
            "kv_cache": self.kv_cache,
            "infer_memory": self.infer_memory,
            "flops": {"forward": self.flops_forward, "train_step": self.flops_train_step},
            "dependency": asdict(self.path_info),
            "n_max": self.n_max,
            "rules_of_thumb": self.secondary,
            "latency": None
            if self.latency is None
            else {
                "estimate_ms": self.latency.seconds * 1e3,
                "sequential_steps": self.latency.sequential_steps,
                "device": self.latency.device,
                "label": self.latency.label,
            },
            "terms": [t.to_json() for t in self.terms()],
            "sensitivity": [s.to_json() for s in self.sensitivity],
            "run": self.run,
            "not_modelled": {
                figure: {"message": str(exc), "key": ".".join(exc.key), "fix": exc.fix}
                for figure, exc in self.refused.items()
            },
        }


def _refused_term(key: str, label: str, exc: NotModelled) -> Term:
    """A figure the formulas do not model: no value, the refusal as its formula column."""
    return Term(
        key,
        f"{label}: not modelled",
        None,  # type: ignore[arg-type]
        "not modelled",
        {"why": str(exc), "fix": exc.fix},
    )


def train_memory(spec: Spec, n: int, batch: int, target: Target | None = None) -> TrainMemory:
    """Training-step peak per device at (batch, n): see formulas/peak.py."""
    from .formulas.peak import train_memory as peak

    return peak(spec, n, batch, target=target)


def n_max_for(
    spec: Spec, batch: int, target: Target | None = None, seed: tuple[int, int] | None = None
) -> int | None:
    """Largest n (multiple of budget.granularity) whose training peak fits budget.memory.
    seed: (n, training peak at n) on the same target and batch, when already computed."""
    from .formulas.limits import n_max

    budget = spec.budget.memory
    if budget is None:
        return None
    return n_max(
        lambda n: train_memory(spec, n, batch, target).total,
        budget,
        spec.budget.granularity,
        seed=seed,
    )


def estimate(
    spec: Spec,
    n: int | None = None,
    batch: int | None = None,
    path: str | None = None,
    target: str | None = None,
) -> Estimate:
    """All formulas for one spec at sequence length n (default: the family's training n)."""
    return Estimate(spec, n=n, batch=batch, path=path, target=target)


def _format(t: Term) -> str:
    if t.value is None:
        return "unlimited" if t.key.startswith("dependency.") else "n/a"
    if t.key.startswith(("parameters", "flops.")):
        return format_count(t.value) + (f" ({t.value:,})" if t.key.startswith("par") else "")
    if t.key == "latency":
        return format_seconds(t.value / 1e3)
    if t.key.startswith(("dependency.", "n_max", "rules_of_thumb.")):
        return f"{t.value:,}"
    return format_bytes(t.value)


def render_text(e: Estimate) -> None:
    """Rich table of one estimate, one row per term."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .report.formats import clean

    # nothing printed here is markup: a model named "[/bold]" is a name, "KV cache [infer]"
    # names the table the figure is for (a Console with markup on printed "KV cache")
    title = f"{e.name} ({e.family}) at batch {e.batch} × n {e.n}, target {e.target.label}"
    t = Table(title=Text(clean(title)), show_header=True)
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("formula", style="dim")
    for term in e.terms():
        part = term.key.startswith("memory.") and term.key != "memory.total"
        label = f"  {term.label}" if part else term.label
        t.add_row(label, _format(term), term.formula)
    Console(markup=False).print(t)
    for figure, exc in e.refused.items():
        Console(markup=False).print(f"{figure}: {exc}; {exc.fix}", highlight=False)
    run = e.run
    if run is not None and "error" in run:
        Console(markup=False).print(f"run log: {run['error']}", markup=False, highlight=False)
    elif run is not None:
        Console(markup=False).print(
            f"run log {run['path']}: estimate {format_bytes(run['estimate_bytes'])} at batch "
            f"{run['peak_batch']} × n {run['peak_n']} ({run['device']}), run peaked "
            f"{format_bytes(run['peak_bytes'])}, {run['delta']:+.1%}"
            + (f"; P90 n {run['p90_n']:,}" if run.get("p90_n") else "")
            + (f"; {run['tokens_per_s']:,.0f} tokens/s" if run.get("tokens_per_s") else ""),
            markup=False,
            highlight=False,
        )
    if e.sensitivity:
        Console(markup=False).print(_sensitivity_table(e))


def _sensitivity_table(e: Estimate) -> Any:
    """What halving each knob buys: the peak, the saving, the elasticity (and the latency)."""
    from rich.table import Table

    latency = any(s.latency_s is not None for s in e.sensitivity)
    t = Table(title="halve one knob (sensitivity.elasticity: peak ∝ knob^e)")
    for name in ("knob", "halved", "peak", "saved", "e"):
        t.add_column(name, justify="left" if name == "knob" else "right")
    if latency:
        t.add_column("latency", justify="right")
    for s in e.sensitivity:
        row = [
            s.key,
            f"{s.value:,} -> {s.halved:,}",
            format_bytes(s.peak_halved),
            format_bytes(s.saved),
            f"{s.elasticity:.2f}",
        ]
        if latency:
            row.append(
                "n/a"
                if s.latency_halved_s is None or s.latency_s is None
                else f"{format_seconds(s.latency_s)} -> {format_seconds(s.latency_halved_s)}"
            )
        t.add_row(*row)
    return t
